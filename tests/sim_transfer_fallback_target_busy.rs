//! REFER rejected (403), and the target of the local transfer is busy (486): the platform gets a
//! NOTIFY 486, leg C's port is freed, and the customer stays with the platform.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn busy_target_leaves_the_customer_with_the_platform() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::fallback_target_busy,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 486]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"failed\""), "{json}");
    assert!(json.contains("\"fallback_status\":486"), "{json}");
}
