//! The audit record serialises with exactly the issue's field names, nulls included.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn record_json_has_the_audit_fields() {
    let mut attempt = start_blind(
        ms(10_000),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(10_040), StatusCode::FORBIDDEN);
    attempt.on_fallback_response(ms(12_345), StatusCode::BUSY_HERE, false);
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(
        record.to_json(),
        concat!(
            r#"{"type":"transfer","ts":"2026-11-21T12:00:12.345Z","conversation":"conv-7","#,
            r#""trunk":"carrier-a","source":"192.0.2.7:5060","kind":"blind","method":"refer","#,
            r#""target":"sip:5559876543@platform.example","target_e164":"+15559876543","#,
            r#""outcome":"failed","refer_status":403,"notify_status":null,"fallback_status":486,"#,
            r#""reason":"fallback_failed","duration_ms":2345}"#
        )
    );
}

/// Issue 10's audit fields are additive: absent when empty (above), and with their names and
/// values when set: the requester's trunk, the kind of request, handoff's own answer, and
/// skipped ringback; `refused` and `replaced` outcomes.
#[test]
fn record_json_has_the_issue_10_audit_fields_when_set() {
    use handoff::transfer::{
        TransferKind, TransferOutcome, TransferReason, TransferRecord, TransferRequestKind,
    };
    let mut record = TransferRecord::immediate(
        "2026-12-05T07:00:00.000Z".to_owned(),
        String::new(),
        "platform".to_owned(),
        Some("192.0.2.9:5060".parse().expect("addr")),
        TransferKind::Blind,
        TransferMethod::Refer,
        "<sip:+15559870000@platform.example>".to_owned(),
        TransferOutcome::Refused,
        TransferReason::RequestRefused,
    );
    record.requester_trunk = Some("platform".to_owned());
    record.request = Some(TransferRequestKind::OutOfDialogRefer);
    record.answer_status = Some(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
    record.ringback_skipped = true;
    assert_eq!(
        record.to_json(),
        concat!(
            r#"{"type":"transfer","ts":"2026-12-05T07:00:00.000Z","conversation":"","#,
            r#""trunk":"platform","source":"192.0.2.9:5060","kind":"blind","method":"refer","#,
            r#""target":"<sip:+15559870000@platform.example>","target_e164":null,"#,
            r#""outcome":"refused","refer_status":null,"notify_status":null,"fallback_status":null,"#,
            r#""reason":"request_refused","duration_ms":0,"requester_trunk":"platform","#,
            r#""request":"out_of_dialog_refer","answer_status":481,"ringback_skipped":true}"#
        )
    );
    record.outcome = TransferOutcome::Replaced;
    record.reason = TransferReason::LegReplaced;
    record.request = Some(TransferRequestKind::InviteReplaces);
    let json = record.to_json();
    assert!(
        json.contains(r#""outcome":"replaced""#)
            && json.contains(r#""reason":"leg_replaced""#)
            && json.contains(r#""request":"invite_replaces""#),
        "{json}"
    );
}
