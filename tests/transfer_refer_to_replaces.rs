//! An attended transfer's Replaces reaches the carrier inside the Refer-To, with the escaping it
//! was given (exactly), and a non-number target is then acceptable.

use std::collections::BTreeMap;

use handoff::config::{ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod, Trunk};
use handoff::transfer::dialog_ids::Replaces;
use handoff::transfer::refer_to::{PlatformReferTo, carrier_refer_to};

fn trunk() -> Trunk {
    Trunk {
        name: "x".to_owned(),
        peer: "192.0.2.10:5060".parse().expect("literal address"),
        sources: std::sync::Arc::new(handoff::sources::SourceSet::default()),
        role: handoff::config::TrunkRole::Carrier,
        carrier_refer: handoff::config::CarrierReferPolicy::Reject,
        transfer: TransferMethod::Refer,
        on_refer_failure: ReferFailurePolicy::Local,
        refer_domain: Some("c.example".to_owned()),
        jurisdiction: None,
        country_code: "1".to_owned(),
        codecs: vec![],
        ringback: RingbackMode::Auto,
        ringback_tone: RingbackTone::Us,
        headers: BTreeMap::new(),
        transfer_targets: Default::default(),
        trust_identity: true,
        conversation_header: false,
        media_networks: Default::default(),
        limits: Default::default(),
        refer_hook: None,
        transfer_timeout_s: None,
        handoff_bye_after_ms: None,
        refer_response: handoff::vocab::StatusCode::ACCEPTED,
        auth: None,
    }
}

const PLATFORM: &str =
    "<sip:partner@pbx.example?Replaces=b2%40pbx%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2&Require=replaces>";

#[test]
fn the_platform_replaces_is_exposed_raw_and_decoded() {
    let parsed = PlatformReferTo::parse(PLATFORM).expect("parses");
    assert!(parsed.is_attended());
    assert_eq!(parsed.target(), "sip:partner@pbx.example");
    assert_eq!(
        parsed.replaces_escaped(),
        Some("b2%40pbx%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2")
    );
    let replaces = parsed.replaces().expect("present").expect("valid");
    assert_eq!(replaces.call_id, "b2@pbx");
    assert_eq!(replaces.to_tag, "hb2");
    assert_eq!(replaces.from_tag, "pf2");
}

#[test]
fn translated_replaces_is_carried_byte_exact_and_other_uri_headers_dropped() {
    let parsed = PlatformReferTo::parse(PLATFORM).expect("parses");
    // Lower-case hex and an escaped '@' the caller chose to keep must survive as given.
    let translated = "a2%40sbc%3bto-tag%3Dcx2%3Bfrom-tag%3Dha2";
    let carrier = carrier_refer_to(&parsed, &trunk(), Some(translated)).expect("builds");
    assert_eq!(
        carrier.header_value(),
        "<sip:partner@c.example?Replaces=a2%40sbc%3bto-tag%3Dcx2%3Bfrom-tag%3Dha2>"
    );
    assert_eq!(carrier.target_e164, None);
}

#[test]
fn a_number_target_with_replaces_is_still_normalised() {
    let parsed = PlatformReferTo::parse(
        "<sip:5559876543@pbx?Replaces=b2%40pbx%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2>",
    )
    .expect("parses");
    let replaces = Replaces::parse("a2@sbc;to-tag=cx2;from-tag=ha2;early-only").expect("valid");
    let carrier =
        carrier_refer_to(&parsed, &trunk(), Some(&replaces.render_escaped())).expect("builds");
    assert_eq!(
        carrier.uri,
        "sip:+15559876543@c.example?Replaces=a2%40sbc%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2%3Bearly-only"
    );
}
