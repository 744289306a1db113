//! The carrier accepts the REFER, then NOTIFYs a sipfrag failure (503) (real binary, both backends, 2 shards):
//! handoff falls back to a local transfer; the audit has refer_status 202, notify_status 503,
//! outcome "fallback_local".

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn sipfrag_failure_falls_back_to_a_local_transfer() {
    for io in BACKENDS {
        sipfrag_failure_falls_back_to_a_local_transfer_on(io);
    }
}

fn sipfrag_failure_falls_back_to_a_local_transfer_on(io: &'static str) {
    let mut e2e = start(&Options::new(io, 8740));
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::SipfragFailure(503),
        target: TargetAnswer::Answer,
        early_transferor_bye: false,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.platform_refer_status, Some(202));
    assert!(seen.bridged_to_target && seen.bridged_from_target);
    assert!(!seen.customer_got_bye);
    let record = e2e.one_transfer_record();
    assert_eq!(record["outcome"], "fallback_local", "{record}");
    assert_eq!(record["refer_status"], 202, "{record}");
    assert_eq!(record["notify_status"], 503, "{record}");
    assert_eq!(record["fallback_status"], 200, "{record}");
    e2e.stop();
}
