//! OPTIONS outside a dialog from a trunk is answered locally (carrier keepalive).

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn options_keepalive_is_answered_locally() {
    let mut sim = Sim::new(SimOptions::default().seed(20));
    scenarios::options_keepalive(&mut sim).unwrap();
    let answered: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().options_answered)
        .sum();
    assert_eq!(answered, 1);
}
