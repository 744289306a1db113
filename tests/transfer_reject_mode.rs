//! on_refer_failure = "reject": the carrier's code goes back to the platform, nothing else.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
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
    attempt.on_refer_response(ms(60), 603);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::StopRingback,
            TransferAction::AnswerPlatform { status: 603 },
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.refer_status, Some(603));
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
    attempt.on_refer_response(ms(60), 202);
    drain(&mut attempt);
    attempt.on_notify_sipfrag(ms(900), 503);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::RelayNotify {
            status: 503,
            subscription_ends: true
        }]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.notify_status, Some(503));
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
        vec![TransferAction::AnswerPlatform { status: 408 }]
    );
    assert_eq!(
        finished(&actions).map(|r| r.reason.as_str()),
        Some("timeout")
    );
}
