//! A graceful stop reaches its deadline while the local transfer's leg C rings: legs A and B get
//! BYE, leg C is CANCELled, every port is freed, and the transfer is still audited ("cancelled").

use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn drain_ends_a_transfer_under_way_and_audits_it() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::drain_during_fallback(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(sim.transfers().len(), 1);
    assert_eq!(sim.media_ports_in_use(), 0);
}
