//! Blind transfer, carrier trunk with transfer = "refer": the platform's REFER becomes a REFER to
//! the carrier (E.164 Refer-To at its domain, From = the dialled DID, Referred-By and
//! P-Asserted-Identity kept, trunk headers added); the platform gets 202 only after the carrier's
//! 202, the carrier's NOTIFYs are relayed, and the carrier's BYE hands the call off (B BYEd, ports
//! freed, two trunk sessions saved).

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn refer_is_handed_off_to_the_carrier() {
    let sim = run(transfer_flows::standard(), transfer_flows::blind_handoff);
    assert_eq!(platform_notifies(&sim), vec![100, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"handed_off\""), "{json}");
    assert!(json.contains("\"method\":\"refer\""), "{json}");
    assert!(json.contains("\"refer_status\":202"), "{json}");
    let prometheus = sim.metrics().render_prometheus();
    assert!(prometheus.contains("handed_off"), "{prometheus}");
}
