//! Per-shard counters, summed at read time.
//!
//! Each shard owns one [`ShardMetrics`] and updates it without locks. A reader (the admin
//! endpoint, a test) collects a snapshot from every shard and folds them with
//! [`ShardMetrics::merge`], then reads [`ShardMetrics::refer_success_rate`] or renders the
//! Prometheus text format with [`ShardMetrics::render_prometheus`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::transfer::record::{TransferKind, TransferOutcome, TransferRecord, method_str};
use crate::vocab::StatusCode;

/// Trunk sessions a handed-off transfer saves: the customer's session, released by the carrier,
/// plus the second one a tromboned transfer would have opened toward the target.
pub const SESSIONS_SAVED_PER_HANDOFF: u64 = 2;

/// Labels of the transfer counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferKey {
    pub trunk: String,
    /// `"blind"`, `"attended"` or `"carrier_initiated"`.
    pub kind: &'static str,
    /// `"refer"` or `"local"`.
    pub method: &'static str,
    pub outcome: TransferOutcome,
}

/// Why a datagram was dropped without an answer: it claimed to speak for a call or transaction
/// that is not its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A response from another address than the one its request went to.
    ResponseFromWrongSource,
    /// An in-dialog request (or ACK, CANCEL, retransmission) from outside the leg's bound peer,
    /// or with another remote tag than the leg's.
    InDialogFromWrongPeer,
    /// A request from an address that is no trunk (`sbc.unknown_source`: dropped, or answered
    /// with one stateless 403).
    UnknownSource,
    /// A datagram over `sbc.max_message_bytes` (a response, or a stranger's request; a trunk's
    /// request gets 513).
    TooLarge,
    /// A source over its `sbc.source_limit` budget, or banned for having been.
    RateLimited,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::ResponseFromWrongSource => "response_from_wrong_source",
            DropReason::InDialogFromWrongPeer => "in_dialog_from_wrong_peer",
            DropReason::UnknownSource => "unknown_source",
            DropReason::TooLarge => "too_large",
            DropReason::RateLimited => "rate_limited",
        }
    }
}

/// One shard's counters. Plain data: clone it to take a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardMetrics {
    /// Transfers by carrier trunk, method and outcome.
    pub transfers: BTreeMap<TransferKey, u64>,
    /// Final responses to handoff's REFERs, by (carrier trunk, status code).
    pub refer_responses: BTreeMap<(String, StatusCode), u64>,
    /// Trunk sessions (call legs toward a trunk) currently up, per trunk.
    pub trunk_sessions_in_use: BTreeMap<String, u64>,
    /// Trunk sessions saved by handed-off transfers, per carrier trunk.
    pub trunk_sessions_saved: BTreeMap<String, u64>,
    /// Calls accepted (initial INVITEs that created a call).
    pub calls: u64,
    /// Requests refused before any call existed, by status code.
    pub rejects: BTreeMap<StatusCode, u64>,
    /// Audit records that could not be written (the calls were not affected).
    pub audit_write_errors: u64,
    /// Datagrams dropped unanswered, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Calls ended, by end reason (`media_timeout`, `max_duration`, `bye_from_a`...).
    pub calls_ended: BTreeMap<&'static str, u64>,
    /// New INVITEs refused with 503 by a trunk limit, by (trunk, `max_calls` | `max_cps`).
    pub trunk_limited: BTreeMap<(String, &'static str), u64>,
}

impl ShardMetrics {
    pub fn new() -> ShardMetrics {
        ShardMetrics::default()
    }

    /// Counts a finished transfer: by trunk/method/outcome, its REFER's final response code, and
    /// the sessions it saved. The one call the call layer makes per [`TransferRecord`].
    pub fn record_transfer(&mut self, record: &TransferRecord) {
        if let Some(status) = record.refer_status {
            self.record_refer_response(&record.trunk, status);
        }
        let key = TransferKey {
            trunk: record.trunk.clone(),
            kind: TransferKind::as_str(record.kind),
            method: method_str(record.method),
            outcome: record.outcome,
        };
        *self.transfers.entry(key).or_default() += 1;
        if record.outcome == TransferOutcome::HandedOff {
            *self
                .trunk_sessions_saved
                .entry(record.trunk.clone())
                .or_default() += SESSIONS_SAVED_PER_HANDOFF;
        }
    }

