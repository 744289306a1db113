//! Transfer seed sweep: every blind transfer flow (src/sim/transfer_flows.rs) under 200 seeds, each
//! seed choosing the shard count and a faulty network (src/sim/faulty_sweep.rs). Any failure prints
//! the seed; `HANDOFF_SEED=N cargo test --test sim_transfer_seed_sweep` replays it (add
//! HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};
use handoff::sim::transfer_flows::FLOWS;

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_transfer_seed_sweep",
    salt: 0x7472_616e_7366_6572,
    seeds: 200,
    check_topology: false,
};

#[test]
fn every_transfer_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/transfer_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_transfer_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/transfer_flows.rs"), 16);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
