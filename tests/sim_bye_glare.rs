//! Both sides BYE at once: both get 200, one call end, no 481 storm.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn bye_glare_ends_the_call_once() {
    let mut sim = Sim::new(SimOptions::default().seed(16));
    scenarios::bye_glare(&mut sim).unwrap();
}
