//! NOTIFYs that race the carrier's BYE, or overtake the 202, produce no storm of messages. A
//! carrier BYE before any final NOTIFY waits (late_notify_grace_ms) for that NOTIFY: a 2xx makes
//! it handed_off (issue 10: otherwise the customer abandoned the transfer).

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn final_notify_after_the_bye_is_absorbed() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(150), StatusCode::TRYING);
    drain(&mut attempt);
    // The BYE overtakes the final NOTIFY: nothing is decided until that NOTIFY (or
    // late_notify_grace_ms); then the platform gets its final NOTIFY, once, and the transfer is
    // handed off (ended by the carrier).
    attempt.on_bye_from_carrier(ms(1_000));
    assert_eq!(without_bookkeeping(&drain(&mut attempt)), vec![]);
    attempt.on_notify_sipfrag(ms(1_005), StatusCode::OK);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::RelayNotify {
                status: StatusCode::OK,
                subscription_ends: true
            },
            TransferAction::TearDownPlatformLeg,
        ]
    );
    assert_eq!(
        finished(&actions).map(|r| r.outcome),
        Some(TransferOutcome::HandedOff)
    );
    attempt.on_notify_sipfrag(ms(1_010), StatusCode::OK);
    attempt.on_notify_sipfrag(ms(1_020), StatusCode::OK);
    attempt.on_bye_from_carrier(ms(1_030));
    assert_eq!(drain(&mut attempt), vec![]);
}

#[test]
fn notify_before_the_202_means_accepted() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_notify_sipfrag(ms(50), StatusCode::TRYING);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            TransferAction::RelayNotify {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
        ]
    );
    attempt.on_refer_response(ms(60), StatusCode::ACCEPTED);
    assert_eq!(drain(&mut attempt), vec![], "the 202 was already relayed");
    attempt.on_notify_sipfrag(ms(70), StatusCode::OK);
    attempt.on_bye_from_carrier(ms(80));
    let actions = drain(&mut attempt);
    assert_eq!(
        finished(&actions).and_then(|r| r.refer_status),
        Some(StatusCode::ACCEPTED)
    );
}
