//! The platform's REFER said `Refer-Sub: false` (RFC 4488): it gets its answer, and no NOTIFY.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn no_notify_reaches_a_platform_that_declined_the_subscription() {
    let mut request = blind_request("<sip:5559876543@platform.example>");
    request.notify_platform = false;
    let mut attempt = TransferAttempt::start(
        ms(0),
        request,
        settings(
            TransferMethod::Refer,
            ReferFailurePolicy::Local,
            RingbackMode::Off,
        ),
    );
    let mut all = drain(&mut attempt);
    attempt.on_refer_response(ms(10), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(20), StatusCode::TRYING);
    attempt.on_notify_sipfrag(ms(30), StatusCode::SERVICE_UNAVAILABLE);
    attempt.on_fallback_response(ms(40), StatusCode::RINGING, false);
    attempt.on_fallback_response(ms(50), StatusCode::OK, false);
    all.extend(drain(&mut attempt));
    assert!(all.contains(&TransferAction::AnswerPlatform {
        status: StatusCode::ACCEPTED
    }));
    assert!(
        !all.iter().any(|a| matches!(
            a,
            TransferAction::RelayNotify { .. } | TransferAction::NotifyPlatform { .. }
        )),
        "{all:?}"
    );
    assert_eq!(
        finished(&all).map(|r| r.outcome),
        Some(TransferOutcome::FallbackLocal)
    );
}

/// Issue 10, item 5: `Refer-Sub: false` and `on_refer_failure = "reject"`. A carrier failure
/// after the 2xx must not release the customer: with the agent still there the customer stays
/// with it (nothing is released); with the agent gone nobody can hear the rejection (no
/// NOTIFYs, RFC 4488), so handoff transfers locally instead of dropping the caller.
#[test]
fn reject_never_drops_the_customer_of_a_platform_without_subscription() {
    for agent_left in [false, true] {
        let mut request = blind_request("<sip:5559876543@platform.example>");
        request.notify_platform = false;
        let mut attempt = TransferAttempt::start(
            ms(0),
            request,
            settings(
                TransferMethod::Refer,
                ReferFailurePolicy::Reject,
                RingbackMode::Off,
            ),
        );
        let mut all = drain(&mut attempt);
        attempt.on_refer_response(ms(10), StatusCode::ACCEPTED);
        if agent_left {
            attempt.on_transferor_bye(ms(15));
        }
        attempt.on_notify_sipfrag(ms(20), StatusCode::TRYING);
        attempt.on_notify_sipfrag(ms(30), StatusCode::BUSY_HERE);
        all.extend(drain(&mut attempt));
        assert!(
            !all.contains(&TransferAction::ReleaseCustomerLeg),
            "agent left: {agent_left}: {all:?}"
        );
        let dialled = all
            .iter()
            .any(|a| matches!(a, TransferAction::StartFallbackInvite { .. }));
        assert_eq!(dialled, agent_left, "{all:?}");
        if !agent_left {
            assert_eq!(
                finished(&all).map(|r| r.outcome),
                Some(TransferOutcome::Failed)
            );
        }
    }
}
