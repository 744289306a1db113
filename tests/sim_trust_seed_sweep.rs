//! Every trust flow under 100 seeds with 15% loss, duplication and reordering, on 1 to 3 shards.
//! A failure names its seed; `HANDOFF_SEED=N` replays it.

use handoff::sim::{LinkProfile, sweep, trust_flows};

#[test]
fn every_trust_flow_holds_under_every_seed() {
    let failures = sweep(trust_flows::FLOWS, 100, LinkProfile::lossy(0.15));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
