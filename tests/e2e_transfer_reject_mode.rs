//! on_refer_failure = "reject" (real binary, both backends, 2 shards): the carrier's 403 is relayed to the
//! platform, no local transfer is attempted, the call stays up; the audit says "failed".

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn reject_mode_relays_the_carriers_refusal() {
    for io in BACKENDS {
        reject_mode_relays_the_carriers_refusal_on(io);
    }
}

fn reject_mode_relays_the_carriers_refusal_on(io: &'static str) {
    let mut options = Options::new(io, 8820);
    options.on_refer_failure = "reject";
    let mut e2e = start(&options);
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::Reject(403),
        target: TargetAnswer::NotReached,
        early_transferor_bye: false,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.platform_refer_status, Some(403));
    assert!(!seen.customer_got_bye, "the call stays up");
    assert!(
        e2e.cast[handoff::demo::flows::PARTNER].ladder.is_empty(),
        "no local transfer: {:?}",
        e2e.cast[handoff::demo::flows::PARTNER].ladder
    );
    let record = e2e.one_transfer_record();
    assert_eq!(record["outcome"], "failed", "{record}");
    assert_eq!(record["refer_status"], 403, "{record}");
    e2e.stop();
}
