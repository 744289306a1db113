//! A reload that moves or unroutes a trunk never re-binds an established leg: the platform's
//! re-INVITE and BYE from the address the leg was bound to still work.

use handoff::sim::{Sim, SimOptions, trust_flows};

#[test]
fn moved_platform_trunk_keeps_its_established_call() {
    let mut sim = Sim::new(SimOptions::default().seed(83));
    trust_flows::reload_keeps_bound_legs(&mut sim, false).unwrap();
}

#[test]
fn unrouted_platform_trunk_keeps_its_established_call() {
    let mut sim = Sim::new(SimOptions::default().seed(84));
    trust_flows::reload_keeps_bound_legs(&mut sim, true).unwrap();
}
