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
        duration_ms: 1500,
        diagnostics: None,
        diagnostics_truncated: false,
        hook: None,
        jurisdiction_from: None,
        jurisdiction_to: None,
        ended_by: None,
        carrier_subscription_ended: false,
        linked_conversation: None,
        requester_trunk: None,
        request: None,
        answer_status: None,
        ringback_skipped: false,
    }
}

#[test]
fn renders_the_text_exposition_format() {
    let mut metrics = ShardMetrics::new();
    metrics.record_transfer(&handed_off("carrier \"a\""));
    metrics.session_opened("carrier \"a\"");
    metrics.call_setup("carrier \"a\"", "platform", Some(StatusCode::OK));
    metrics.call_setup("carrier \"a\"", "platform", None);
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
# HELP handoff_notify_final_total Final sipfrag status of the carriers' NOTIFYs for REFER handoffs, by carrier trunk and status code.
# TYPE handoff_notify_final_total counter
handoff_notify_final_total{trunk="carrier \"a\"",code="200"} 1
# HELP handoff_transfer_duration_seconds How long transfer attempts took, from the request to the outcome.
# TYPE handoff_transfer_duration_seconds histogram
handoff_transfer_duration_seconds_bucket{le="0.1"} 0
handoff_transfer_duration_seconds_bucket{le="0.25"} 0
handoff_transfer_duration_seconds_bucket{le="0.5"} 0
handoff_transfer_duration_seconds_bucket{le="1"} 0
handoff_transfer_duration_seconds_bucket{le="2.5"} 1
handoff_transfer_duration_seconds_bucket{le="5"} 1
handoff_transfer_duration_seconds_bucket{le="10"} 1
handoff_transfer_duration_seconds_bucket{le="30"} 1
handoff_transfer_duration_seconds_bucket{le="60"} 1
handoff_transfer_duration_seconds_bucket{le="120"} 1
handoff_transfer_duration_seconds_bucket{le="300"} 1
handoff_transfer_duration_seconds_bucket{le="+Inf"} 1
handoff_transfer_duration_seconds_sum 1.5
handoff_transfer_duration_seconds_count 1
# HELP handoff_trunk_sessions Trunk sessions currently up, per trunk.
# TYPE handoff_trunk_sessions gauge
handoff_trunk_sessions{trunk="carrier \"a\""} 1
# HELP handoff_trunk_sessions_saved_total Trunk sessions saved by handed-off transfers (2 per handoff), per carrier trunk.
# TYPE handoff_trunk_sessions_saved_total counter
handoff_trunk_sessions_saved_total{trunk="carrier \"a\""} 2
# HELP handoff_calls_total Calls by trunks and setup status (the final response to the INVITE; none: ended without one), counted when the status is known.
# TYPE handoff_calls_total counter
handoff_calls_total{from_trunk="carrier \"a\"",to_trunk="platform",status="none"} 1
handoff_calls_total{from_trunk="carrier \"a\"",to_trunk="platform",status="200"} 1
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
# HELP handoff_ringback_skipped_total Local ringback not sent because the customer's leg negotiated no G.711 codec, per carrier trunk.
# TYPE handoff_ringback_skipped_total counter
# HELP handoff_audit_write_errors_total Audit records that could not be written.
# TYPE handoff_audit_write_errors_total counter
handoff_audit_write_errors_total 0
"#;
    assert_eq!(metrics.render_prometheus(), expected);
}

/// Issue 11: no ratio that cannot be summed across nodes; the dashboards divide the counters.
#[test]
fn no_ratio_is_published() {
    let mut metrics = ShardMetrics::new();
    metrics.record_transfer(&handed_off("a"));
    let text = metrics.render_prometheus();
    assert!(!text.contains("_ratio"), "{text}");
    assert!(!text.contains("NaN"));
}

