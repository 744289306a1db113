//! The Prometheus text rendering of the summed counters.

use handoff::config::TransferMethod;
use handoff::metrics::{DropReason, ShardMetrics};
use handoff::transfer::{TransferKind, TransferOutcome, TransferRecord};
use handoff::vocab::StatusCode;

fn handed_off(trunk: &str) -> TransferRecord {
    TransferRecord {
        record_type: "transfer",
        ts: "2026-11-21T12:00:00.000Z".to_owned(),
        conversation: "c".to_owned(),
        trunk: trunk.to_owned(),
        source: None,
        kind: TransferKind::Blind,
        method: TransferMethod::Refer,
        target: "t".to_owned(),
        target_e164: None,
        outcome: TransferOutcome::HandedOff,
        refer_status: Some(StatusCode::ACCEPTED),
        notify_status: Some(StatusCode::OK),
        fallback_status: None,
        reason: handoff::transfer::TransferReason::CarrierBye,
        duration_ms: 1,
        diagnostics: None,
        diagnostics_truncated: false,
        hook: None,
    }
}

#[test]
fn renders_the_text_exposition_format() {
    let mut metrics = ShardMetrics::new();
    metrics.record_transfer(&handed_off("carrier \"a\""));
    metrics.session_opened("carrier \"a\"");
    metrics.call_started();
    metrics.request_rejected(StatusCode::NOT_FOUND);
    metrics.dropped(DropReason::ResponseFromWrongSource);
    metrics.dropped(DropReason::InDialogFromWrongPeer);
    metrics.dropped(DropReason::InDialogFromWrongPeer);
    metrics.call_ended("media_timeout");
    metrics.trunk_limited("carrier \"a\"", "max_calls");
    let expected = r#"# HELP handoff_transfers_total Transfer attempts by carrier trunk, kind (blind, attended, carrier_initiated), method and outcome.
# TYPE handoff_transfers_total counter
handoff_transfers_total{trunk="carrier \"a\"",kind="blind",method="refer",outcome="handed_off"} 1
# HELP handoff_refer_responses_total Final responses to REFERs sent to carriers, by carrier trunk and status code.
# TYPE handoff_refer_responses_total counter
handoff_refer_responses_total{trunk="carrier \"a\"",code="202"} 1
# HELP handoff_refer_success_ratio Handed-off REFER transfers over REFER transfers not cancelled by the caller.
# TYPE handoff_refer_success_ratio gauge
handoff_refer_success_ratio 1
# HELP handoff_trunk_sessions_in_use Trunk sessions currently up, per trunk.
# TYPE handoff_trunk_sessions_in_use gauge
handoff_trunk_sessions_in_use{trunk="carrier \"a\""} 1
# HELP handoff_trunk_sessions_saved_total Trunk sessions saved by handed-off transfers (2 per handoff), per carrier trunk.
# TYPE handoff_trunk_sessions_saved_total counter
handoff_trunk_sessions_saved_total{trunk="carrier \"a\""} 2
# HELP handoff_calls_total Calls accepted.
# TYPE handoff_calls_total counter
handoff_calls_total 1
# HELP handoff_rejects_total Requests refused before any call existed, by status code.
# TYPE handoff_rejects_total counter
handoff_rejects_total{code="404"} 1
# HELP handoff_dropped_total Datagrams dropped unanswered because they spoke for a call or transaction not theirs.
# TYPE handoff_dropped_total counter
handoff_dropped_total{reason="response_from_wrong_source"} 1
handoff_dropped_total{reason="in_dialog_from_wrong_peer"} 2
# HELP handoff_calls_ended_total Calls ended, by end reason (media_timeout, hold_timeout, max_duration, bye_from_a...).
# TYPE handoff_calls_ended_total counter
handoff_calls_ended_total{reason="media_timeout"} 1
# HELP handoff_trunk_limit_rejects_total New INVITEs refused with 503 by a trunk's max_calls or max_cps, per trunk and limit.
# TYPE handoff_trunk_limit_rejects_total counter
handoff_trunk_limit_rejects_total{trunk="carrier \"a\"",limit="max_calls"} 1
# HELP handoff_audit_write_errors_total Audit records that could not be written.
# TYPE handoff_audit_write_errors_total counter
handoff_audit_write_errors_total 0
"#;
    assert_eq!(metrics.render_prometheus(), expected);
}

#[test]
fn no_success_ratio_sample_before_any_refer() {
    let text = ShardMetrics::new().render_prometheus();
    assert!(text.contains("# TYPE handoff_refer_success_ratio gauge\n"));
    assert!(!text.contains("handoff_refer_success_ratio 0"), "{text}");
    assert!(!text.contains("NaN"));
}
