//! The carrier never answers the REFER (real binary, both backends, 2 shards): after
//! refer_timeout_ms (1 s here) handoff falls back to a local transfer; the audit says
//! "fallback_local", reason "timeout", with no REFER status.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn unanswered_refer_falls_back_after_the_timeout() {
    for io in BACKENDS {
        unanswered_refer_falls_back_after_the_timeout_on(io);
    }
}

fn unanswered_refer_falls_back_after_the_timeout_on(io: &'static str) {
    let mut e2e = start(&Options::new(io, 8700));
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::Ignore,
        target: TargetAnswer::Answer,
        early_transferor_bye: false,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.platform_refer_status, Some(202));
    assert!(seen.bridged_to_target && seen.bridged_from_target);
    assert!(!seen.customer_got_bye);
    let record = e2e.one_transfer_record();
    assert_eq!(record["outcome"], "fallback_local", "{record}");
    assert_eq!(record["reason"], "timeout", "{record}");
    assert!(record["refer_status"].is_null(), "{record}");
    e2e.stop();
}
