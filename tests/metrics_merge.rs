//! Per-shard metrics summed at read time, and the REFER success rate.

use handoff::config::TransferMethod;
use handoff::metrics::{ShardMetrics, TransferKey};
use handoff::transfer::{TransferKind, TransferOutcome, TransferRecord};
use handoff::vocab::StatusCode;

fn record(
    trunk: &str,
    method: TransferMethod,
    outcome: TransferOutcome,
    refer_status: Option<StatusCode>,
) -> TransferRecord {
    TransferRecord {
        record_type: "transfer",
        ts: "2026-11-21T12:00:00.000Z".to_owned(),
        conversation: "c".to_owned(),
        trunk: trunk.to_owned(),
        source: None,
        kind: TransferKind::Blind,
        method,
        target: "sip:5559876543@pbx".to_owned(),
        target_e164: Some("+15559876543".to_owned()),
        outcome,
        refer_status,
        notify_status: None,
        fallback_status: None,
        reason: handoff::transfer::TransferReason::CarrierBye,
        duration_ms: 1,
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
fn shards_sum_and_the_success_rate_counts_refer_transfers_only() {
    use TransferMethod::{Local, Refer};
    use TransferOutcome::{Cancelled, FallbackLocal, HandedOff};
    let mut shard0 = ShardMetrics::new();
    shard0.record_transfer(&record("a", Refer, HandedOff, Some(StatusCode::ACCEPTED)));
    shard0.record_transfer(&record("a", Refer, HandedOff, Some(StatusCode::ACCEPTED)));
    shard0.session_opened("a");
    shard0.session_opened("p");
    shard0.call_setup("a", "p", Some(StatusCode::OK));
    shard0.request_rejected(StatusCode::FORBIDDEN);

    let mut shard1 = ShardMetrics::new();
    shard1.record_transfer(&record(
        "a",
        Refer,
        FallbackLocal,
        Some(StatusCode::FORBIDDEN),
    ));
    shard1.record_transfer(&record("a", Refer, Cancelled, None));
    shard1.record_transfer(&record("b", Local, FallbackLocal, None));
    shard1.session_opened("a");
    shard1.call_setup("a", "p", Some(StatusCode::OK));
    shard1.call_setup("a", "p", Some(StatusCode::BUSY_HERE));
    shard1.request_rejected(StatusCode::FORBIDDEN);
    shard1.audit_write_failed();

    let mut total = ShardMetrics::new();
    total.merge(&shard0);
    total.merge(&shard1);

    let handed_off = TransferKey {
        trunk: "a".to_owned(),
        kind: "blind",
        method: "refer",
        outcome: TransferOutcome::HandedOff,
    };
    assert_eq!(total.transfers.get(&handed_off), Some(&2));
    assert_eq!(
        total.transfers_with_outcome(TransferOutcome::FallbackLocal),
        2
    );
    assert_eq!(
        total
            .refer_responses
            .get(&("a".to_owned(), StatusCode::ACCEPTED)),
        Some(&2)
    );
    assert_eq!(
        total
            .refer_responses
            .get(&("a".to_owned(), StatusCode::FORBIDDEN)),
        Some(&1)
    );
    assert_eq!(total.trunk_sessions_in_use.get("a"), Some(&2));
    assert_eq!(total.trunk_sessions_in_use.get("p"), Some(&1));
    assert_eq!(
        total.trunk_sessions_saved.get("a"),
        Some(&4),
        "2 per handoff"
    );
    assert_eq!(total.total_sessions_saved(), 4);
    let calls = |status| {
        total
            .calls
            .get(&("a".to_owned(), "p".to_owned(), Some(status)))
            .copied()
    };
    assert_eq!(calls(StatusCode::OK), Some(2));
    assert_eq!(calls(StatusCode::BUSY_HERE), Some(1));
    // The duration histogram sums too (every record took 1 ms here).
    assert_eq!(total.transfer_duration.count(), 5);
    assert_eq!(total.rejects.get(&StatusCode::FORBIDDEN), Some(&2));
    assert_eq!(total.audit_write_errors, 1);
    // 2 handed off of 3 REFER transfers (the cancelled one and the local-method one don't count).
    assert_eq!(total.refer_success_rate(), Some(2.0 / 3.0));
    assert_eq!(ShardMetrics::new().refer_success_rate(), None);

    // Merging is order-independent.
    let mut reversed = ShardMetrics::new();
    reversed.merge(&shard1);
    reversed.merge(&shard0);
    assert_eq!(reversed, total);
}
