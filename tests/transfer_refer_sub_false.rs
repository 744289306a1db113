//! The platform's REFER said `Refer-Sub: false` (RFC 4488): it gets its answer, and no NOTIFY.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferOutcome};
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
    attempt.on_refer_response(ms(10), 202);
    attempt.on_notify_sipfrag(ms(20), 100);
    attempt.on_notify_sipfrag(ms(30), 503);
    attempt.on_fallback_response(ms(40), 180, false);
    attempt.on_fallback_response(ms(50), 200, false);
    all.extend(drain(&mut attempt));
    assert!(all.contains(&TransferAction::AnswerPlatform { status: 202 }));
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
