//! The platform hangs up right after the 202 (some do within 300 ms). That must not end the
//! customer's leg before the carrier's BYE, and nothing more is sent to the departed platform.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn platform_bye_after_202_keeps_the_customer_leg_until_the_carrier_releases_it() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    drain(&mut attempt);

    attempt.on_transferor_bye(ms(250));
    assert_eq!(drain(&mut attempt), vec![], "no BYE toward the customer");
    assert!(!attempt.is_done());

    attempt.on_notify_sipfrag(ms(900), StatusCode::TRYING);
    attempt.on_notify_sipfrag(ms(2_000), StatusCode::OK);
    let actions = drain(&mut attempt);
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            TransferAction::RelayNotify { .. } | TransferAction::NotifyPlatform { .. }
        )),
        "no NOTIFY into a dialog the platform ended: {actions:?}"
    );

    attempt.on_bye_from_carrier(ms(2_100));
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![],
        "leg B is already gone"
    );
    assert_eq!(
        finished(&actions).map(|r| r.outcome),
        Some(TransferOutcome::HandedOff)
    );
}

#[test]
fn platform_gone_and_fallback_failed_releases_the_customer() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(100), StatusCode::FORBIDDEN);
    attempt.on_transferor_bye(ms(200));
    drain(&mut attempt);
    attempt.on_fallback_response(ms(900), StatusCode::TEMPORARILY_UNAVAILABLE, false);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![TransferAction::ReleaseCustomerLeg],
        "nobody is left to talk to the caller"
    );
}
