//! The customer hangs up while the local transfer's leg C rings: handoff CANCELs leg C, tells the
//! platform 487 and ends its leg; the audit record says "cancelled".

use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};
use handoff::transfer::TransferOutcome;

#[test]
fn ringing_leg_c_is_cancelled_when_the_customer_leaves() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::customer_hangs_up_during_fallback(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(
        sim.metrics()
            .transfers_with_outcome(TransferOutcome::Cancelled),
        1
    );
    assert!(
        sim.metrics()
            .trunk_sessions_in_use
            .values()
            .all(|n| *n == 0)
    );
}
