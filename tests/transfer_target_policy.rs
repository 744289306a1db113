//! A trunk's transfer destination policy (`transfer_allow`, `transfer_deny`: E.164 prefixes, deny
//! wins, an empty allow list allows all) is checked on the normalised target before anything is
//! sent: a denied target gets 403 "transfer target not allowed" to the platform's REFER, no REFER
//! to the carrier and no local INVITE, the call stays as it was, and the audit says `denied`. The
//! toll-fraud case of the trust issue: premium numbers (+1900, +1976) named by a platform REFER.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TargetPolicy, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

fn policy(allow: &[&str], deny: &[&str]) -> TargetPolicy {
    TargetPolicy {
        allow: allow.iter().map(|p| p.to_string()).collect(),
        deny: deny.iter().map(|p| p.to_string()).collect(),
    }
}

fn attempt_with(
    targets: TargetPolicy,
    method: TransferMethod,
    refer_to: &str,
) -> Vec<TransferAction> {
    let mut settings = settings(method, ReferFailurePolicy::Local, RingbackMode::Local);
    settings.targets = targets;
    let mut attempt = TransferAttempt::start(ms(0), blind_request(refer_to), settings);
    drain(&mut attempt)
}

#[test]
fn a_denied_premium_number_is_refused_before_any_refer_or_invite() {
    for method in [TransferMethod::Refer, TransferMethod::Local] {
        let actions = attempt_with(
            policy(&[], &["+1900", "+1976"]),
            method,
            // A national number: normalised to +19005550199 before the check.
            "<sip:9005550199@platform.example>",
        );
        assert_eq!(
            without_bookkeeping(&actions),
            vec![TransferAction::RefusePlatform {
                status: StatusCode::FORBIDDEN,
                reason: "Forbidden (transfer target not allowed)"
            }],
            "{method:?}"
        );
        let record = finished(&actions).expect("recorded");
        assert_eq!(record.outcome, TransferOutcome::Denied);
        assert_eq!(record.reason, "target_not_allowed");
        assert_eq!(record.target_e164.as_deref(), Some("+19005550199"));
    }
}

#[test]
fn a_number_outside_the_allow_list_is_refused_and_deny_wins_over_allow() {
    let outside = attempt_with(
        policy(&["+1"], &[]),
        TransferMethod::Refer,
        "<sip:+442071234567@platform.example>",
    );
    assert_eq!(
        finished(&outside).map(|r| r.outcome),
        Some(TransferOutcome::Denied)
    );
    let denied_inside = attempt_with(
        policy(&["+1"], &["+1900"]),
        TransferMethod::Refer,
        "<sip:+19005550100@platform.example>",
    );
    assert_eq!(
        finished(&denied_inside).map(|r| r.outcome),
        Some(TransferOutcome::Denied)
    );
}

#[test]
fn an_allowed_number_is_referred_as_before() {
    let actions = attempt_with(
        policy(&["+1"], &["+1900"]),
        TransferMethod::Refer,
        "<sip:+15559876543@platform.example>",
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, TransferAction::SendRefer { .. })),
        "{actions:?}"
    );
    assert!(finished(&actions).is_none());
}
