//! A second SIGTERM during a drain does not wait for drain_s: both legs of the call get BYE at
//! once and the process exits. Both backends.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, answer_byes, establish};
use runtime_support::{BACKENDS, Handoff, setup};

#[test]
fn second_sigterm_hangs_up_at_once_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 10200 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("twice-{io}"));
        handoff.signal("TERM");
        handoff.wait_for_log("draining", Duration::from_secs(5));
        let second = Instant::now();
        handoff.signal("TERM");
        let bye_a = answer_byes(&carrier.ua, Duration::from_secs(3));
        assert_eq!(bye_a.header("call-id"), Some(call.call_id.as_str()));
        answer_byes(&platform.ua, Duration::from_secs(3));
        assert!(
            second.elapsed() < Duration::from_secs(5),
            "drain_s = 30 was not waited for"
        );
        let status = handoff.wait_exit(Duration::from_secs(8)).expect("exits");
        assert!(status.success(), "{io}: {status}");
    }
}
