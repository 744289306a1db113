//! The platform hangs up right after the 202 (as some do within 300 ms): leg A stays up until the
//! carrier's BYE, nothing is NOTIFYed to the departed platform, the call is handed off.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn early_platform_bye_does_not_drop_the_customer() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::early_transferor_bye,
    );
    assert!(platform_notifies(&sim).is_empty());
    assert_eq!(sim.metrics().total_sessions_saved(), 2);
}
