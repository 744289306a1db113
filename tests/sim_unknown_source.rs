//! A request from an address that is no trunk: by default (`sbc.unknown_source = "drop"`) it gets
//! no answer at all and leaves no state; with `"reject"` it gets one stateless 403 Forbidden
//! (never retransmitted: a spoofed source must not make handoff a reflection amplifier). Both are
//! counted.

use std::sync::Arc;

use handoff::config::UnknownSourcePolicy;
use handoff::sim::{Sim, SimOptions, scenarios, standard_config};

#[test]
fn a_stranger_gets_no_answer_by_default() {
    let mut sim = Sim::new(SimOptions::default().seed(19));
    scenarios::unknown_source(&mut sim).unwrap();
}

#[test]
fn a_stranger_gets_one_stateless_403_when_configured_to_reject() {
    let mut config = standard_config();
    config.sbc.unknown_source = UnknownSourcePolicy::Reject;
    let mut sim = Sim::new(SimOptions::default().seed(20).config(Arc::new(config)));
    scenarios::unknown_source_rejected(&mut sim).unwrap();
}
