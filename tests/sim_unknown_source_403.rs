//! A request from an address that is no configured trunk gets 403 and is counted.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn unknown_source_gets_403() {
    let mut sim = Sim::new(SimOptions::default().seed(19));
    scenarios::unknown_source(&mut sim).unwrap();
}