    /// Counts a final response to a REFER handoff sent ([`ShardMetrics::record_transfer`] already
    /// counts the one in each record; use this only for REFERs outside a transfer attempt).
    pub fn record_refer_response(&mut self, trunk: &str, status: StatusCode) {
        *self
            .refer_responses
            .entry((trunk.to_owned(), status))
            .or_default() += 1;
    }

    pub fn session_opened(&mut self, trunk: &str) {
        *self
            .trunk_sessions_in_use
            .entry(trunk.to_owned())
            .or_default() += 1;
    }

    /// A session toward `trunk` ended. Never goes below zero.
    pub fn session_closed(&mut self, trunk: &str) {
        if let Some(count) = self.trunk_sessions_in_use.get_mut(trunk) {
            *count = count.saturating_sub(1);
        }
    }

    pub fn call_started(&mut self) {
        self.calls += 1;
    }

    /// A call ended for `reason` (its audit text).
    pub fn call_ended(&mut self, reason: &'static str) {
        *self.calls_ended.entry(reason).or_default() += 1;
    }

    /// A new INVITE refused by `trunk`'s `limit` (`"max_calls"` or `"max_cps"`).
    pub fn trunk_limited(&mut self, trunk: &str, limit: &'static str) {
        *self
            .trunk_limited
            .entry((trunk.to_owned(), limit))
            .or_default() += 1;
    }

    pub fn request_rejected(&mut self, status: StatusCode) {
        *self.rejects.entry(status).or_default() += 1;
    }

    pub fn dropped(&mut self, reason: DropReason) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    /// Datagrams dropped for `reason`.
    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    pub fn audit_write_failed(&mut self) {
        self.audit_write_errors += 1;
    }

