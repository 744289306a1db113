//! Issue 11: a drain is not silent. It logs "N calls left, T s to go" when it starts and every
//! few seconds after, and a second SIGTERM/Ctrl-C sends the BYEs at once.
//!
//! drain_s is an hour, so the second progress line (T below 3600) can only come from the
//! periodic report; the test waits for it, it does not time it.

mod runtime_support;

use runtime_support::call::{Endpoint, answer_byes, establish};
use runtime_support::{Handoff, WAIT, setup};

#[test]
fn drain_logs_progress_until_the_second_signal() {
    let s = setup("epoll", 29600, 1, 3600);
    let mut handoff = Handoff::start(&s.config_path);
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let call = establish(s.sip, &carrier, &platform, "progress");
    handoff.signal("TERM");
    handoff.wait_for_log("drain: 1 call left, 3600 s to go", WAIT);
    // A later report: fewer seconds to go, the call still up.
    handoff.wait_for_log("drain: 1 call left, 359", WAIT);
    handoff.signal("TERM");
    handoff.wait_for_log("second stop request: sending BYE to every call now", WAIT);
    let bye = answer_byes(&carrier.ua, WAIT);
    assert_eq!(bye.header("call-id"), Some(call.call_id.as_str()));
    answer_byes(&platform.ua, WAIT);
    let status = handoff.wait_exit(WAIT).expect("exits");
    assert!(status.success(), "{status}");
}
