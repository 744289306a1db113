//! transfer = "local" (carriers without REFER): no REFER at all, straight to the local transfer.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::numbering::normalize_e164;
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn local_method_skips_the_refer() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Local,
        ReferFailurePolicy::Reject,
        RingbackMode::Local,
    );
    assert_eq!(
        drain(&mut attempt),
        vec![
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            TransferAction::NotifyPlatform {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
            TransferAction::StartRingback,
            TransferAction::StartFallbackInvite {
                target: "sip:5559876543@platform.example".to_owned(),
                target_e164: normalize_e164("+15559876543", "1").ok(),
            },
        ]
    );
    attempt.on_fallback_response(ms(3_000), StatusCode::OK, true);
    attempt.on_transferor_bye(ms(3_100));
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "local_method");
    assert_eq!(record.refer_status, None);
    assert!(
        record.to_json().contains("\"method\":\"local\""),
        "{}",
        record.to_json()
    );
    assert!(
        attempt.is_done(),
        "the platform hung up itself within the grace period"
    );
    assert!(!actions.contains(&TransferAction::TearDownPlatformLeg));
}
