//! Attended transfer: the translated Replaces rides in the carrier Refer-To ("refer" mode), or
//! handoff joins the two calls itself ("local" mode or after a failed REFER).

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{
    PlatformReferTo, TransferAction, TransferAttempt, TransferKind, TransferOutcome,
    TransferRequest,
};
use handoff::vocab::StatusCode;
use transfer_support::*;

/// Call 2 is B2 (platform -> handoff, platform is UAC: Call-ID p2call@platform, From tag pf2,
/// handoff's To tag hb2) bridged to A2 (handoff -> carrier, handoff is UAC: Call-ID
/// ha2@handoff, From tag ha2tag, the carrier's To tag cx2).
///
/// The platform's Refer-To names B2 for the INVITE's eventual receiver, handoff: to-tag = hb2.
/// The translated value handoff hands the attempt names A2 for its receiver, the carrier. Both
/// are written out here, not computed:
/// - RFC 3891 section 3: the receiver "matches the to-tag and from-tag parameters as if they
///   were tags present in an incoming request. In other words, the to-tag parameter is compared
///   to the local tag" — so toward the carrier, to-tag = cx2 (the carrier's own tag) and
///   from-tag = ha2tag;
/// - RFC 5589 section 7.5, F3: the escaped form
///   `?Replaces=090459243588173445%3Bto-tag%3D9m2n3wq%3Bfrom-tag%3D763231` (';' as %3B, '='
///   as %3D), and RFC 3515 section 2.1: `?Replaces=12345%40192.168.118.3%3B...` ('@' as %40).
const PLATFORM_REFER_TO: &str = "<sip:+15551230000@platform.example?Replaces=p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2>";
const REPLACES_FOR_CARRIER: &str = "ha2%40handoff%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2tag";

fn attended_request() -> TransferRequest {
    let refer_to = PlatformReferTo::parse(PLATFORM_REFER_TO).expect("parses");
    TransferRequest {
        translated_replaces: Some(REPLACES_FOR_CARRIER.to_string()),
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
    attempt.on_refer_response(ms(100), StatusCode::ACCEPTED);
    attempt.on_notify_sipfrag(ms(200), StatusCode::OK);
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
    attempt.on_refer_response(ms(100), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        without_bookkeeping(&drain(&mut attempt)),
        vec![
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            TransferAction::NotifyPlatform {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
            TransferAction::StartLocalJoin,
        ]
    );
    attempt.on_local_join_result(ms(600), StatusCode::OK);
    let actions = drain(&mut attempt);
    assert_eq!(
        without_bookkeeping(&actions),
        vec![
            TransferAction::NotifyPlatform {
                status: StatusCode::OK,
                subscription_ends: true
            },
            TransferAction::TearDownReplacedPlatformLeg,
        ]
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    assert_eq!(record.refer_status, Some(StatusCode::NOT_IMPLEMENTED));
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
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            TransferAction::NotifyPlatform {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
            TransferAction::StartLocalJoin,
        ]
    );
}
