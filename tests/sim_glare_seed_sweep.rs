//! Glare seed sweep (issue 10 items 6 and 7, and its audit point): every flow of
//! src/sim/glare_flows.rs (re-INVITE glare and its retries, ringback only in a negotiated G.711
//! payload type, a record for every REFER and INVITE/Replaces) under 200 seeds, each seed choosing
//! the shard count and a faulty network (src/sim/faulty_sweep.rs). Any failure prints the seed;
//! `HANDOFF_SEED=N cargo test --test sim_glare_seed_sweep` replays it (add HANDOFF_SIM_TRACE=1 for
//! the ladder).

use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};
use handoff::sim::glare_flows::FLOWS;

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_glare_seed_sweep",
    salt: 0x676c_6172_6500_0000,
    seeds: 200,
    check_topology: false,
};

#[test]
fn every_glare_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/glare_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_glare_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/glare_flows.rs"), 12);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
