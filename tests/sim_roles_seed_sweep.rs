//! Every role flow (dialer transfers through each fallback path, carrier REFER policy) on a clean
//! link, and under 200 seeds with 5% loss (as the transfer sweep), duplication and reordering on
//! 1 to 3 shards. `HANDOFF_SEED=N` replays a seed.

use handoff::sim::{LinkProfile, Sim, SimOptions, dialer_flows, sweep};

#[test]
fn every_role_flow_holds_on_a_clean_link() {
    for (name, config, flow) in dialer_flows::FLOWS {
        let mut sim = Sim::new(SimOptions::default().config(config()));
        if let Err(error) = flow(&mut sim) {
            panic!("{name}: {error}");
        }
    }
}

#[test]
fn every_role_flow_holds_under_every_seed() {
    let failures = sweep(dialer_flows::FLOWS, 200, LinkProfile::lossy(0.05));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
