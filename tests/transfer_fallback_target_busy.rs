//! The local fallback's target is busy: the transfer failed with fallback_status 486, the
//! platform is NOTIFYed with 486, ringback stops, and both the customer's and the platform's legs
//! stay up so the agent can take the caller back.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn busy_target_fails_and_keeps_the_caller_with_the_agent() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    attempt.on_refer_response(ms(50), StatusCode::FORBIDDEN);
    drain(&mut attempt);
    attempt.on_fallback_response(ms(400), StatusCode::BUSY_HERE, false);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::StopRingback,
            TransferAction::NotifyPlatform {
                status: StatusCode::BUSY_HERE,
                subscription_ends: true
            },
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Failed);
    assert_eq!(record.fallback_status, Some(StatusCode::BUSY_HERE));
    assert_eq!(record.refer_status, Some(StatusCode::FORBIDDEN));
    assert_eq!(record.reason, "fallback_failed");
    assert!(attempt.is_done());
}
