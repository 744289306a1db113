//! Carrier timing, derived from the RFCs (see the module docs of src/transfer/attempt.rs).
//!
//! - `refer_timeout_ms` bounds the wait for the FINAL RESPONSE to the REFER, nothing else.
//!   RFC 3515 section 2.4.2: "If no final response has been generated according to the rules
//!   above, the UA MUST return a 202 Accepted response before the REFER transaction expires."
//!   No final response in time = failure "timeout" (here: local fallback).
//! - After the 2xx the carrier owns the transfer until its final NOTIFY. RFC 3515 section 2.4.4:
//!   "The lifetime of the state being subscribed to is determined by the progress of the
//!   referenced request." Silence is not failure; only the overall transfer timeout bounds it.
//! - A carrier that accepts late, while handoff's own fallback rings, is calling the target too
//!   (RFC 3515 section 2.4.2: "If a REFER request is accepted (that is, a 2xx class response is
//!   returned), the recipient MUST create a subscription and send notifications of the status of
//!   the refer"): leg C gives way, and a sipfrag 200 means the carrier connected the call
//!   (section 2.4.5: "The response class in this status line indicates the status of the
//!   referred action").
//!
//! Times: the fixtures' refer_timeout_ms is 4 s; the transfer timeout defaults to 120 s.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::core::Time;
use handoff::transfer::{
    TransferAction, TransferAttempt, TransferOutcome, TransferRecord, TransferSettings,
};
use handoff::vocab::StatusCode;
use transfer_support::*;

fn starts_fallback(actions: &[TransferAction]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, TransferAction::StartFallbackInvite { .. }))
}

fn tells_platform(actions: &[TransferAction], wanted: StatusCode) -> bool {
    actions.iter().any(|a| match a {
        TransferAction::AnswerPlatform { status }
        | TransferAction::RelayNotify { status, .. }
        | TransferAction::NotifyPlatform { status, .. } => *status == wanted,
        _ => false,
    })
}

/// Feeds `step`, drains, and keeps every action in `log`.
fn run(
    attempt: &mut TransferAttempt,
    log: &mut Vec<TransferAction>,
    step: impl FnOnce(&mut TransferAttempt),
) -> Vec<TransferAction> {
    step(attempt);
    let actions = drain(attempt);
    log.extend(actions.iter().cloned());
    actions
}

fn record_in(actions: &[TransferAction]) -> TransferRecord {
    finished(actions).expect("recorded").clone()
}

/// A blind REFER at `now`, with `transfer_timeout_ms`.
fn start_with_transfer_timeout(
    now: Time,
    on_refer_failure: ReferFailurePolicy,
    ringback: RingbackMode,
    transfer_timeout_ms: u64,
) -> TransferAttempt {
    let settings = TransferSettings {
        transfer_timeout_ms,
        ..settings(TransferMethod::Refer, on_refer_failure, ringback)
    };
    TransferAttempt::start(
        now,
        blind_request("<sip:5559876543@platform.example>"),
        settings,
    )
}

/// Kept from the old file, re-derived from RFC 3515 section 2.4.2: no final response to the
/// REFER within refer_timeout_ms is the one silence that is a failure.
#[test]
fn no_final_response_within_refer_timeout_falls_back_locally() {
    let mut attempt = start_blind(
        ms(500),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    let actions = drain(&mut attempt);
    assert!(actions.contains(&TransferAction::ArmTimer { at: ms(4_500) }));
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, TransferAction::ArmTimer { .. }))
            .count(),
        1,
        "only refer_timeout_ms runs before the carrier accepts (issue 10)"
    );
    assert!(
        actions.contains(&TransferAction::StartRingback),
        "ringback = local plays while the carrier works"
    );

    attempt.on_timer(ms(4_499));
    assert_eq!(drain(&mut attempt), vec![], "an early timer is ignored");
    assert_eq!(attempt.state_name(), "AwaitingReferResponse");

    attempt.on_timer(ms(4_500));
    let actions = without_bookkeeping(&drain(&mut attempt));
    assert_eq!(
        actions[0],
        TransferAction::AnswerPlatform {
            status: StatusCode::ACCEPTED
        }
    );
    // handoff accepted the REFER itself: NOTIFY 100 at once (RFC 3515 section 2.4.4).
    assert_eq!(
        actions[1],
        TransferAction::NotifyPlatform {
            status: StatusCode::TRYING,
            subscription_ends: false
        }
    );
    assert!(matches!(
        actions[2],
        TransferAction::StartFallbackInvite { .. }
    ));
    assert!(
        !actions.contains(&TransferAction::StartRingback),
        "ringback keeps playing, it is not restarted"
    );
    assert_eq!(attempt.state_name(), "AwaitingFallbackAnswer");

    attempt.on_fallback_response(ms(6_000), StatusCode::OK, true);
    let actions = drain(&mut attempt);
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "timeout");
    assert_eq!(record.refer_status, None);
    assert_eq!(record.fallback_status, Some(StatusCode::OK));
    assert_eq!(record.duration_ms, 5_500);
}

