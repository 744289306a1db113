//! Timing seed sweep: every carrier-timing and refer-subscription flow (src/sim/timing_flows.rs,
//! issue 10 items 1, 5 and 10) under 200 seeds, each seed choosing the shard count and a faulty
//! network (src/sim/faulty_sweep.rs). Any failure prints the seed; `HANDOFF_SEED=N cargo test
//! --test sim_timing_seed_sweep` replays it (add HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};
use handoff::sim::timing_flows::FLOWS;

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_timing_seed_sweep",
    salt: 0x7469_6d69_6e67_0001,
    seeds: 200,
    check_topology: false,
};

#[test]
fn every_timing_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/timing_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_timing_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/timing_flows.rs"), 14);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
