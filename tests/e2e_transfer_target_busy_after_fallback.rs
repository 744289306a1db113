//! REFER rejected 403, then the local transfer's target answers 486 (real binary, both backends, 2 shards): the
//! platform gets a NOTIFY with 486, the customer stays connected to the platform and their
//! media flows again; the audit says "failed" with fallback_status 486.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn busy_target_leaves_the_customer_with_the_platform() {
    for io in BACKENDS {
        busy_target_leaves_the_customer_with_the_platform_on(io);
    }
}

fn busy_target_leaves_the_customer_with_the_platform_on(io: &'static str) {
    let mut e2e = start(&Options::new(io, 8780));
    let flow = BlindFlow {
        refer_to: "<sip:+15559870000@platform.example>".to_owned(),
        carrier: CarrierAnswer::Reject(403),
        target: TargetAnswer::Fail(486),
        early_transferor_bye: false,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.platform_notifies.contains(&486),
        "{:?}",
        seen.platform_notifies
    );
    assert!(
        seen.media_back_to_platform,
        "platform media reaches the customer again"
    );
    assert!(!seen.customer_got_bye);
    let record = e2e.one_transfer_record();
    assert_eq!(record["outcome"], "failed", "{record}");
    assert_eq!(record["refer_status"], 403, "{record}");
    assert_eq!(record["fallback_status"], 486, "{record}");
    e2e.stop();
}
