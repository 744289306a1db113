//! transfer = "local" (real binary, both backends, 2 shards): no REFER reaches the carrier; handoff INVITEs the
//! target itself, plays ringback, bridges on 200 and NOTIFYs the platform; the audit says
//! method "local", outcome "fallback_local", reason "local_method".

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CARRIER, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn local_mode_transfers_without_refer() {
    for io in BACKENDS {
        local_mode_transfers_without_refer_on(io);
    }
}

fn local_mode_transfers_without_refer_on(io: &'static str) {
    let mut options = Options::new(io, 8860);
    options.transfer = "local";
    let mut e2e = start(&options);
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::NoReferExpected,
        target: TargetAnswer::Answer,
        early_transferor_bye: false,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !e2e.cast[CARRIER]
            .ladder
            .iter()
            .any(|s| s.what.starts_with("REFER")),
        "no REFER to the carrier"
    );
    assert_eq!(seen.platform_refer_status, Some(202));
    assert!(seen.bridged_to_target && seen.bridged_from_target);
    assert!(!seen.customer_got_bye);
    let record = e2e.one_transfer_record();
    assert_eq!(record["method"], "local", "{record}");
    assert_eq!(record["outcome"], "fallback_local", "{record}");
    assert_eq!(record["reason"], "local_method", "{record}");
    e2e.stop();
}
