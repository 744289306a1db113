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
