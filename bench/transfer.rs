//! Cost of the transfer building blocks per operation.
//!
//! `cargo bench --bench transfer` — median of 5 runs of N iterations each, for:
//! - a whole blind handoff through `TransferAttempt` (start, 202, NOTIFY 100, NOTIFY 200, carrier
//!   BYE, record serialised to JSON), actions drained as the call layer would;
//! - parsing a platform Refer-To and building the carrier's (`<sip:+E164@domain>`);
//! - translating an escaped Replaces through a lookup.

use handoff::vocab::StatusCode;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use handoff::config::{ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod, Trunk};
use handoff::core::Time;
use handoff::transfer::dialog_ids::{DialogId, DialogIdForm, translate};
use handoff::transfer::refer_to::carrier_refer_to;
use handoff::transfer::{
    PlatformReferTo, TransferAction, TransferAttempt, TransferRequest, TransferSettings, WallClock,
};

const RUNS: usize = 5;

fn trunk() -> Trunk {
    let mut headers = BTreeMap::new();
    headers.insert("X-Account".to_owned(), "acme".to_owned());
    Trunk {
        name: "carrier-a".to_owned(),
        peer: "192.0.2.10:5060".parse().expect("literal"),
        sources: std::sync::Arc::new(handoff::sources::SourceSet::default()),
        role: handoff::config::TrunkRole::Carrier,
        carrier_refer: handoff::config::CarrierReferPolicy::Reject,
        transfer: TransferMethod::Refer,
        on_refer_failure: ReferFailurePolicy::Local,
        refer_domain: Some("carrier-a.example".to_owned()),
        jurisdiction: None,
        country_code: "1".to_owned(),
        codecs: vec!["PCMU".to_owned()],
        ringback: RingbackMode::Auto,
        ringback_tone: RingbackTone::Us,
        headers,
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

fn median_ns_per_op(iterations: u64, mut body: impl FnMut(u64)) -> f64 {
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iterations {
                body(i);
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[RUNS / 2]
}

fn main() {
    let settings = TransferSettings::for_trunk(&trunk(), 4_000);
    let refer_to = PlatformReferTo::parse("<sip:5559876543@platform.example>").expect("parses");
    let wall_clock = WallClock {
        at: Time::ZERO,
        unix_ms: 1_795_262_400_000,
    };

    let flow = median_ns_per_op(100_000, |i| {
        let base = Time::from_millis(i);
        let request = TransferRequest {
            conversation: "conv-1".to_owned(),
            refer_to: refer_to.clone(),
            translated_replaces: None,
            referred_by: None,
            p_asserted_identity: None,
            handoff_identity: "<sip:handoff@192.0.2.1>".to_owned(),
            notify_platform: true,
            wall_clock,
            source: None,
            extension: Default::default(),
        };
        let mut attempt = TransferAttempt::start(base, request, settings.clone());
        let drain = |attempt: &mut TransferAttempt| {
            while let Some(action) = attempt.poll_action() {
                if let TransferAction::Finished(record) = action {
                    black_box(record.to_json());
                } else {
                    black_box(action);
                }
            }
        };
        drain(&mut attempt);
        attempt.on_refer_response(base.plus_millis(50), StatusCode::ACCEPTED);
        drain(&mut attempt);
        attempt.on_notify_sipfrag(base.plus_millis(60), StatusCode::TRYING);
        drain(&mut attempt);
        attempt.on_notify_sipfrag(base.plus_millis(900), StatusCode::OK);
        drain(&mut attempt);
        attempt.on_bye_from_carrier(base.plus_millis(950));
        drain(&mut attempt);
        assert!(attempt.is_done());
    });

    let trunk = trunk();
    let refer_to_text = "\"Partner\" <sip:+1 (555) 987-6543@platform.example;user=phone>";
    let build = median_ns_per_op(200_000, |_| {
        let parsed = PlatformReferTo::parse(black_box(refer_to_text)).expect("parses");
        black_box(carrier_refer_to(&parsed, &trunk, None).expect("number"));
    });

    let b2 = DialogId::new("p2call@platform", "hb2", "pf2");
    let a2 = DialogId::new("ha2@handoff", "ha2tag", "cx2");
    let raw = "p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2";
    let translation = median_ns_per_op(200_000, |_| {
        black_box(translate(
            DialogIdForm::ReplacesInUri,
            black_box(raw),
            |seen| (seen == &b2).then(|| a2.clone()),
        ));
    });

    println!("blind handoff flow (5 inputs, record as JSON): {flow:>8.0} ns/transfer");
    println!("Refer-To parse + carrier Refer-To build:       {build:>8.0} ns/op");
    println!("Replaces-in-URI translation:                   {translation:>8.0} ns/op");
}
