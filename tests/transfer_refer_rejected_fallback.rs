//! REFER answered 403/603/481/501 with on_refer_failure = "local": handoff answers the platform
//! 202 only then, calls the target itself, plays ringback, bridges, and NOTIFYs 200.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::numbering::normalize_e164;
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn each_carrier_rejection_falls_back_to_a_local_transfer() {
    for code in [
        StatusCode::FORBIDDEN,
        StatusCode::DECLINE,
        StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
        StatusCode::NOT_IMPLEMENTED,
    ] {
        let mut attempt = start_blind(
            ms(0),
            TransferMethod::Refer,
            ReferFailurePolicy::Local,
            RingbackMode::Auto,
        );
        drain(&mut attempt);

        attempt.on_refer_response(ms(80), code);
        assert_eq!(
            without_bookkeeping(&drain(&mut attempt)),
            vec![
                TransferAction::AnswerPlatform {
                    status: StatusCode::ACCEPTED
                },
                TransferAction::NotifyPlatform {
                    status: StatusCode::TRYING,
                    subscription_ends: false
                },
                TransferAction::StartFallbackInvite {
                    target: "sip:5559876543@platform.example".to_owned(),
                    target_e164: normalize_e164("+15559876543", "1").ok(),
                },
            ],
            "after REFER {code}"
        );
        assert_eq!(attempt.state_name(), "AwaitingFallbackAnswer");

        // 180 without SDP: "auto" ringback starts, the platform hears of the progress.
        attempt.on_fallback_response(ms(300), StatusCode::RINGING, false);
        assert_eq!(
            drain(&mut attempt),
            vec![
                TransferAction::NotifyPlatform {
                    status: StatusCode::RINGING,
                    subscription_ends: false
                },
                TransferAction::StartRingback,
            ]
        );

        attempt.on_fallback_response(ms(2_300), StatusCode::OK, true);
        let actions = drain(&mut attempt);
        assert_eq!(
            without_bookkeeping(&actions),
            vec![
                TransferAction::StopRingback,
                TransferAction::BridgeFallback,
                TransferAction::NotifyPlatform {
                    status: StatusCode::OK,
                    subscription_ends: true
                },
            ]
        );
        let record = finished(&actions).expect("outcome known when the target answers");
        assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
        assert_eq!(record.refer_status, Some(code));
        assert_eq!(record.notify_status, None);
        assert_eq!(record.fallback_status, Some(StatusCode::OK));
        assert_eq!(record.reason, "refer_rejected");

        // The platform does not hang up: handoff ends leg B after the grace period.
        assert_eq!(attempt.state_name(), "AwaitingPlatformBye");
        attempt.on_timer(ms(4_299));
        assert_eq!(drain(&mut attempt), vec![], "grace not over yet");
        attempt.on_timer(ms(4_300));
        assert_eq!(
            drain(&mut attempt),
            vec![TransferAction::TearDownPlatformLeg]
        );
        assert!(attempt.is_done());
    }
}
