//! The carrier accepts the REFER (202) but its NOTIFY reports 486: handoff falls back to a local
//! transfer; the platform saw the relayed 100, then the local transfer's 180 and 200.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};
use handoff::vocab::StatusCode;

#[test]
fn failing_sipfrag_falls_back_to_a_local_transfer() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::sipfrag_failure_fallback,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    assert_eq!(
        sim.transfers()[0].notify_status,
        Some(StatusCode::BUSY_HERE)
    );
}
