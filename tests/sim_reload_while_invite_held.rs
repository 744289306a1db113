//! A new INVITE whose Target-Dialog names a dialog of another shard waits for that shard's answer
//! (attended transfers across shards). A reload inside that wait must not change whose INVITE it
//! is: the trunk it came from is the one of the configuration it arrived under. Before the fix the
//! held request kept only a trunk *index* and resumed against the new configuration: with the
//! trunks reordered the platform's INVITE was taken for the carrier's and routed back to the
//! platform; with fewer trunks the index was out of range and the shard panicked (every call of
//! the shard lost, no BYE, no audit record).

use std::sync::Arc;

use handoff::config::{Config, Route};
use handoff::core::{Event, ShardId, ShardMessage};
use handoff::sim::attended_flows::{self, NamedDialog, call_id_on_shard};
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, standard_config};

/// Two calls on shards 0 and 1, answers between shards lost (so a query waits its full timeout),
/// then the platform's new INVITE on shard 0 naming call 2's dialog (on shard 1).
fn platform_invite_held_on_shard_0(seed: u64) -> Sim {
    let mut sim = Sim::new(SimOptions::default().seed(seed).shards(2));
    let calls = attended_flows::two_calls(&mut sim, ShardId(0), ShardId(1)).expect("two calls");
    sim.drop_shard_message = Some(|m| matches!(m, ShardMessage::DialogAnswer { .. }));
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2).clone();
    let named = NamedDialog::target_dialog(
        &b2.call_id,
        b2.remote_tag.as_deref().expect("call 2 answered"),
        &b2.local_tag,
        &[],
    )
    .render();
    sim.ua(PLATFORM).next_call_id = Some(call_id_on_shard("held", ShardId(0), 2));
    sim.ua(PLATFORM).invite_with(
        "+15557654321",
        Some(offer_sdp("10.0.0.2", 5100)),
        &[("Target-Dialog", &named)],
    );
    // The INVITE reaches shard 0, which asks shard 1 and holds it.
    let held = sim.run_until(|s| s.shard(0).requests_held_for_translation() == 1, 2_000);
    assert!(held, "the INVITE was not held for shard 1's answer");
    sim
}

fn reload(sim: &mut Sim, config: Config) {
    let config = Arc::new(config);
    for shard in 0..2 {
        sim.send_shard_message(ShardId(shard), ShardMessage::Config(config.clone()));
    }
}

fn calls_started_by(sim: &Sim, from_trunk: &str) -> Vec<String> {
    sim.events
        .iter()
        .filter_map(|(_, event)| match event {
            Event::CallStarted {
                from_trunk: from,
                to_trunk,
                ..
            } if from == from_trunk => Some(to_trunk.clone()),
            _ => None,
        })
        .collect()
}

/// The INVITE resumes as the platform's, routed to the carrier as when it arrived.
fn assert_routed_as_the_platforms(sim: &mut Sim) {
    let before = calls_started_by(sim, "platform").len();
    let invite = sim.expect_request(CARRIER, "INVITE");
    let bytes = sim.ua_ref(CARRIER).incoming(invite).bytes.clone();
    let start_line = String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(start_line.contains("+15557654321"), "{start_line}");
    assert_eq!(
        calls_started_by(sim, "platform").len(),
        before + 1,
        "the held INVITE did not start a call from the platform trunk"
    );
    assert!(
        !sim.ua_ref(PLATFORM).has_request("INVITE"),
        "the platform's own INVITE was routed back to it"
    );
}

#[test]
fn trunks_reordered_while_held_do_not_change_whose_invite_it_is() {
    let mut sim = platform_invite_held_on_shard_0(71);
    // Same trunks, platform first: index 1 now names the carrier.
    let mut config = standard_config();
    config.trunks.swap(0, 1);
    config.routes = vec![
        Route {
            from: Some(1),
            to: 0,
            prefix: String::new(),
            domain: None,
        },
        Route {
            from: Some(0),
            to: 1,
            prefix: String::new(),
            domain: None,
        },
    ];
    reload(&mut sim, config);
    assert_routed_as_the_platforms(&mut sim);
}

#[test]
fn trunks_removed_while_held_do_not_panic_the_shard() {
    let mut sim = platform_invite_held_on_shard_0(72);
    // Only the platform left, at index 0, and a catch-all route: index 1 is out of range.
    let mut config = standard_config();
    config.trunks.retain(|t| t.name == "platform");
    config.routes = vec![Route {
        from: None,
        to: 0,
        prefix: String::new(),
        domain: None,
    }];
    reload(&mut sim, config);
    assert_routed_as_the_platforms(&mut sim);
}
