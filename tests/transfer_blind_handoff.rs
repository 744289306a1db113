//! Blind transfer, trunk transfer = "refer": 202, NOTIFY 100, NOTIFY 200, carrier BYE = handed_off.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::core::Time;
use handoff::transfer::{TransferAction, TransferKind, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn refer_accepted_notified_and_released_is_handed_off() {
    let mut attempt = start_blind(
        ms(1_000),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    assert_eq!(
        drain(&mut attempt),
        vec![
            TransferAction::SendRefer {
                refer_to: "<sip:+15559876543@carrier-a.example>".to_owned(),
                headers: vec![
                    (
                        "Referred-By".to_owned(),
                        "<sip:agent7@platform.example>".to_owned()
                    ),
                    ("X-Carrier-Account".to_owned(), "acme-42".to_owned()),
                ],
            },
            // refer_timeout_ms (4 s): the wait for the REFER's final response, and nothing else
            // (issue 10: transfer_timeout_s starts only with the carrier's 2xx).
            TransferAction::ArmTimer { at: ms(5_000) },
        ]
    );
    assert_eq!(attempt.state_name(), "AwaitingReferResponse");

    attempt.on_refer_response(ms(1_050), StatusCode::TRYING);
    assert_eq!(drain(&mut attempt), vec![], "a 100 Trying changes nothing");

    // After the 2xx the carrier owns the transfer until its final NOTIFY (RFC 3515 section
    // 2.4.4: "The lifetime of the state being subscribed to is determined by the progress of the
    // referenced request"): no NOTIFY deadline is armed, only transfer_timeout_s (120 s by
    // default) from this 2xx to the final NOTIFY.
    attempt.on_refer_response(ms(1_100), StatusCode::ACCEPTED);
    assert_eq!(
        drain(&mut attempt),
        vec![
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            TransferAction::ArmTimer { at: ms(121_100) },
        ]
    );
    assert_eq!(attempt.state_name(), "AwaitingNotify");

    // A NOTIFY 100 is progress, relayed; it arms nothing either.
    attempt.on_notify_sipfrag(ms(1_150), StatusCode::TRYING);
    assert_eq!(
        drain(&mut attempt),
        vec![TransferAction::RelayNotify {
            status: StatusCode::TRYING,
            subscription_ends: false
        }]
    );

    attempt.on_notify_sipfrag(ms(3_000), StatusCode::OK);
    assert_eq!(
        drain(&mut attempt),
        vec![
            TransferAction::RelayNotify {
                status: StatusCode::OK,
                subscription_ends: true
            },
            // handoff_bye_after_ms (2 s) for the carrier's BYE, then handoff BYEs (issue 10).
            TransferAction::ArmTimer { at: ms(5_000) },
        ]
    );
    assert_eq!(attempt.state_name(), "AwaitingCarrierBye");

    attempt.on_bye_from_carrier(ms(3_200));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::TearDownPlatformLeg]
    );
    let record = finished(&actions).expect("outcome known at the carrier's BYE");
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert_eq!(record.kind, TransferKind::Blind);
    assert_eq!(record.refer_status, Some(StatusCode::ACCEPTED));
    assert_eq!(record.notify_status, Some(StatusCode::OK));
    assert_eq!(record.fallback_status, None);
    assert_eq!(record.reason, "carrier_bye");
    assert_eq!(record.ended_by, Some(handoff::transfer::LegEnder::Carrier));
    assert_eq!(record.duration_ms, 2_200);
    assert_eq!(record.ts, "2026-11-21T12:00:03.200Z");
    assert!(attempt.is_done());

    // Timers armed earlier fire later and are ignored.
    attempt.on_timer(Time::from_millis(35_000));
    attempt.on_timer(Time::from_millis(121_000));
    assert_eq!(drain(&mut attempt), vec![]);
}

/// Issue 10 item 10: the carrier reported success but does not release leg A (a transferee
/// following RFC 5589 waits for the transferor's BYE after the final NOTIFY 200): after
/// `handoff_bye_after_ms` (2 s) handoff BYEs it; handed_off, reason handoff_bye, ended_by
/// handoff (was: 64*T1 and `no_carrier_bye`).
#[test]
fn no_carrier_bye_within_2_s_is_ended_by_handoff() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(1_000), StatusCode::OK);
    drain(&mut attempt);
    // Early timer calls do nothing.
    attempt.on_timer(ms(2_999));
    assert_eq!(drain(&mut attempt), vec![]);
    attempt.on_timer(ms(3_000));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::ReleaseCustomerLeg,
            TransferAction::TearDownPlatformLeg
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert_eq!(record.reason, "handoff_bye");
    assert_eq!(record.ended_by, Some(handoff::transfer::LegEnder::Handoff));
    assert!(record.to_json().contains("\"ended_by\":\"handoff\""));
}