/// With on_refer_failure = "reject" the same silence is answered 408 (RFC 3515 section 2.4.2
/// again: a REFER with no final response has failed).
#[test]
fn no_final_response_within_refer_timeout_is_408_in_reject_mode() {
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
    assert_eq!(record_in(&actions).reason, "timeout");
}

/// A target rings for a while: the carrier NOTIFYs 100, then nothing for 60 s, then 200. No
/// deadline fires in between and handoff never dials the target itself.
#[test]
fn a_notify_gap_of_60_s_after_the_202_then_sipfrag_200_is_handed_off() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
    );
    let mut log = drain(&mut attempt);
    run(&mut attempt, &mut log, |a| {
        a.on_refer_response(ms(100), StatusCode::ACCEPTED)
    });
    run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(150), StatusCode::TRYING)
    });
    run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(2_000), StatusCode::RINGING)
    });

    // Every timer armed so far fires (and a few more instants), 60 s of silence.
    for at in [4_000, 4_100, 4_150, 6_000, 30_000, 60_000, 62_000] {
        let actions = run(&mut attempt, &mut log, |a| a.on_timer(ms(at)));
        assert_eq!(actions, vec![], "silence at {at} ms is not failure");
        assert_eq!(attempt.state_name(), "AwaitingNotify");
    }

    let actions = run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(62_000), StatusCode::OK)
    });
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::RelayNotify {
            status: StatusCode::OK,
            subscription_ends: true
        }]
    );
    assert_eq!(attempt.state_name(), "AwaitingCarrierBye");

    let actions = run(&mut attempt, &mut log, |a| {
        a.on_bye_from_carrier(ms(62_300))
    });
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert_eq!(record.reason, "carrier_bye");
    assert_eq!(record.refer_status, Some(StatusCode::ACCEPTED));
    assert_eq!(record.notify_status, Some(StatusCode::OK));
    assert_eq!(record.fallback_status, None);
    assert!(!starts_fallback(&log), "leg C was INVITEd: {log:?}");
    assert!(
        !tells_platform(&log, StatusCode::REQUEST_TIMEOUT),
        "the platform heard 408: {log:?}"
    );
    assert!(attempt.is_done());
}

/// The carrier accepts and then says nothing at all: only the transfer timeout (120 s from the
/// carrier's 2xx, issue 10) ends the wait. With the agent still on the call it fails the
/// transfer (NOTIFY 408; the customer is back with the agent); even with on_refer_failure =
/// "local" handoff does not dial the target (the carrier may still be connecting it).
#[test]
fn no_notify_at_all_after_the_202_ends_in_the_transfer_timeout() {
    for policy in [ReferFailurePolicy::Local, ReferFailurePolicy::Reject] {
        let mut attempt = start_blind(ms(0), TransferMethod::Refer, policy, RingbackMode::Local);
        let mut log = drain(&mut attempt);
        let actions = run(&mut attempt, &mut log, |a| {
            a.on_refer_response(ms(100), StatusCode::ACCEPTED)
        });
        assert!(actions.contains(&TransferAction::ArmTimer { at: ms(120_100) }));
        for at in [4_000, 4_100, 60_000, 120_099] {
            let actions = run(&mut attempt, &mut log, |a| a.on_timer(ms(at)));
            assert_eq!(actions, vec![], "{policy:?}: nothing at {at} ms");
        }

        let actions = run(&mut attempt, &mut log, |a| a.on_timer(ms(120_100)));
        assert_eq!(
            without_bookkeeping(&actions),
            vec![
                TransferAction::StopRingback,
                TransferAction::NotifyPlatform {
                    status: StatusCode::REQUEST_TIMEOUT,
                    subscription_ends: true
                },
            ],
            "{policy:?}"
        );
        let record = record_in(&actions);
        assert_eq!(record.outcome, TransferOutcome::Failed);
        assert_eq!(record.reason, "transfer_timeout");
        assert_eq!(record.refer_status, Some(StatusCode::ACCEPTED));
        assert_eq!(record.notify_status, None);
        assert_eq!(record.duration_ms, 120_100);
        assert!(!starts_fallback(&log), "{policy:?}: leg C was INVITEd");
        assert!(attempt.is_done());
    }
}

