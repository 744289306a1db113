//! Refer-Sub: false from the platform (RFC 4488): 202 carries Refer-Sub: false and the platform
//! gets no NOTIFY, while the carrier's NOTIFYs are still answered and the call is handed off.

use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn refer_sub_false_means_no_notify_to_the_platform() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::refer_sub_false(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(sim.metrics().total_sessions_saved(), 2);
}
