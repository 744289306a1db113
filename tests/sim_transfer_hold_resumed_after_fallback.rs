//! The customer was on hold (platform re-INVITE sendonly) when the transfer started: after the
//! local transfer the customer is re-INVITEd back to sendrecv with a G.711 offer.

use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn held_customer_is_resumed_after_the_local_transfer() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::held_customer_fallback(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(sim.transfers().len(), 1);
}