/// The platform left after its 202 (a blind transfer): at the transfer timeout nobody is left
/// for the customer. With on_refer_failure = "reject" handoff releases leg A (issue 10: the
/// policy applies).
#[test]
fn the_transfer_timeout_releases_the_customer_when_the_platform_left() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Reject,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_transferor_bye(ms(300));
    drain(&mut attempt);
    attempt.on_timer(ms(120_100));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::ReleaseCustomerLeg]
    );
    assert_eq!(record_in(&actions).reason, "transfer_timeout");
}

/// Issue 10 item 1: the agent left and the carrier gave no result within transfer_timeout_s;
/// with on_refer_failure = "local" handoff dials the target itself so the caller is not left
/// in silence, and the record says why (fallback_local / transfer_timeout).
#[test]
fn the_transfer_timeout_with_the_platform_gone_falls_back_locally() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(200), StatusCode::TRYING);
    attempt.on_transferor_bye(ms(300));
    drain(&mut attempt);
    attempt.on_timer(ms(120_100));
    let actions = drain(&mut attempt);
    assert!(starts_fallback(&actions), "{actions:?}");
    attempt.on_fallback_response(ms(125_000), StatusCode::OK, false);
    let actions = drain(&mut attempt);
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "transfer_timeout");
}

/// transfer_timeout_s = 0 turns the bound off: the carrier may take as long as it takes.
#[test]
fn a_zero_transfer_timeout_never_fires() {
    let mut attempt =
        start_with_transfer_timeout(ms(0), ReferFailurePolicy::Local, RingbackMode::Off, 0);
    let actions = drain(&mut attempt);
    let timers: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, TransferAction::ArmTimer { .. }))
        .collect();
    assert_eq!(timers, vec![&TransferAction::ArmTimer { at: ms(4_000) }]);
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    drain(&mut attempt);
    attempt.on_timer(ms(86_400_000));
    assert_eq!(drain(&mut attempt), vec![]);
    assert_eq!(attempt.state_name(), "AwaitingNotify");
}

/// Issue 10: the transfer timeout does not bound the REFER's wait (refer_timeout_ms alone
/// does), even when it is the shorter of the two.
#[test]
fn the_transfer_timeout_does_not_bound_the_refer_wait() {
    let mut attempt =
        start_with_transfer_timeout(ms(0), ReferFailurePolicy::Local, RingbackMode::Off, 1_000);
    drain(&mut attempt);
    attempt.on_timer(ms(1_000));
    assert_eq!(drain(&mut attempt), vec![]);
    assert_eq!(attempt.state_name(), "AwaitingReferResponse");
    attempt.on_timer(ms(4_000));
    let actions = drain(&mut attempt);
    assert!(starts_fallback(&actions));
    assert_eq!(attempt.state_name(), "AwaitingFallbackAnswer");
}

/// The carrier's final NOTIFY 200 was delayed (lost packets) past the REFER timeout: handoff
/// started leg C; the sipfrag 200 says the carrier connected the call. Leg C is CANCELled, the
/// platform is told 200 (never 408), and the carrier's BYE makes it handed off. (The seed sweep's
/// HANDOFF_SEED=552 case.)
#[test]
fn a_late_sipfrag_200_while_leg_c_rings_cancels_leg_c_and_tells_the_platform_200() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
    );
    let mut log = drain(&mut attempt);
    let actions = run(&mut attempt, &mut log, |a| a.on_timer(ms(4_000)));
    assert!(starts_fallback(&actions));
    run(&mut attempt, &mut log, |a| {
        a.on_fallback_response(ms(4_300), StatusCode::RINGING, false)
    });
    assert_eq!(attempt.state_name(), "AwaitingFallbackAnswer");

    let actions = run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(9_000), StatusCode::OK)
    });
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::CancelFallbackInvite,
            TransferAction::RelayNotify {
                status: StatusCode::OK,
                subscription_ends: true
            },
        ]
    );
    assert_eq!(attempt.state_name(), "AwaitingCarrierBye");

    // Leg C's 487 to the CANCEL changes nothing now.
    let actions = run(&mut attempt, &mut log, |a| {
        a.on_fallback_response(ms(9_100), StatusCode::REQUEST_TERMINATED, false)
    });
    assert_eq!(without_bookkeeping(&actions), vec![]);

    let actions = run(&mut attempt, &mut log, |a| a.on_bye_from_carrier(ms(9_500)));
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert_eq!(record.reason, "carrier_bye");
    assert_eq!(record.notify_status, Some(StatusCode::OK));
    assert_eq!(record.fallback_status, None);
    assert!(
        !tells_platform(&log, StatusCode::REQUEST_TIMEOUT),
        "the platform heard 408: {log:?}"
    );
    assert!(!log.contains(&TransferAction::BridgeFallback));
    assert!(attempt.is_done());
}

