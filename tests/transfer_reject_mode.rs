//! on_refer_failure = "reject": the carrier's code goes back to the platform, nothing else.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn rejected_refer_relays_the_carriers_code_as_the_answer() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Reject,
        RingbackMode::Local,
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(60), StatusCode::DECLINE);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::StopRingback,
            TransferAction::AnswerPlatform {
                status: StatusCode::DECLINE
            },
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.refer_status, Some(StatusCode::DECLINE));
    assert_eq!(record.reason, "refer_rejected");
    assert!(attempt.is_done());
}

#[test]
fn failing_sipfrag_is_relayed_as_the_final_notify() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Reject,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(60), StatusCode::ACCEPTED);
    drain(&mut attempt);
    attempt.on_notify_sipfrag(ms(900), StatusCode::SERVICE_UNAVAILABLE);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::RelayNotify {
            status: StatusCode::SERVICE_UNAVAILABLE,
            subscription_ends: true
        }]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.notify_status, Some(StatusCode::SERVICE_UNAVAILABLE));
}

#[test]
fn timeout_before_any_answer_is_answered_408() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Reject,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_timer(ms(4_000));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::AnswerPlatform {
            status: StatusCode::REQUEST_TIMEOUT
        }]
    );
    assert_eq!(
        finished(&actions).map(|r| r.reason.as_str()),
        Some("timeout")
    );
}
