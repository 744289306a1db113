//! Trunk-request seed sweep (issue 10 items 9, 11 and 12): every flow of src/sim/trunkreq_flows.rs
//! (digest challenges answered once, handoff's own Allow/Supported/Contact, CRLF keep-alives, trunk
//! headers on every INVITE and REFER) under 200 seeds, each seed choosing the shard count and a
//! faulty network (src/sim/faulty_sweep.rs). Any failure prints the seed; `HANDOFF_SEED=N cargo
//! test --test sim_trunkreq_seed_sweep` replays it (add HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::faulty_sweep::{FaultySweep, flows_missing_from_table};
use handoff::sim::trunkreq_flows::FLOWS;

const SWEEP: FaultySweep = FaultySweep {
    test: "sim_trunkreq_seed_sweep",
    salt: 0x7472_756e_6b72_6571,
    seeds: 200,
    check_topology: false,
};

#[test]
fn every_trunkreq_flow_holds_under_every_seed() {
    SWEEP.run(FLOWS);
}

/// Every flow in `src/sim/trunkreq_flows.rs` is in `FLOWS`, so the sweep covers what the simulated
/// flows cover.
#[test]
fn the_sweep_runs_every_trunkreq_flow() {
    let missing = flows_missing_from_table(include_str!("../src/sim/trunkreq_flows.rs"), 8);
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
