//! Attended transfer, "local" mode (and a refused REFER with on_refer_failure = "local"):
//! handoff joins A1 and A2 in its own relay (G.711 sendrecv re-INVITEs on both, PCMU <-> PCMA
//! transcoding), ends B1 (NOTIFY 200, BYE) and B2 (BYE), and releases A2 when the customer
//! hangs up.

use handoff::core::ShardId;
use handoff::sim::attended_flows::{self, local_mode_config};
use handoff::sim::{LinkProfile, Sim, SimOptions};

#[test]
fn calls_on_one_shard_are_joined() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(21)
            .shards(2)
            .config(local_mode_config()),
    );
    attended_flows::attended_local_mode(&mut sim, ShardId(1), ShardId(1)).unwrap();
}

#[test]
fn calls_on_two_shards_are_joined_on_the_first() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(22)
            .shards(2)
            .config(local_mode_config()),
    );
    attended_flows::attended_local_mode(&mut sim, ShardId(0), ShardId(1)).unwrap();
}

#[test]
fn survives_a_lossy_link() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(23)
            .shards(3)
            .link(LinkProfile::lossy(0.05))
            .config(local_mode_config()),
    );
    attended_flows::attended_local_mode(&mut sim, ShardId(2), ShardId(0)).unwrap();
}

#[test]
fn early_transferor_bye_does_not_drop_the_customer() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(24)
            .shards(2)
            .config(local_mode_config()),
    );
    attended_flows::attended_local_mode_early_transferor_bye(&mut sim, ShardId(1), ShardId(0))
        .unwrap();
}

#[test]
fn drain_ends_both_halves_of_a_joined_pair() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(25)
            .shards(2)
            .config(local_mode_config()),
    );
    attended_flows::attended_local_mode_then_drain(&mut sim, ShardId(0), ShardId(1)).unwrap();
}

#[test]
fn refused_refer_falls_back_to_joining_locally() {
    let mut sim = Sim::new(SimOptions::default().seed(26).shards(2));
    attended_flows::attended_refer_rejected_falls_back_to_local(&mut sim, ShardId(1), ShardId(0))
        .unwrap();
}
