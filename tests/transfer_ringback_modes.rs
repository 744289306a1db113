//! Local ringback while the transfer is under way: "local" at once, "auto" only on a sipfrag 180
//! or a fallback 180 without SDP (early media is relayed instead), "off" never.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::TransferAction;
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
    attempt.on_refer_response(ms(10), 202);
    attempt.on_notify_sipfrag(ms(20), 100);
    assert_eq!(ringback_starts(&drain(&mut attempt)), 0);
    attempt.on_notify_sipfrag(ms(30), 180);
    attempt.on_notify_sipfrag(ms(40), 180);
    assert_eq!(
        ringback_starts(&drain(&mut attempt)),
        1,
        "started once, not per NOTIFY"
    );
    attempt.on_notify_sipfrag(ms(50), 200);
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
    attempt.on_fallback_response(ms(100), 180, false);
    assert_eq!(ringback_starts(&drain(&mut attempt)), 1);
    attempt.on_fallback_response(ms(200), 183, true);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::NotifyPlatform {
                status: 183,
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
    attempt.on_refer_response(ms(10), 202);
    attempt.on_notify_sipfrag(ms(20), 180);
    attempt.on_notify_sipfrag(ms(30), 486);
    attempt.on_fallback_response(ms(40), 180, false);
    attempt.on_fallback_response(ms(50), 200, false);
    all.extend(drain(&mut attempt));
    assert_eq!(ringback_starts(&all), 0);
    assert!(!all.contains(&TransferAction::StopRingback));
}
