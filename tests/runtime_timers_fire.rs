//! The core's timers fire in the real runtime (the shard loop sleeps until `poll_timeout`): with a silent far end, handoff retransmits
//! the INVITE on leg B at T1, 2*T1, 4*T1... and answers the caller 408 after Timer B (64*T1).
//! T1 is set to 40 ms so Timer B fires after ~2.6 s. Both backends.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::Endpoint;
use runtime_support::ua::{request, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn retransmissions_and_timer_b_fire_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 9800 + i as u16 * 100, 2, 30);
        let text = std::fs::read_to_string(&s.config_path).unwrap();
        std::fs::write(
            &s.config_path,
            text.replace(
                "drain_s = 30\n",
                "drain_s = 30\n\n[sbc.timers]\nt1_ms = 40\nt2_ms = 4000\nt4_ms = 5000\n",
            ),
        )
        .unwrap();
        let _handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call_id = format!("silent-{io}");
        let sent = Instant::now();
        carrier.ua.send(
            s.sip,
            &request(
                "INVITE",
                carrier.ua.addr(),
                s.sip,
                "+15550003333",
                &call_id,
                "st",
                1,
                &sdp(carrier.rtp_port()),
            ),
        );
        // The platform never answers: count the INVITE copies handoff sends it.
        let mut arrivals = Vec::new();
        let (first, _) = platform
            .ua
            .expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
        arrivals.push(sent.elapsed());
        let b_call_id = first.header("call-id").unwrap().to_owned();
        while arrivals.len() < 4 {
            platform.ua.expect("retransmitted INVITE", WAIT, |m| {
                m.method() == Some("INVITE") && m.header("call-id") == Some(b_call_id.as_str())
            });
            arrivals.push(sent.elapsed());
        }
        // Retransmissions leave at T1, 3*T1, 7*T1 (intervals doubling from T1 = 40 ms), so the
        // third retransmission cannot be seen before 280 ms after the INVITE was sent (with a
        // constant interval it would come at 120 ms). Only a lower bound: a loaded machine
        // reads late, never early.
        assert!(
            arrivals[3] >= Duration::from_millis(270),
            "{io}: arrivals {arrivals:?}"
        );
        let (timeout, _) = carrier.ua.expect("408 after Timer B", WAIT, |m| {
            m.header("call-id") == Some(call_id.as_str()) && m.status().is_some_and(|c| c >= 300)
        });
        assert_eq!(timeout.status(), Some(408), "{io}: {}", timeout.raw);
        let elapsed = sent.elapsed();
        assert!(
            elapsed >= Duration::from_millis(2400),
            "{io}: Timer B is 64*T1 = 2.56 s, fired after {elapsed:?}"
        );
    }
}
