//! The glare flows (src/sim/glare_flows.rs: issue 10 items 6 and 7 and its audit point) on a
//! clean link, on one shard and on three, where timing can be held to the RFC exactly: RFC 3261
//! section 14.1, "If the UAC is not the owner of the Call-ID of the dialog ID, T has a randomly
//! chosen value of between 0 and 2 seconds in units of 10 ms": the carrier chose the inbound
//! call's Call-ID, so handoff's retry reaches it within 2 s of its 491 (plus the link's delay).

use handoff::sim::glare_flows::{FLOWS, g729_config, reinvite_glare_retried_within};
use handoff::sim::{Sim, SimOptions};

#[test]
fn every_glare_flow_holds_on_a_clean_link() {
    for shards in [1, 3] {
        for (name, config, flow) in FLOWS {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            if let Err(error) = flow(&mut sim) {
                panic!("{name} on {shards} shard(s): {error}");
            }
        }
    }
}

#[test]
fn the_non_owner_retries_within_two_seconds() {
    for seed in 1..=20 {
        let mut sim = Sim::new(SimOptions::default().seed(seed).config(g729_config()));
        if let Err(error) = reinvite_glare_retried_within(&mut sim, Some(2_000 + 100)) {
            panic!("seed {seed}: {error}");
        }
    }
}
