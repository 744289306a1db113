//! No answer to the REFER within refer_timeout_ms: local fallback with reason "timeout".

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use transfer_support::*;

#[test]
fn silent_carrier_times_out_into_a_local_transfer() {
    let mut attempt = start_blind(
        ms(500),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    let actions = drain(&mut attempt);
    assert!(actions.contains(&TransferAction::ArmTimer { at: ms(4_500) }));
    assert!(
        actions.contains(&TransferAction::StartRingback),
        "ringback = local plays while the carrier works"
    );

    attempt.on_timer(ms(4_499));
    assert_eq!(drain(&mut attempt), vec![], "an early timer is ignored");
    assert_eq!(attempt.state_name(), "AwaitingReferResponse");

    attempt.on_timer(ms(4_500));
    let actions = drain(&mut attempt);
    assert_eq!(actions[0], TransferAction::AnswerPlatform { status: 202 });
    assert!(matches!(
        actions[1],
        TransferAction::StartFallbackInvite { .. }
    ));
    assert!(
        !actions.contains(&TransferAction::StartRingback),
        "ringback keeps playing, it is not restarted"
    );

    // The carrier's late 202 changes nothing now.
    attempt.on_refer_response(ms(4_600), 202);
    assert_eq!(drain(&mut attempt), vec![]);

    attempt.on_fallback_response(ms(6_000), 200, true);
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "timeout");
    assert_eq!(record.refer_status, None);
    assert_eq!(record.fallback_status, Some(200));
    assert_eq!(record.duration_ms, 5_500);
}

#[test]
fn silence_after_the_202_also_times_out() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(100), 202);
    drain(&mut attempt);
    attempt.on_timer(ms(4_100));
    let actions = drain(&mut attempt);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, TransferAction::AnswerPlatform { .. })),
        "the platform already has its 202"
    );
    assert!(matches!(
        actions[0],
        TransferAction::StartFallbackInvite { .. }
    ));
}
