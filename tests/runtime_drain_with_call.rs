//! SIGTERM with a call up: new INVITEs get 503, the established call keeps relaying until the
//! drain deadline, then both legs get BYE and the process exits 0. Both backends.
//!
//! The checks during the drain (503s, media) must finish before drain_s runs out; drain_s is
//! long enough for that on a loaded machine, and the test waits for the BYEs however long the
//! rest took. The only clock assertion is a lower bound (no BYE before the deadline): a loaded
//! machine makes things late, never early.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, answer_byes, establish, exchange_rtp};
use runtime_support::ua::{request, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

const DRAIN_S: u64 = 10;

#[test]
fn drain_refuses_new_calls_then_byes_the_rest_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11800 + i as u16 * 100, 2, DRAIN_S);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("drain-{io}"));

        let signalled = Instant::now();
        handoff.signal("TERM");
        // Each shard gets the drain by message; wait until both have it.
        handoff.wait_for_log("draining shard=0", WAIT);
        handoff.wait_for_log("draining shard=1", WAIT);

        // New INVITEs are refused with 503 (several Call-IDs, so both shards are asked). All
        // are sent at once: on a loaded machine, one round trip after another could run past
        // the drain deadline.
        let call_ids: Vec<String> = (0..4).map(|n| format!("late-{io}-{n}")).collect();
        for cid in &call_ids {
            carrier.ua.send(
                s.sip,
                &request(
                    "INVITE",
                    carrier.ua.addr(),
                    s.sip,
                    "+15550002222",
                    cid,
                    "lt",
                    1,
                    &sdp(carrier.rtp_port()),
                ),
            );
        }
        let mut refused = std::collections::BTreeSet::new();
        while refused.len() < call_ids.len() {
            let (resp, _) = carrier
                .ua
                .expect("final response to a late INVITE", WAIT, |m| {
                    m.header("call-id")
                        .is_some_and(|c| call_ids.iter().any(|id| id == c))
                        && m.status().is_some_and(|c| c >= 200)
                });
            assert_eq!(resp.status(), Some(503), "{io}: {}", resp.raw);
            refused.insert(resp.header("call-id").unwrap().to_owned());
        }
        // The established call still relays.
        exchange_rtp(&call, &carrier, &platform, 0, 3);

        // At the deadline, handoff hangs up both legs itself.
        let bye_a = answer_byes(&carrier.ua, Duration::from_secs(DRAIN_S) + WAIT);
        assert_eq!(bye_a.header("call-id"), Some(call.call_id.as_str()));
        let bye_b = answer_byes(&platform.ua, WAIT);
        assert_eq!(bye_b.header("call-id"), Some(call.b_call_id.as_str()));
        assert!(
            signalled.elapsed() >= Duration::from_secs(DRAIN_S) - Duration::from_millis(500),
            "{io}: BYE before the drain deadline ({:?} after SIGTERM)",
            signalled.elapsed()
        );

        let status = handoff
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("{io}: not stopped after the drain"));
        assert!(status.success(), "{io}: {status}");
    }
}
