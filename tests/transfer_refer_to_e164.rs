//! Whatever form the platform's Refer-To takes, the carrier gets `<sip:+E164@refer_domain>`.

use std::collections::BTreeMap;

use handoff::config::{ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod, Trunk};
use handoff::transfer::refer_to::{PlatformReferTo, ReferToError, carrier_refer_to, refer_domain};

fn trunk(country_code: &str, refer_domain: Option<&str>, peer: &str) -> Trunk {
    Trunk {
        name: "x".to_owned(),
        peer: peer.parse().expect("literal address"),
        sources: std::sync::Arc::new(handoff::sources::SourceSet::default()),
        role: handoff::config::TrunkRole::Carrier,
        carrier_refer: handoff::config::CarrierReferPolicy::Reject,
        transfer: TransferMethod::Refer,
        on_refer_failure: ReferFailurePolicy::Local,
        refer_domain: refer_domain.map(str::to_owned),
        jurisdiction: None,
        country_code: country_code.to_owned(),
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

fn carrier(refer_to: &str, trunk: &Trunk) -> Result<String, ReferToError> {
    let parsed = PlatformReferTo::parse(refer_to)?;
    Ok(carrier_refer_to(&parsed, trunk, None)?.header_value())
}

#[test]
fn every_platform_form_becomes_e164_at_the_carrier_domain() {
    let us = trunk("1", Some("sip.carrier-a.example"), "192.0.2.10:5060");
    let uk = trunk("44", Some("sip.carrier-b.example"), "192.0.2.20:5060");
    let cases: [(&str, &Trunk, &str); 7] = [
        (
            "<sip:5559876543@pbx.example>",
            &us,
            "<sip:+15559876543@sip.carrier-a.example>",
        ),
        (
            "sip:5559876543@pbx.example",
            &us,
            "<sip:+15559876543@sip.carrier-a.example>",
        ),
        (
            "\"Partner\" <sip:+1 (555) 987-6543@pbx.example;user=phone>",
            &us,
            "<sip:+15559876543@sip.carrier-a.example>",
        ),
        (
            "<tel:+44-20-7946-0000>",
            &us,
            "<sip:+442079460000@sip.carrier-a.example>",
        ),
        (
            "<sip:011442079460000@pbx.example>",
            &us,
            "<sip:+442079460000@sip.carrier-a.example>",
        ),
        (
            "<sip:02079460000@pbx.example>",
            &uk,
            "<sip:+442079460000@sip.carrier-b.example>",
        ),
        (
            "<sip:1-555-987-6543@pbx.example>",
            &us,
            "<sip:+15559876543@sip.carrier-a.example>",
        ),
    ];
    for (platform, trunk, expected) in cases {
        assert_eq!(
            carrier(platform, trunk).as_deref(),
            Ok(expected),
            "from {platform}"
        );
    }
}

#[test]
fn without_refer_domain_the_peer_host_is_used() {
    let default_port = trunk("1", None, "192.0.2.10:5060");
    assert_eq!(refer_domain(&default_port), "192.0.2.10");
    assert_eq!(
        carrier("<sip:5559876543@pbx>", &default_port).as_deref(),
        Ok("<sip:+15559876543@192.0.2.10>")
    );
    let other_port = trunk("1", None, "127.0.0.1:5070");
    assert_eq!(refer_domain(&other_port), "127.0.0.1:5070");
    let v6 = trunk("1", Some(""), "[2001:db8::5]:5060");
    assert_eq!(refer_domain(&v6), "[2001:db8::5]");
}

#[test]
fn a_blind_target_that_is_no_number_is_refused() {
    let us = trunk("1", Some("c.example"), "192.0.2.10:5060");
    let error = carrier("<sip:sales@pbx.example>", &us).unwrap_err();
    assert!(
        matches!(error, ReferToError::NotANumber { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("Refer-To target \"sip:sales@pbx.example\" is not a telephone number"),
        "{error}"
    );
    assert!(matches!(
        carrier("<sip:555@pbx.example>", &us),
        Err(ReferToError::NotANumber { .. })
    ));
}
