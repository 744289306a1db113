//! An in-dialog request speaks for a leg only when it comes from the leg's bound peer with the
//! leg's remote tag. Another trunk (carrier-b using the identifiers of a carrier-a call's platform
//! dialog, the toll-fraud report of the call-model issue) and a host that is no trunk are
//! dropped unanswered and counted; the call is untouched.

use handoff::metrics::DropReason;
use handoff::sim::{Sim, SimOptions, trust_flows};

#[test]
fn foreign_bye_and_refer_change_nothing_and_are_counted() {
    let mut sim = Sim::new(SimOptions::default().seed(81));
    trust_flows::foreign_in_dialog_requests(&mut sim).unwrap();
    // Two BYEs, two REFERs from other addresses, one BYE with the wrong From tag.
    assert_eq!(
        sim.metrics()
            .dropped_count(DropReason::InDialogFromWrongPeer),
        5
    );
}
