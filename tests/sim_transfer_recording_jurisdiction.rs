//! Issue 11, "Recording jurisdiction (MiFID II)": a trunk may carry `jurisdiction = "UK"`. A
//! transfer whose new leg is in another jurisdiction than the customer's leg writes both into
//! the record (`jurisdiction_from`, `jurisdiction_to`) and adds `X-Recording-Jurisdiction: <to>`
//! to the INVITE toward the new leg, so the recorder can switch policy. Here the carrier
//! refuses the REFER (403) and handoff's own INVITE takes the customer from the carrier's
//! jurisdiction to the partner trunk's; with one jurisdiction on both sides nothing is added.

use std::sync::Arc;

use handoff::config::Config;
use handoff::sim::transfer_flows;
use handoff::sim::{PARTNER, Sim};

fn with_jurisdictions(carrier: &str, partner: &str) -> Arc<Config> {
    let mut config = (*transfer_flows::standard()).clone();
    for trunk in &mut config.trunks {
        match trunk.name.as_str() {
            "carrier" => trunk.jurisdiction = Some(carrier.to_owned()),
            "partner" => trunk.jurisdiction = Some(partner.to_owned()),
            _ => {}
        }
    }
    Arc::new(config)
}

/// The header on the partner's INVITE (leg C), if any.
fn partner_invite_header(sim: &Sim) -> Option<String> {
    let invite = sim
        .ua_ref(PARTNER)
        .all_incoming()
        .find(|r| r.method == "INVITE")
        .expect("the partner got leg C's INVITE");
    let text = String::from_utf8_lossy(&invite.bytes).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("X-Recording-Jurisdiction: "))
        .map(str::to_owned)
}

#[test]
fn a_local_transfer_across_jurisdictions_tells_the_recorder() {
    let sim = transfer_flows::run_flow(with_jurisdictions("US", "UK"), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    assert_eq!(partner_invite_header(&sim).as_deref(), Some("UK"));
    let record = &sim.transfers()[0];
    assert_eq!(record.jurisdiction_from.as_deref(), Some("US"));
    assert_eq!(record.jurisdiction_to.as_deref(), Some("UK"));
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["jurisdiction_from"], "US");
    assert_eq!(json["jurisdiction_to"], "UK");
}

#[test]
fn one_jurisdiction_on_both_sides_adds_nothing() {
    let sim = transfer_flows::run_flow(with_jurisdictions("UK", "UK"), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    assert_eq!(partner_invite_header(&sim), None);
    let record = &sim.transfers()[0];
    assert!(record.jurisdiction_from.is_none() && record.jurisdiction_to.is_none());
    assert!(!record.to_json().contains("jurisdiction"));
}
