//! The carrier never answers the REFER: after sbc.refer_timeout_ms handoff answers the platform
//! 202 and transfers locally; the record says reason "timeout" with no REFER status.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn silent_carrier_falls_back_after_the_refer_timeout() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::refer_timeout_fallback,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"refer_status\":null"), "{json}");
    assert!(json.contains("\"reason\":\"timeout\""), "{json}");
}
