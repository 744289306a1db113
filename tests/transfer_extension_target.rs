//! Issue 10, item 4: "Desk-phone targets are refused. `Refer-To: <sip:2002@pbx.local>` (an
//! extension) gets 400 `target_not_a_number`, even on a `transfer = "local"` trunk." A target
//! that is not E.164 but that the route table takes is transferred locally whatever the trunk's
//! method (carriers route E.164 only, so no REFER goes to them); one whose route ends at a trunk
//! with a destination policy is denied like a number outside it.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{
    ExtensionRoute, TransferAction, TransferAttempt, TransferOutcome, TransferRequest,
};
use handoff::vocab::StatusCode;
use transfer_support::*;

fn extension(route: ExtensionRoute) -> TransferRequest {
    TransferRequest {
        extension: route,
        ..blind_request("<sip:2002@pbx.local>")
    }
}

#[test]
fn a_routed_extension_is_transferred_locally_on_a_refer_trunk_too() {
    for method in [TransferMethod::Refer, TransferMethod::Local] {
        let mut attempt = TransferAttempt::start(
            ms(0),
            extension(ExtensionRoute::Routed),
            settings(method, ReferFailurePolicy::Reject, RingbackMode::Off),
        );
        let actions = drain(&mut attempt);
        assert_eq!(
            without_bookkeeping(&actions),
            vec![
                TransferAction::AnswerPlatform {
                    status: StatusCode::ACCEPTED
                },
                // RFC 3515 section 2.4.4: "The creation of a subscription as defined by [2]
                // always results in an immediate NOTIFY."
                TransferAction::NotifyPlatform {
                    status: StatusCode::TRYING,
                    subscription_ends: false
                },
                TransferAction::StartFallbackInvite {
                    target: "sip:2002@pbx.local".to_owned(),
                    target_e164: None,
                },
            ],
            "{method:?}"
        );
        attempt.on_fallback_response(ms(500), StatusCode::OK, true);
        let actions = drain(&mut attempt);
        let record = finished(&actions).expect("recorded");
        assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
        assert_eq!(record.reason, "local_target");
        assert_eq!(record.method, TransferMethod::Local);
        assert_eq!(record.target, "sip:2002@pbx.local");
    }
}

#[test]
fn an_extension_routed_to_a_trunk_with_a_destination_policy_is_denied() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        extension(ExtensionRoute::Denied),
        settings(
            TransferMethod::Local,
            ReferFailurePolicy::Local,
            RingbackMode::Off,
        ),
    );
    let actions = drain(&mut attempt);
    assert!(
        matches!(
            without_bookkeeping(&actions).as_slice(),
            [TransferAction::RefusePlatform {
                status: StatusCode::FORBIDDEN,
                ..
            }]
        ),
        "{actions:?}"
    );
    let record = finished(&actions).expect("recorded");
    assert_eq!(record.outcome, TransferOutcome::Denied);
    assert_eq!(record.reason, "target_not_allowed");
}

/// `sip:+19005551234@evil.example` is a number whatever its host: it goes to the carrier as
/// E.164 under the trunk's policy, never down the extension path.
#[test]
fn a_number_at_any_host_stays_a_number() {
    let mut attempt = TransferAttempt::start(
        ms(0),
        TransferRequest {
            extension: ExtensionRoute::Routed,
            ..blind_request("<sip:+1-900-555-1234@evil.example>")
        },
        settings(
            TransferMethod::Refer,
            ReferFailurePolicy::Local,
            RingbackMode::Off,
        ),
    );
    let actions = drain(&mut attempt);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            TransferAction::SendRefer { refer_to, .. } if refer_to == "<sip:+19005551234@carrier-a.example>"
        )),
        "{actions:?}"
    );
}
