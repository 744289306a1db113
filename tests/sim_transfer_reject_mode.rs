//! on_refer_failure = "reject": the carrier's 603 is relayed to the platform as the REFER's
//! answer; no local transfer, the call goes on.

use handoff::sim::PLATFORM;
use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn rejected_refer_is_relayed_to_the_platform() {
    let sim = run(
        transfer_flows::reject_mode_config(),
        transfer_flows::reject_mode,
    );
    assert!(platform_notifies(&sim).is_empty());
    let reason = sim
        .ua_ref(PLATFORM)
        .responses
        .iter()
        .find(|r| r.method == "REFER" && r.status == 603)
        .map(|r| r.reason.clone());
    assert_eq!(reason.as_deref(), Some("Decline"));
}
