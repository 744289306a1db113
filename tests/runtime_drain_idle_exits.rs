//! SIGTERM with no call up: every shard drains at once and the process exits 0, on both
//! backends. In-process, `Server::drain` does the same.

mod runtime_support;

use std::time::Duration;

use handoff::config::Config;
use handoff::server::Server;
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn sigterm_on_an_idle_server_exits_cleanly_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 10600 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        handoff.signal("TERM");
        let status = handoff
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("{io}: still running 5 s after SIGTERM"));
        assert!(
            status.success(),
            "{io}: exit status {status}\n{}",
            handoff.log.join("\n")
        );
        assert!(
            handoff.log.iter().any(|l| l.contains("draining")),
            "{io}: no drain logged:\n{}",
            handoff.log.join("\n")
        );
    }
}

#[test]
fn in_process_drain_stops_every_shard() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 10800 + i as u16 * 100, 2, 30);
        let config = Config::load(&s.config_path).unwrap();
        let mut server = Server::start(config).unwrap();
        assert!(!server.all_stopped());
        server.drain();
        let deadline = std::time::Instant::now() + WAIT;
        while !server.all_stopped() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            server.all_stopped(),
            "{io}: shards still running after drain"
        );
        server.wait().unwrap();
    }
}
