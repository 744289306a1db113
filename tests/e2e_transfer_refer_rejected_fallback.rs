//! REFER rejected by the carrier with 403, 603 or 481 (real binary, both backends, 2 shards): the caller is never
//! dropped; handoff answers the platform 202, INVITEs the target on the partner trunk, bridges
//! the customer to it on 200, NOTIFYs the platform 200; the audit says "fallback_local" with the
//! carrier's code.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn refer_rejections_fall_back_to_a_local_transfer() {
    for io in BACKENDS {
        refer_rejections_fall_back_to_a_local_transfer_on(io);
    }
}

fn refer_rejections_fall_back_to_a_local_transfer_on(io: &'static str) {
    for (i, code) in [403u16, 603, 481].into_iter().enumerate() {
        let mut e2e = start(&Options::new(io, 8580 + i as u16 * 40));
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::Reject(code),
            target: TargetAnswer::Answer,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(seen.platform_refer_status, Some(202), "{code}");
        assert!(
            seen.bridged_to_target && seen.bridged_from_target,
            "{code}: bridged"
        );
        assert!(!seen.customer_got_bye, "{code}: the customer got a BYE");
        assert!(
            seen.platform_notifies.contains(&200),
            "{code}: {:?}",
            seen.platform_notifies
        );
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "fallback_local", "{code}: {record}");
        assert_eq!(record["refer_status"], code, "{record}");
        assert_eq!(record["fallback_status"], 200, "{record}");
        e2e.stop();
    }
}
