//! INVITE with Replaces (RFC 3891 section 3) on a clean link on 1 to 3 shards, and under 200
//! seeds with 5% loss, duplication and reordering. `HANDOFF_SEED=N` replays a seed.

use handoff::sim::{LinkProfile, Sim, SimOptions, replaces_flows, sweep};

#[test]
fn every_replaces_flow_holds_on_a_clean_link() {
    for (name, config, flow) in replaces_flows::FLOWS {
        for shards in 1..=3 {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            if let Err(error) = flow(&mut sim) {
                panic!("{name} on {shards} shards: {error}");
            }
        }
    }
}

#[test]
fn every_replaces_flow_holds_under_every_seed() {
    let failures = sweep(replaces_flows::FLOWS, 200, LinkProfile::lossy(0.05));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
