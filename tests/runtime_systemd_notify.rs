//! Issue 11, systemd: under `Type=notify` handoff tells the service manager READY=1 once it
//! serves (with a STATUS line), pings WATCHDOG=1 when the unit sets WatchdogSec, says
//! RELOADING=1 (with MONOTONIC_USEC, which systemd 253+ requires) and READY=1 again around a
//! SIGHUP reload, and STOPPING=1 when SIGTERM starts the drain. The test plays systemd: it owns
//! the NOTIFY_SOCKET datagram socket and reads what arrives, in order; nothing is timed.

mod runtime_support;

use std::os::unix::net::UnixDatagram;
use std::time::Instant;

use runtime_support::{Handoff, WAIT, setup};

/// Reads notifications until one has a line starting with `want`; returns every line read.
fn until(socket: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            Instant::now() < deadline,
            "no {want} from handoff; got {seen:?}"
        );
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = text.lines().any(|l| l.starts_with(want));
        seen.extend(text.lines().map(str::to_owned));
        if found {
            return;
        }
    }
}

#[test]
fn ready_watchdog_reloading_and_stopping_reach_the_service_manager() {
    let s = setup("epoll", 33400, 1, 1);
    let path = s.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut handoff = Handoff::start_with_env(
        &s.config_path,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            // 1 s: handoff pings every 0.5 s.
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut seen = Vec::new();
    until(&socket, "READY=1", &mut seen);
    assert!(
        seen.iter().any(|l| l.starts_with("STATUS=serving on ")),
        "{seen:?}"
    );
    until(&socket, "WATCHDOG=1", &mut seen);

    seen.clear();
    handoff.signal("HUP");
    until(&socket, "RELOADING=1", &mut seen);
    until(&socket, "READY=1", &mut seen);
    assert!(
        seen.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{seen:?}"
    );

    handoff.signal("TERM");
    until(&socket, "STOPPING=1", &mut seen);
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}
