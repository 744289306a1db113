//! The destination policy also holds for handoff's own INVITE: a local transfer whose target is
//! routed to a trunk that denies it (`transfer_deny`) sends no INVITE there; the transfer fails
//! with 403 as the target's status, the platform keeps its caller and is told by NOTIFY.

use handoff::vocab::StatusCode;
use std::sync::Arc;

use handoff::sim::transfer_flows::{self, call_and_refer, platform_refer_answered};
use handoff::sim::{PARTNER, PLATFORM, Sim, SimOptions};
use handoff::transfer::TransferOutcome;

#[test]
fn a_local_transfer_to_a_number_the_target_trunk_denies_dials_nothing() {
    let mut config = (*transfer_flows::local_mode_config()).clone();
    // The sim's target +442071234567 routes to the partner trunk, which denies UK numbers.
    config.trunks[PARTNER].transfer_targets.deny = vec!["+44".to_string()];
    let mut sim = Sim::new(SimOptions::default().seed(33).config(Arc::new(config)));
    let t = call_and_refer(&mut sim, true).expect("call and REFER");
    platform_refer_answered(&mut sim, &t, 202).expect("local mode accepts the REFER");
    let done = sim.run_until(|s| !s.transfers().is_empty(), 20_000);
    assert!(done, "no transfer record");
    let record = &sim.transfers()[0];
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.fallback_status, Some(StatusCode::FORBIDDEN));
    assert!(
        !sim.ua_ref(PARTNER).has_request("INVITE"),
        "handoff dialled a denied number"
    );
    assert_eq!(sim.calls_active(), 1, "the platform keeps its caller");
    sim.run_for(1_000);
    let notified_failure = sim.ua_ref(PLATFORM).has_request("NOTIFY");
    assert!(notified_failure, "the platform was not told by NOTIFY");
}
