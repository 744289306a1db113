//! `GET /calls` lists the calls as they are when it is asked, on both backends: a shard walks
//! its calls only on request (the walk grows with the calls and showed in the relay's latency
//! tail when it ran every 200 ms), so the list answers for the moment of the request, not for
//! the last periodic snapshot. Checked against the shards' live call counters, which are
//! always current: once `/status` counts a call, a single `GET /calls` lists it, and once the
//! count is back to 0, a single `GET /calls` is empty.

mod admin_support;
mod runtime_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, hang_up_from_carrier};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

const ADMIN_PORT: u16 = 29500;

fn get(admin: SocketAddr, path: &str) -> serde_json::Value {
    let reply = admin_support::request(admin, "GET", path, None, None, WAIT);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    serde_json::from_str(&reply.body).expect("JSON")
}

/// Waits until `/status` counts `n` active calls (the shards' atomic counters).
fn wait_active(admin: SocketAddr, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = get(admin, "/status");
        if status["calls_active"] == n {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} active: {status}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn calls_are_listed_as_of_the_request_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 29000 + i as u16 * 200, 2, 30);
        let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + i as u16));
        admin_support::with_admin(&s.config_path, admin, "");
        let mut handoff = Handoff::start(&s.config_path);
        handoff.wait_for_log("admin API listening", WAIT);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");

        for round in 0..3 {
            let mut call = establish(s.sip, &carrier, &platform, &format!("listed-{io}-{round}"));
            wait_active(admin, 1);
            let calls = get(admin, "/calls");
            assert_eq!(
                calls.as_array().map(Vec::len),
                Some(1),
                "{io} round {round}: /status counts the call, /calls must list it: {calls}"
            );
            hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
            wait_active(admin, 0);
            let calls = get(admin, "/calls");
            assert_eq!(
                calls,
                serde_json::json!([]),
                "{io} round {round}: the call ended, /calls must not list it"
            );
        }

        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|s| s.success()),
            "{io}: handoff did not stop cleanly"
        );
    }
}
