//! The carrier accepts (202) but its NOTIFY sipfrag reports >= 300: local fallback. The failing
//! NOTIFY is not relayed to the platform, which hears about the local transfer instead.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn sipfrag_failure_after_202_falls_back() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
    );
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(150), StatusCode::TRYING);
    attempt.on_notify_sipfrag(ms(900), StatusCode::RINGING);
    let actions = drain(&mut attempt);
    assert!(
        actions.contains(&TransferAction::StartRingback),
        "auto ringback starts on sipfrag 180: {actions:?}"
    );

    attempt.on_notify_sipfrag(ms(5_000), StatusCode::BUSY_HERE);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::StartFallbackInvite {
            target: "sip:5559876543@platform.example".to_owned(),
            target_e164: handoff::numbering::normalize_e164("5559876543", "1").ok(),
        }],
        "no RelayNotify 486 and no second answer to the REFER"
    );

    attempt.on_fallback_response(ms(7_000), StatusCode::OK, false);
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.reason, "sipfrag_failure");
    assert_eq!(record.refer_status, Some(StatusCode::ACCEPTED));
    assert_eq!(record.notify_status, Some(StatusCode::BUSY_HERE));
    assert_eq!(record.fallback_status, Some(StatusCode::OK));
}
