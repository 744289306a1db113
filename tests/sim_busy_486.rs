//! 486 Busy Here from the called trunk is relayed to the caller with its reason phrase.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn busy_is_relayed_and_frees_the_call() {
    let mut sim = Sim::new(SimOptions::default().seed(12));
    scenarios::busy(&mut sim).unwrap();
}
