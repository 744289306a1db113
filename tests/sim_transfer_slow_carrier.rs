//! Carrier timing in the simulation (clean network; the seed sweep runs the same flows lossy).
//! After its 2xx the carrier owns the transfer until its final NOTIFY (RFC 3515 section 2.4.4:
//! "The lifetime of the state being subscribed to is determined by the progress of the
//! referenced request"); a carrier accepting after refer_timeout_ms is calling the target too.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

#[test]
fn notify_100_and_200_30_s_apart_are_handed_off_without_leg_c() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::slow_carrier_notifies,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"handed_off\""), "{json}");
    assert!(json.contains("\"fallback_status\":null"), "{json}");
}

#[test]
fn a_202_after_the_refer_timeout_cancels_leg_c_and_the_carrier_hands_off() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::late_refer_accept_during_fallback,
    );
    // 180 and 183 from leg C while it rang, then the carrier's own NOTIFYs.
    assert_eq!(platform_notifies(&sim), vec![100, 180, 183, 100, 200]);
    // Leg C's early media reached the customer, then the relay went back to the platform leg.
    let updates: Vec<_> = sim
        .media
        .iter()
        .filter_map(|(_, c)| match c {
            handoff::core::MediaCommand::Update { b, .. } => Some(b.remote_rtp),
            _ => None,
        })
        .collect();
    let partner = "10.0.0.3:6000".parse().ok();
    assert!(updates.contains(&partner), "{updates:?}");
    assert_ne!(updates.last(), Some(&partner), "{updates:?}");
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"handed_off\""), "{json}");
    assert!(json.contains("\"refer_status\":202"), "{json}");
}
