//! Transfer targets seed sweep (issue 10 items 4 and 8): every flow of src/sim/targets_flows.rs
//! (extensions and SIP URIs routed locally, Refer-To headers carried or refused, one Refer-To,
//! method=INVITE only, conversation linking) under 200 seeds, each seed choosing the shard count
//! and a faulty network (src/sim/faulty_sweep.rs). Any failure prints the seed; `HANDOFF_SEED=N
//! cargo test --test sim_targets_seed_sweep` replays it (add HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};
use handoff::sim::targets_flows::FLOWS;

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_targets_seed_sweep",
    salt: 0x7472_616e_7366_6572,
    seeds: 200,
    check_topology: false,
};

#[test]
fn every_targets_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/targets_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_targets_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/targets_flows.rs"), 13);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
