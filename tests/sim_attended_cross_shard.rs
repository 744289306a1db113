//! Attended transfer with the two calls on different shards: the translation asks the owning
//! shard by message (no shared state), holds the REFER / INVITE until the answer, and a shard
//! that never answers lets the request go on unchanged after the timeout.

use handoff::core::ShardId;
use handoff::sim::attended_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn refer_across_shards_is_translated_by_message() {
    let mut sim = Sim::new(SimOptions::default().seed(11).shards(2));
    attended_flows::attended_refer_mode(&mut sim, ShardId(0), ShardId(1)).unwrap();
    assert!(
        sim.shard(0).dialog_queries_sent() >= 1,
        "call 1's shard must ask call 2's shard"
    );
    assert_eq!(sim.shard(0).dialog_query_timeouts(), 0);
}

#[test]
fn replaces_header_across_shards_is_translated_by_message() {
    let mut sim = Sim::new(SimOptions::default().seed(12).shards(3));
    attended_flows::replaces_header_on_invite(&mut sim, ShardId(2), ShardId(0)).unwrap();
    assert!(sim.shard(2).dialog_queries_sent() >= 1);
}