/// Zero-valued series for the configured trunks before any traffic: sessions for every trunk,
/// transfers (kinds x methods x outcomes) and sessions saved for carrier trunks.
#[test]
fn seeded_trunks_have_zero_series() {
    let mut metrics = ShardMetrics::new();
    metrics.seed_trunks(["carrier", "platform"], ["carrier"]);
    let text = metrics.render_prometheus();
    for line in [
        "handoff_trunk_sessions{trunk=\"carrier\"} 0",
        "handoff_trunk_sessions{trunk=\"platform\"} 0",
        "handoff_trunk_sessions_saved_total{trunk=\"carrier\"} 0",
        "handoff_transfers_total{trunk=\"carrier\",kind=\"blind\",method=\"refer\",outcome=\"handed_off\"} 0",
        "handoff_transfers_total{trunk=\"carrier\",kind=\"attended\",method=\"local\",outcome=\"failed\"} 0",
        "handoff_transfers_total{trunk=\"carrier\",kind=\"carrier_initiated\",method=\"refer\",outcome=\"relayed\"} 0",
        "handoff_ringback_skipped_total{trunk=\"carrier\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(!text.contains("trunk=\"platform\",kind"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("handoff_transfers_total{"))
            .count(),
        5 * TransferOutcome::ALL.len()
    );
    // Seeding adds nothing to what was counted.
    metrics.record_transfer(&handed_off("carrier"));
    metrics.seed_trunks(["carrier"], ["carrier"]);
    assert!(metrics.render_prometheus().contains(
        "handoff_transfers_total{trunk=\"carrier\",kind=\"blind\",method=\"refer\",outcome=\"handed_off\"} 1\n"
    ));
}

/// Histogram buckets are cumulative (monotonic), `+Inf` equals `_count`, `_sum` is in seconds.
#[test]
fn histograms_are_cumulative_in_seconds() {
    use handoff::metrics::{DurationHistogram, LOOP_TURN_BUCKETS};
    let mut histogram = DurationHistogram::new();
    for micros in [0, 7, 30, 30, 900, 4_000, 70_000, 2_000_000, 99_000_000_000] {
        histogram.record_micros(micros);
    }
    let mut text = String::new();
    histogram.render(&mut text, "x_seconds", "help", &LOOP_TURN_BUCKETS);
    let buckets: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("x_seconds_bucket{le=\""))
        .map(|l| {
            let (le, count) = l.split_once("\"} ").unwrap();
            (le.to_owned(), count.parse().unwrap())
        })
        .collect();
    assert_eq!(buckets.len(), LOOP_TURN_BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{text}");
    assert_eq!(buckets[0], ("0.00001".to_owned(), 2), "{text}");
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 9));
    assert!(text.contains("x_seconds_count 9\n"), "{text}");
    assert!(text.contains("x_seconds_sum 99002.074967\n"), "{text}");
    assert!(
        text.contains("x_seconds_bucket{le=\"0.005\"} 6\n"),
        "{text}"
    );
    assert!(text.contains("x_seconds_bucket{le=\"0.25\"} 7\n"), "{text}");
}

/// SIP methods map to a bounded set of label values.
#[test]
fn sip_methods_are_bounded() {
    use handoff::metrics::{SIP_METHODS, sip_method_index};
    let method = |p: &[u8]| SIP_METHODS[sip_method_index(p)];
    assert_eq!(method(b"INVITE sip:a@b SIP/2.0\r\n"), "INVITE");
    assert_eq!(method(b"NOTIFY sip:a@b SIP/2.0\r\n"), "NOTIFY");
    assert_eq!(method(b"SIP/2.0 486 Busy Here\r\n"), "response");
    assert_eq!(method(b"FOO sip:a@b SIP/2.0\r\n"), "other");
    assert_eq!(method(b"INVITEX sip:a@b SIP/2.0\r\n"), "other");
    assert_eq!(method(b"\x00\x01garbage"), "other");
    assert_eq!(method(b""), "other");
}
