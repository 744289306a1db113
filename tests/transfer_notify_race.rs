//! NOTIFYs that race the carrier's BYE, or overtake the 202, produce no storm of messages.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use transfer_support::*;

#[test]
fn final_notify_after_the_bye_is_absorbed() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(100), 202);
    attempt.on_notify_sipfrag(ms(150), 100);
    drain(&mut attempt);
    // The BYE overtakes the final NOTIFY: the platform still gets its final NOTIFY, once.
    attempt.on_bye_from_carrier(ms(1_000));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::NotifyPlatform {
                status: 200,
                subscription_ends: true
            },
            TransferAction::TearDownPlatformLeg,
        ]
    );
    assert_eq!(
        finished(&actions).map(|r| r.outcome),
        Some(TransferOutcome::HandedOff)
    );
    attempt.on_notify_sipfrag(ms(1_010), 200);
    attempt.on_notify_sipfrag(ms(1_020), 200);
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
    attempt.on_notify_sipfrag(ms(50), 100);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::AnswerPlatform { status: 202 },
            TransferAction::RelayNotify {
                status: 100,
                subscription_ends: false
            },
        ]
    );
    attempt.on_refer_response(ms(60), 202);
    assert_eq!(drain(&mut attempt), vec![], "the 202 was already relayed");
    attempt.on_notify_sipfrag(ms(70), 200);
    attempt.on_bye_from_carrier(ms(80));
    let actions = drain(&mut attempt);
    assert_eq!(finished(&actions).and_then(|r| r.refer_status), Some(202));
}