    /// Adds `other`'s counters into `self` (summing shards at read time).
    pub fn merge(&mut self, other: &ShardMetrics) {
        fn add<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
            for (key, value) in from {
                *into.entry(key.clone()).or_default() += value;
            }
        }
        add(&mut self.transfers, &other.transfers);
        add(&mut self.refer_responses, &other.refer_responses);
        add(
            &mut self.trunk_sessions_in_use,
            &other.trunk_sessions_in_use,
        );
        add(&mut self.trunk_sessions_saved, &other.trunk_sessions_saved);
        add(&mut self.rejects, &other.rejects);
        add(&mut self.dropped, &other.dropped);
        add(&mut self.calls_ended, &other.calls_ended);
        add(&mut self.trunk_limited, &other.trunk_limited);
        self.calls += other.calls;
        self.audit_write_errors += other.audit_write_errors;
    }

    /// Total of one outcome over all trunks and methods.
    pub fn transfers_with_outcome(&self, outcome: TransferOutcome) -> u64 {
        self.transfers
            .iter()
            .filter(|(key, _)| key.outcome == outcome)
            .map(|(_, count)| count)
            .sum()
    }

    /// Handed-off transfers over the REFER transfers that reached an outcome other than the
    /// caller hanging up. `None` before any such transfer.
    pub fn refer_success_rate(&self) -> Option<f64> {
        let (mut handed_off, mut attempts) = (0u64, 0u64);
        for (key, count) in &self.transfers {
            if key.method != "refer" || key.outcome == TransferOutcome::Cancelled {
                continue;
            }
            attempts += count;
            if key.outcome == TransferOutcome::HandedOff {
                handed_off += count;
            }
        }
        (attempts > 0).then(|| handed_off as f64 / attempts as f64)
    }

    /// Total trunk sessions saved over all trunks.
    pub fn total_sessions_saved(&self) -> u64 {
        self.trunk_sessions_saved.values().sum()
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "handoff_transfers_total",
            "counter",
            "Transfer attempts by carrier trunk, kind (blind, attended, carrier_initiated), method and outcome.",
        );
        for (key, count) in &self.transfers {
            let _ = writeln!(
                out,
                "handoff_transfers_total{{trunk=\"{}\",kind=\"{}\",method=\"{}\",outcome=\"{}\"}} {count}",
                escape_label(&key.trunk),
                key.kind,
                key.method,
                key.outcome.as_str()
            );
        }
        header(
            &mut out,
            "handoff_refer_responses_total",
            "counter",
            "Final responses to REFERs sent to carriers, by carrier trunk and status code.",
        );
        for ((trunk, code), count) in &self.refer_responses {
            let _ = writeln!(
                out,
                "handoff_refer_responses_total{{trunk=\"{}\",code=\"{code}\"}} {count}",
                escape_label(trunk)
            );
        }
        header(
            &mut out,
            "handoff_refer_success_ratio",
            "gauge",
            "Handed-off REFER transfers over REFER transfers not cancelled by the caller.",
        );
        if let Some(rate) = self.refer_success_rate() {
            let _ = writeln!(out, "handoff_refer_success_ratio {rate}");
        }
        header(
            &mut out,
            "handoff_trunk_sessions_in_use",
            "gauge",
            "Trunk sessions currently up, per trunk.",
        );
        for (trunk, count) in &self.trunk_sessions_in_use {
            let _ = writeln!(
                out,
                "handoff_trunk_sessions_in_use{{trunk=\"{}\"}} {count}",
                escape_label(trunk)
            );
        }
        header(
            &mut out,
            "handoff_trunk_sessions_saved_total",
            "counter",
            "Trunk sessions saved by handed-off transfers (2 per handoff), per carrier trunk.",
        );
        for (trunk, count) in &self.trunk_sessions_saved {
            let _ = writeln!(
                out,
                "handoff_trunk_sessions_saved_total{{trunk=\"{}\"}} {count}",
                escape_label(trunk)
            );
        }
        header(
            &mut out,
            "handoff_calls_total",
            "counter",
            "Calls accepted.",
        );
        let _ = writeln!(out, "handoff_calls_total {}", self.calls);
        header(
            &mut out,
            "handoff_rejects_total",
            "counter",
            "Requests refused before any call existed, by status code.",
        );
        for (code, count) in &self.rejects {
            let _ = writeln!(out, "handoff_rejects_total{{code=\"{code}\"}} {count}");
        }
        header(
            &mut out,
            "handoff_dropped_total",
            "counter",
            "Datagrams dropped unanswered because they spoke for a call or transaction not theirs.",
        );
        for (reason, count) in &self.dropped {
            let _ = writeln!(
                out,
                "handoff_dropped_total{{reason=\"{}\"}} {count}",
                reason.as_str()
            );
        }
        header(
            &mut out,
            "handoff_calls_ended_total",
            "counter",
            "Calls ended, by end reason (media_timeout, hold_timeout, max_duration, bye_from_a...).",
        );
        for (reason, count) in &self.calls_ended {
            let _ = writeln!(
                out,
                "handoff_calls_ended_total{{reason=\"{reason}\"}} {count}"
            );
        }
        header(
            &mut out,
            "handoff_trunk_limit_rejects_total",
            "counter",
            "New INVITEs refused with 503 by a trunk's max_calls or max_cps, per trunk and limit.",
        );
        for ((trunk, limit), count) in &self.trunk_limited {
            let _ = writeln!(
                out,
                "handoff_trunk_limit_rejects_total{{trunk=\"{}\",limit=\"{limit}\"}} {count}",
                escape_label(trunk)
            );
        }
        header(
            &mut out,
            "handoff_audit_write_errors_total",
            "counter",
            "Audit records that could not be written.",
        );
        let _ = writeln!(
            out,
            "handoff_audit_write_errors_total {}",
            self.audit_write_errors
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn sessions_never_go_below_zero() {
        let mut metrics = ShardMetrics::new();
        metrics.session_closed("x");
        metrics.session_opened("x");
        metrics.session_closed("x");
        metrics.session_closed("x");
        assert_eq!(metrics.trunk_sessions_in_use.get("x"), Some(&0));
    }
}
