//! Local ringback while the transfer is under way: "local" at once, "auto" only on a sipfrag 180
//! or a fallback 180 without SDP (early media is relayed instead), "off" never.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::TransferAction;
use handoff::vocab::StatusCode;
use transfer_support::*;

fn ringback_starts(actions: &[TransferAction]) -> usize {
    actions
        .iter()
        .filter(|a| **a == TransferAction::StartRingback)
        .count()
}

#[test]
fn local_mode_rings_as_soon_as_the_refer_goes_out() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
    );
    assert_eq!(ringback_starts(&drain(&mut attempt)), 1);
}

#[test]
fn auto_mode_waits_for_a_sipfrag_180() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
    );
    attempt.on_refer_response(ms(10), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(20), StatusCode::TRYING);
    assert_eq!(ringback_starts(&drain(&mut attempt)), 0);
    attempt.on_notify_sipfrag(ms(30), StatusCode::RINGING);
    attempt.on_notify_sipfrag(ms(40), StatusCode::RINGING);
    assert_eq!(
        ringback_starts(&drain(&mut attempt)),
        1,
        "started once, not per NOTIFY"
    );
    attempt.on_notify_sipfrag(ms(50), StatusCode::OK);
    attempt.on_bye_from_carrier(ms(60));
    assert!(drain(&mut attempt).contains(&TransferAction::StopRingback));
}

#[test]
fn auto_mode_relays_fallback_early_media_instead_of_ringing() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Local,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
    );
    assert_eq!(ringback_starts(&drain(&mut attempt)), 0);
    attempt.on_fallback_response(ms(100), StatusCode::RINGING, false);
    assert_eq!(ringback_starts(&drain(&mut attempt)), 1);
    attempt.on_fallback_response(ms(200), StatusCode::SESSION_PROGRESS, true);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::NotifyPlatform {
                status: StatusCode::SESSION_PROGRESS,
                subscription_ends: false
            },
            TransferAction::StopRingback,
            TransferAction::RelayFallbackEarlyMedia,
        ]
    );
}

#[test]
fn off_mode_never_rings() {
    let mut attempt = start_blind(
        ms(0),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    let mut all = drain(&mut attempt);
    attempt.on_refer_response(ms(10), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(20), StatusCode::RINGING);
    attempt.on_notify_sipfrag(ms(30), StatusCode::BUSY_HERE);
    attempt.on_fallback_response(ms(40), StatusCode::RINGING, false);
    attempt.on_fallback_response(ms(50), StatusCode::OK, false);
    all.extend(drain(&mut attempt));
    assert_eq!(ringback_starts(&all), 0);
    assert!(!all.contains(&TransferAction::StopRingback));
}
