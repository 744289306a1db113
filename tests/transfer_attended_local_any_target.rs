//! A local attended transfer replaces a dialog: its Refer-To target needs no telephone number
//! (platforms often name the partner, `sip:partner@host?Replaces=..`). A blind one still does.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{PlatformReferTo, TransferAction, TransferAttempt, TransferRequest};
use handoff::vocab::StatusCode;
use transfer_support::*;

fn request(refer_to: &str, attended: bool) -> TransferRequest {
    let parsed = PlatformReferTo::parse(refer_to).expect("parses");
    TransferRequest {
        translated_replaces: attended.then(|| "c%40h%3Bto-tag%3Dt%3Bfrom-tag%3Df".to_string()),
        refer_to: parsed,
        ..blind_request("<sip:unused@x>")
    }
}

fn local() -> handoff::transfer::TransferSettings {
    settings(
        TransferMethod::Local,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    )
}

#[test]
fn attended_local_join_accepts_a_named_target() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        request(
            "<sip:partner@pbx?Replaces=c%40h%3Bto-tag%3Dt%3Bfrom-tag%3Df>",
            true,
        ),
        local(),
    );
    let actions = drain(&mut attempt);
    assert_eq!(
        actions[..3],
        [
            TransferAction::AnswerPlatform {
                status: StatusCode::ACCEPTED
            },
            // RFC 3515 section 2.4.4: the immediate NOTIFY of a REFER handoff accepts itself.
            TransferAction::NotifyPlatform {
                status: StatusCode::TRYING,
                subscription_ends: false
            },
            TransferAction::StartLocalJoin
        ]
    );
}

/// A blind target that is not a number needs a route (issue 10 item 4: `domain` or an
/// extension prefix, `tests/transfer_extension_target.rs`); without one it gets 404.
#[test]
fn blind_local_transfer_needs_a_number_or_a_route() {
    let mut attempt = TransferAttempt::start(ms(0), request("<sip:partner@pbx>", false), local());
    let actions = drain(&mut attempt);
    assert!(
        matches!(
            actions[0],
            TransferAction::RefusePlatform {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ),
        "{actions:?}"
    );
}
