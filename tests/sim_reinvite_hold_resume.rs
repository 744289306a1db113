//! re-INVITE hold (sendonly/recvonly) and resume (sendrecv), from either side.

use handoff::core::MediaCommand;
use handoff::core::dialog::Side;
use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn caller_holds_and_resumes() {
    let mut sim = Sim::new(SimOptions::default().seed(14));
    scenarios::hold_resume(&mut sim, Side::A).unwrap();
    let updates = sim
        .media
        .iter()
        .filter(|(_, c)| matches!(c, MediaCommand::Update { .. }))
        .count();
    // answer at setup, then offer + answer for hold and for resume
    assert!(updates >= 5, "only {updates} media updates");
}

#[test]
fn callee_holds_and_resumes() {
    let mut sim = Sim::new(SimOptions::default().seed(15));
    scenarios::hold_resume(&mut sim, Side::B).unwrap();
}
