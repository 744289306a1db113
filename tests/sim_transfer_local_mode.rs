//! transfer = "local" (carriers without REFER): no REFER to the carrier; handoff answers 202 and
//! does the local transfer directly.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn local_method_transfers_without_refer() {
    let sim = run(
        transfer_flows::local_mode_config(),
        transfer_flows::local_mode,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"method\":\"local\""), "{json}");
    assert!(json.contains("\"outcome\":\"fallback_local\""), "{json}");
}
