//! Attended transfer, "refer" mode: the carrier gets the REFER on A1 with a Replaces naming A2
//! as it sees it, accepts it, and BYEs A1 and A2; both calls are handed off, B1 and B2 torn down.

use handoff::core::ShardId;
use handoff::sim::attended_flows;
use handoff::sim::{LinkProfile, Sim, SimOptions};

#[test]
fn carrier_joins_its_two_calls_and_handoff_lets_both_go() {
    let mut sim = Sim::new(SimOptions::default().seed(3).shards(2));
    attended_flows::attended_refer_mode(&mut sim, ShardId(1), ShardId(0)).unwrap();
}

#[test]
fn survives_a_lossy_link() {
    let mut sim = Sim::new(
        SimOptions::default()
            .seed(5)
            .shards(2)
            .link(LinkProfile::lossy(0.05)),
    );
    attended_flows::attended_refer_mode(&mut sim, ShardId(0), ShardId(1)).unwrap();
}
