//! Attended transfer: the translated Replaces rides in the carrier Refer-To ("refer" mode), or
//! handoff joins the two calls itself ("local" mode or after a failed REFER).

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::dialog_ids::{DialogId, DialogIdForm, translate};
use handoff::transfer::{
    PlatformReferTo, TransferAction, TransferAttempt, TransferKind, TransferOutcome,
    TransferRequest,
};
use transfer_support::*;

/// Call 2 is B2 (platform -> handoff, platform is UAC) bridged to A2 (handoff -> carrier).
fn attended_request() -> TransferRequest {
    let refer_to = PlatformReferTo::parse(
        "<sip:+15551230000@platform.example?Replaces=p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2>",
    )
    .expect("parses");
    let b2 = DialogId::new("p2call@platform", "hb2", "pf2");
    let a2 = DialogId::new("ha2@handoff", "ha2tag", "cx2");
    let raw = refer_to.replaces_escaped().expect("has Replaces");
    let translated = translate(DialogIdForm::ReplacesInUri, raw, |seen| {
        (seen == &b2).then(|| a2.clone())
    })
    .into_owned();
    TransferRequest {
        translated_replaces: Some(translated),
        refer_to,
        ..blind_request("<sip:unused@x>")
    }
}

#[test]
fn refer_mode_sends_the_translated_replaces_to_the_carrier() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        attended_request(),
        settings(
            TransferMethod::Refer,
            ReferFailurePolicy::Local,
            RingbackMode::Off,
        ),
    );
    assert_eq!(attempt.kind(), TransferKind::Attended);
    let actions = drain(&mut attempt);
    let TransferAction::SendRefer { refer_to, .. } = &actions[0] else {
        panic!("expected SendRefer first, got {actions:?}");
    };
    assert_eq!(
        refer_to,
        "<sip:+15551230000@carrier-a.example?Replaces=ha2%40handoff%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2tag>"
    );
    attempt.on_refer_response(ms(100), 202);
    attempt.on_notify_sipfrag(ms(200), 200);
    attempt.on_bye_from_carrier(ms(300));
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.kind, TransferKind::Attended);
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
}

#[test]
fn failed_refer_joins_the_calls_locally() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        attended_request(),
        settings(
            TransferMethod::Refer,
            ReferFailurePolicy::Local,
            RingbackMode::Off,
        ),
    );
    drain(&mut attempt);
    attempt.on_refer_response(ms(100), 501);
    assert_eq!(
        without_bookkeeping(&drain(&mut attempt)),
        vec![
            TransferAction::AnswerPlatform { status: 202 },
            TransferAction::StartLocalJoin,
        ]
    );
    attempt.on_local_join_result(ms(600), 200);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::NotifyPlatform {
                status: 200,
                subscription_ends: true
            },
            TransferAction::TearDownReplacedPlatformLeg,
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.refer_status, Some(501));
}

#[test]
fn local_mode_joins_without_a_refer() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        attended_request(),
        settings(
            TransferMethod::Local,
            ReferFailurePolicy::Local,
            RingbackMode::Local,
        ),
    );
    assert_eq!(
        drain(&mut attempt),
        vec![
            TransferAction::AnswerPlatform { status: 202 },
            TransferAction::StartLocalJoin,
        ]
    );
}
