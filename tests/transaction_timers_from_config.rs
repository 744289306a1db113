//! T1, T2 and T4 come from the config: every timer scales with them (D stays 32 s over UDP).
mod transaction_support;

use handoff::config::SipTimers;
use handoff::core::transaction::{ClientAction, ServerAction, TimerName};
use handoff::sip::Method;
use handoff::vocab::StatusCode;
use transaction_support::*;

fn driver() -> Driver {
    Driver::with_timers(SipTimers {
        t1_ms: 100,
        t2_ms: 300,
        t4_ms: 700,
    })
}

#[test]
fn client_timers_follow_t1_t2_t4() {
    let mut d = driver();
    let branch = "z9hG4bK-hf0000-00000000000000e1";
    d.layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Message,
            branch,
            our_request("MESSAGE", branch, "e1@handoff", 1),
        )
        .unwrap();
    d.drain();
    d.advance_to_ms(10_000);
    // E: 100, 200, then capped at T2 = 300; F at 64*T1 = 6.4 s.
    let expected: Vec<u64> = [0, 100, 300]
        .into_iter()
        .chain((1..=20).map(|k| 300 + k * 300))
        .collect();
    assert_eq!(d.send_times("MESSAGE"), expected);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(
        (d.timeouts[0].0.as_millis(), d.timeouts[0].1.timer),
        (6_400, TimerName::F)
    );

    let branch = "z9hG4bK-hf0000-00000000000000e2";
    let start = d.now.as_millis();
    let tx = d
        .layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Bye,
            branch,
            our_request("BYE", branch, "e2@handoff", 2),
        )
        .unwrap();
    d.drain();
    let ok = response_to_ours(200, "OK", branch, "e2@handoff", Some("t"), 2, "BYE");
    assert_eq!(
        d.response(PLATFORM, &ok),
        ClientAction::Final {
            tx,
            status: StatusCode::OK
        }
    );
    d.advance_to_ms(start + 699);
    assert_eq!(d.layer.live_count(), 1);
    d.advance_to_ms(start + 700);
    assert_eq!(d.layer.live_count(), 0, "Timer K = T4");
}

#[test]
fn server_timers_follow_t1_t2_t4() {
    let mut d = driver();
    let branch = "z9hG4bKcfg";
    let ServerAction::New(tx) = d.request(CARRIER, &invite(branch, "cfg@carrier", "ft", 1)) else {
        panic!("new")
    };
    let busy = format!(
        "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\nFrom: <sip:a@b>;tag=ft\r\n\
         To: <sip:c@d>;tag=x\r\nCall-ID: cfg@carrier\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    d.layer
        .respond(d.now, tx, StatusCode::BUSY_HERE, busy.into_bytes())
        .unwrap();
    d.drain();
    d.advance_to_ms(1_000);
    // G: 100, 200, then T2 = 300.
    assert_eq!(d.send_times("SIP/2.0 486"), vec![0, 100, 300, 600, 900]);
    let ack = request_with("ACK", branch, "cfg@carrier", "ft", Some("x"), 1, "ACK", 70);
    assert_eq!(d.request(CARRIER, &ack), ServerAction::Absorbed);
    d.advance_to_ms(1_699);
    assert_eq!(d.layer.live_count(), 1);
    d.advance_to_ms(1_700);
    assert_eq!(d.layer.live_count(), 0, "Timer I = T4");
}

#[test]
fn absurd_timer_values_are_clamped_instead_of_spinning_or_overflowing() {
    for timers in [
        SipTimers {
            t1_ms: 0,
            t2_ms: 0,
            t4_ms: 0,
        },
        SipTimers {
            t1_ms: u64::MAX,
            t2_ms: u64::MAX,
            t4_ms: u64::MAX,
        },
    ] {
        let mut d = Driver::with_timers(timers);
        let branch = "z9hG4bK-hf0000-00000000000000e3";
        d.layer
            .send_request(
                d.now,
                addr(PLATFORM),
                Method::Invite,
                branch,
                our_request("INVITE", branch, "e3@handoff", 1),
            )
            .unwrap();
        d.drain();
        let first_retransmit = d.layer.poll_timeout().expect("Timer A is armed");
        assert!(first_retransmit.as_millis() >= 1, "T1 at least 1 ms");
        d.advance_to_ms(1_000_000_000);
        assert_eq!(d.layer.live_count(), 0);
        assert_eq!(d.timeouts.len(), 1);
    }
}
