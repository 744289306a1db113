//! 20% loss on every message (plus duplication and reordering): retransmissions carry every
//! flow through.

use handoff::core::dialog::Side;
use handoff::sim::{LinkProfile, Sim, SimOptions, scenarios};

fn lossy(seed: u64) -> Sim {
    Sim::new(
        SimOptions::default()
            .seed(seed)
            .link(LinkProfile::lossy(0.2)),
    )
}

#[test]
fn basic_call_survives_20_percent_loss() {
    let mut lost = 0;
    for seed in 1..=20 {
        let mut sim = lossy(seed);
        scenarios::basic_call(&mut sim, Side::A).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        lost += sim.net.datagrams_lost;
    }
    assert!(lost > 20, "only {lost} datagrams lost over 20 runs");
}

#[test]
fn cancel_and_busy_survive_20_percent_loss() {
    for seed in 1..=10 {
        scenarios::cancel_before_answer(&mut lossy(seed))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        scenarios::busy(&mut lossy(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
