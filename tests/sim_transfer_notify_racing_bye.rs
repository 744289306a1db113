//! The carrier's final NOTIFY races its BYE: both are answered 200 whatever the order, no 481
//! reaches the carrier, and the call is handed off once.

use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn final_notify_racing_the_bye_gets_200() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::final_notify_racing_bye(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(sim.call_ends().len(), 1);
}
