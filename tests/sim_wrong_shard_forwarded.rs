//! Datagrams landing on a shard that does not own their call are forwarded and handled there.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn calls_owned_by_other_shards_work() {
    let mut sim = Sim::new(SimOptions::default().seed(21).shards(4));
    scenarios::wrong_shard(&mut sim, 6).unwrap();
    assert!(
        sim.forwarded > 0,
        "no call landed on the wrong shard with this seed"
    );
    // Calls were created on more than one shard.
    let shards_with_calls = sim
        .shards()
        .iter()
        .filter(|s| s.stats().calls_started > 0)
        .count();
    assert!(shards_with_calls > 1, "all calls on one shard");
}
