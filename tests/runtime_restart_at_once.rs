//! A supervisor (systemd's `Restart=`, a deploy script) stops handoff and starts it again at
//! once. The new process must bind its SIP and media ports on the first try: 20 stop/start
//! cycles in a row on each backend, each new process started the moment the old one exited.
//!
//! On io_uring this used to fail every other time with "already in use" for up to a second:
//! the kernel tears a ring down later, in a worker that still held the armed receives' file
//! references. The backend now cancels its requests and drops its file table itself before
//! exiting (`Drop for UringBackend`). How long a cycle takes is measured, not asserted
//! (perf/results/restart-*.md); here only "the port is free" is.

mod runtime_support;

use runtime_support::{Handoff, WAIT, setup};

fn restarts_at_once(io: &str, media: u16) {
    let s = setup(io, media, 2, 30);
    for cycle in 1..=20 {
        // `start` panics with the log if the process exits before serving (a busy port).
        let mut handoff = Handoff::start(&s.config_path);
        handoff.signal("TERM");
        let status = handoff
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("cycle {cycle}: no exit after SIGTERM"));
        assert!(
            status.success(),
            "cycle {cycle}: exit {status}:\n{}",
            handoff.log.join("\n")
        );
        assert_eq!(
            handoff.count_log("in use"),
            0,
            "cycle {cycle}:\n{}",
            handoff.log.join("\n")
        );
    }
}

#[test]
fn uring_restarts_twenty_times_at_once() {
    restarts_at_once("uring", 11800);
}

#[test]
fn epoll_restarts_twenty_times_at_once() {
    restarts_at_once("epoll", 11900);
}
