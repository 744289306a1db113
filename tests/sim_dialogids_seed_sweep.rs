//! Target-Dialog and out-of-dialog REFER seed sweep (issue 10 items 2 and 3): every flow of
//! src/sim/dialogids_flows.rs, and after each flow no datagram handoff sent may name another
//! agent's address (topology hiding) under 200 seeds, each seed choosing the shard count and a
//! faulty network (src/sim/faulty_sweep.rs). Any failure prints the seed; `HANDOFF_SEED=N cargo
//! test --test sim_dialogids_seed_sweep` replays it (add HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::dialogids_flows::FLOWS;
use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_dialogids_seed_sweep",
    salt: 0x7464_6961_6c6f_6773,
    seeds: 200,
    check_topology: true,
};

#[test]
fn every_dialogids_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/dialogids_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_dialogids_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/dialogids_flows.rs"), 6);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
