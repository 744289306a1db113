//! CANCEL before answer: 200 to the CANCEL, 487 to the INVITE, CANCEL propagated to leg B.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn cancel_before_answer_ends_both_legs_with_487() {
    let mut sim = Sim::new(SimOptions::default().seed(11));
    scenarios::cancel_before_answer(&mut sim).unwrap();
}