/// The carrier's 202 arrives just after the REFER timeout started leg C: the carrier is calling
/// the target too, so leg C gives way and the carrier's NOTIFYs decide.
#[test]
fn a_late_2xx_to_the_refer_while_leg_c_rings_gives_way_to_the_carrier() {
    let mut attempt = start_blind(
        ms(500),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    let mut log = drain(&mut attempt);
    run(&mut attempt, &mut log, |a| a.on_timer(ms(4_500)));
    let actions = run(&mut attempt, &mut log, |a| {
        a.on_refer_response(ms(4_600), StatusCode::ACCEPTED)
    });
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::CancelFallbackInvite],
        "the platform already has its 202; ringback keeps playing"
    );
    assert_eq!(attempt.state_name(), "AwaitingNotify");

    // 30 s of ringing at the carrier, then success.
    run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(5_000), StatusCode::TRYING)
    });
    assert_eq!(
        run(&mut attempt, &mut log, |a| a.on_timer(ms(8_500))),
        vec![]
    );
    run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(35_000), StatusCode::OK)
    });
    let actions = run(&mut attempt, &mut log, |a| {
        a.on_bye_from_carrier(ms(35_200))
    });
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert_eq!(record.refer_status, Some(StatusCode::ACCEPTED));
    assert_eq!(record.notify_status, Some(StatusCode::OK));
    assert!(log.contains(&TransferAction::RelayNotify {
        status: StatusCode::TRYING,
        subscription_ends: false
    }));
    assert!(log.contains(&TransferAction::RelayNotify {
        status: StatusCode::OK,
        subscription_ends: true
    }));
    assert_eq!(
        log.iter()
            .filter(|a| matches!(a, TransferAction::StartFallbackInvite { .. }))
            .count(),
        1
    );
}

/// After giving way, a carrier failure fails the transfer with the carrier's code: handoff does
/// not ring the target a third time.
#[test]
fn a_carrier_failure_after_leg_c_gave_way_is_not_a_second_fallback() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    let mut log = drain(&mut attempt);
    run(&mut attempt, &mut log, |a| a.on_timer(ms(4_000)));
    // Its NOTIFY 100 overtook the (lost) 202.
    let actions = run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(4_200), StatusCode::TRYING)
    });
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::CancelFallbackInvite,
            TransferAction::RelayNotify {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
        ]
    );
    let actions = run(&mut attempt, &mut log, |a| {
        a.on_notify_sipfrag(ms(20_000), StatusCode::BUSY_HERE)
    });
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::RelayNotify {
            status: StatusCode::BUSY_HERE,
            subscription_ends: true
        }]
    );
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.reason, "sipfrag_failure");
    assert_eq!(
        log.iter()
            .filter(|a| matches!(a, TransferAction::StartFallbackInvite { .. }))
            .count(),
        1
    );
}

/// A late rejection (RFC 6665 section 4.1.2.1: "Non-200-class final responses indicate that no
/// subscription or new dialog usage has been created, and no subsequent NOTIFY request will be
/// sent") leaves the fallback alone; its code goes into the record.
#[test]
fn a_late_rejection_of_the_refer_leaves_the_fallback_ringing() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    drain(&mut attempt);
    attempt.on_timer(ms(4_000));
    drain(&mut attempt);
    attempt.on_refer_response(ms(4_100), StatusCode::DECLINE);
    assert_eq!(drain(&mut attempt), vec![]);
    // A stray NOTIFY after that rejection changes nothing either.
    attempt.on_notify_sipfrag(ms(4_200), StatusCode::OK);
    assert_eq!(drain(&mut attempt), vec![]);
    attempt.on_fallback_response(ms(6_000), StatusCode::OK, false);
    let record = record_in(&drain(&mut attempt));
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "timeout");
    assert_eq!(record.refer_status, Some(StatusCode::DECLINE));
}

/// The transfer timeout also bounds a fallback that follows the REFER: leg C still ringing 120 s
/// after it started is CANCELled and the platform told 408.
#[test]
fn the_transfer_timeout_cancels_a_fallback_still_ringing() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(100), StatusCode::FORBIDDEN);
    drain(&mut attempt);
    attempt.on_fallback_response(ms(1_000), StatusCode::RINGING, false);
    drain(&mut attempt);
    // 120 s from the fallback's start.
    attempt.on_timer(ms(120_099));
    assert_eq!(drain(&mut attempt), vec![]);
    attempt.on_timer(ms(120_100));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::CancelFallbackInvite,
            TransferAction::StopRingback,
            TransferAction::NotifyPlatform {
                status: StatusCode::REQUEST_TIMEOUT,
                subscription_ends: true
            },
        ]
    );
    let record = record_in(&actions);
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.reason, "transfer_timeout");
    assert_eq!(record.refer_status, Some(StatusCode::FORBIDDEN));
}
