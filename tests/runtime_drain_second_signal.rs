//! A second SIGTERM during a drain does not wait for drain_s: both legs of the call get BYE at
//! once and the process exits. Both backends.
//!
//! drain_s is an hour, so "does not wait for drain_s" needs no stopwatch: the BYEs arriving at
//! all (within the helpers' generous deadline) proves it.

mod runtime_support;

use runtime_support::call::{Endpoint, answer_byes, establish};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

const DRAIN_S: u64 = 3600;

#[test]
fn second_sigterm_hangs_up_at_once_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 10200 + i as u16 * 100, 2, DRAIN_S);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("twice-{io}"));
        handoff.signal("TERM");
        handoff.wait_for_log("draining", WAIT);
        handoff.signal("TERM");
        let bye_a = answer_byes(&carrier.ua, WAIT);
        assert_eq!(bye_a.header("call-id"), Some(call.call_id.as_str()));
        answer_byes(&platform.ua, WAIT);
        let status = handoff.wait_exit(WAIT).expect("exits");
        assert!(status.success(), "{io}: {status}");
    }
}
