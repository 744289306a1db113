//! The caller hangs up during the transfer: outcome "cancelled"; the pending fallback INVITE is
//! cancelled and the platform leg ended.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn hangup_before_the_carrier_answers_cancels() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    drain(&mut attempt);
    attempt.on_bye_from_carrier(ms(700));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::StopRingback,
            TransferAction::AnswerPlatform {
                status: StatusCode::REQUEST_TERMINATED
            },
            TransferAction::TearDownPlatformLeg,
        ]
    );
    assert_eq!(
        finished(&actions).map(|r| r.outcome),
        Some(TransferOutcome::Cancelled)
    );
}

#[test]
fn hangup_during_fallback_cancels_the_invite() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Local,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    drain(&mut attempt);
    attempt.on_bye_from_carrier(ms(900));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::CancelFallbackInvite,
            TransferAction::StopRingback,
            TransferAction::NotifyPlatform {
                status: StatusCode::REQUEST_TERMINATED,
                subscription_ends: true
            },
            TransferAction::TearDownPlatformLeg,
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Cancelled);
    assert_eq!(record.reason, "customer_hung_up");
}
