//! Per-shard counters, summed at read time.
//!
//! Each shard owns one [`ShardMetrics`] and updates it without locks. A reader (the admin
//! endpoint, a test) collects a snapshot from every shard and folds them with
//! [`ShardMetrics::merge`], then reads [`ShardMetrics::refer_success_rate`] or renders the
//! Prometheus text format with [`ShardMetrics::render_prometheus`]. The runtime's own counters
//! (SIP messages by method, RTP packets, the loop turn histogram) are [`RuntimeMetrics`],
//! published with the same snapshot and summed the same way.
//!
//! The text is written by hand rather than through the `prometheus-client` crate: every value
//! already lives in plain per-shard structs summed at read time, so a registry of atomics
//! would be a second copy to keep in step; the renderer is small and
//! `tests/runtime_admin_api.rs` checks its output with a strict exposition parser.
//! Conventions (issue 11): base units (`_seconds`, `_bytes`), counters end in `_total`, and
//! nothing is published that cannot be summed across nodes (no ratios: the counters a ratio
//! needs are published and dashboards divide).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

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
    /// Calls by (from trunk, to trunk, setup status): counted once the setup's final status is
    /// known (the answer, or the call's end before one). `None`: ended without any final status.
    pub calls: BTreeMap<(String, String, Option<StatusCode>), u64>,
    /// The carrier's final NOTIFY sipfrag status of REFER handoffs, by (carrier trunk, code).
    pub notify_final: BTreeMap<(String, StatusCode), u64>,
    /// How long transfer attempts took (the records' `duration_ms`).
    pub transfer_duration: DurationHistogram,
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
    /// Local ringback due but not sent, because the customer's leg negotiated no G.711 codec
    /// (RFC 3264), per carrier trunk.
    pub ringback_skipped: BTreeMap<String, u64>,
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
        // The carrier's final NOTIFY to handoff's own REFER (not a carrier's REFER relayed to
        // the platform, whose NOTIFYs come from the platform).
        if let Some(status) = record.notify_status
            && status.as_u16() >= 200
            && record.method == crate::config::TransferMethod::Refer
            && record.kind != TransferKind::CarrierInitiated
        {
            *self
                .notify_final
                .entry((record.trunk.clone(), status))
                .or_default() += 1;
        }
        self.transfer_duration
            .record_micros(record.duration_ms.saturating_mul(1000));
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

    /// A call's setup reached its final status (`None`: the call ended without one).
    pub fn call_setup(&mut self, from_trunk: &str, to_trunk: &str, status: Option<StatusCode>) {
        *self
            .calls
            .entry((from_trunk.to_owned(), to_trunk.to_owned(), status))
            .or_default() += 1;
    }

    /// Adds zero-valued series for the running configuration's trunks, so rates work from the
    /// first scrape: sessions for every trunk; transfers (every kind, method and outcome) and
    /// sessions saved for every carrier trunk.
    pub fn seed_trunks<'a>(
        &mut self,
        trunks: impl IntoIterator<Item = &'a str>,
        carriers: impl IntoIterator<Item = &'a str>,
    ) {
        for trunk in trunks {
            self.trunk_sessions_in_use
                .entry(trunk.to_owned())
                .or_default();
        }
        for trunk in carriers {
            self.trunk_sessions_saved
                .entry(trunk.to_owned())
                .or_default();
            self.ringback_skipped.entry(trunk.to_owned()).or_default();
            for (kind, method) in [
                ("blind", "refer"),
                ("blind", "local"),
                ("attended", "refer"),
                ("attended", "local"),
                ("carrier_initiated", "refer"),
            ] {
                for outcome in TransferOutcome::ALL {
                    let key = TransferKey {
                        trunk: trunk.to_owned(),
                        kind,
                        method,
                        outcome,
                    };
                    self.transfers.entry(key).or_default();
                }
            }
        }
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

    /// Ringback toward `trunk`'s customer was due, but the leg negotiated no G.711 codec.
    pub fn ringback_skipped(&mut self, trunk: &str) {
        *self.ringback_skipped.entry(trunk.to_owned()).or_default() += 1;
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
        add(&mut self.calls, &other.calls);
        add(&mut self.notify_final, &other.notify_final);
        add(&mut self.ringback_skipped, &other.ringback_skipped);
        self.transfer_duration.merge(&other.transfer_duration);
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
    /// caller hanging up (`cancelled`, `abandoned`). `None` before any such transfer.
    pub fn refer_success_rate(&self) -> Option<f64> {
        let (mut handed_off, mut attempts) = (0u64, 0u64);
        for (key, count) in &self.transfers {
            if key.method != "refer"
                || matches!(
                    key.outcome,
                    TransferOutcome::Cancelled | TransferOutcome::Abandoned
                )
            {
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
            "handoff_notify_final_total",
            "counter",
            "Final sipfrag status of the carriers' NOTIFYs for REFER handoffs, by carrier trunk and status code.",
        );
        for ((trunk, code), count) in &self.notify_final {
            let _ = writeln!(
                out,
                "handoff_notify_final_total{{trunk=\"{}\",code=\"{code}\"}} {count}",
                escape_label(trunk)
            );
        }
        self.transfer_duration.render(
            &mut out,
            "handoff_transfer_duration_seconds",
            "How long transfer attempts took, from the request to the outcome.",
            &TRANSFER_BUCKETS,
        );
        header(
            &mut out,
            "handoff_trunk_sessions",
            "gauge",
            "Trunk sessions currently up, per trunk.",
        );
        for (trunk, count) in &self.trunk_sessions_in_use {
            let _ = writeln!(
                out,
                "handoff_trunk_sessions{{trunk=\"{}\"}} {count}",
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
            "Calls by trunks and setup status (the final response to the INVITE; none: ended without one), counted when the status is known.",
        );
        for ((from, to, status), count) in &self.calls {
            let status = status.map_or_else(|| "none".to_owned(), |s| s.as_u16().to_string());
            let _ = writeln!(
                out,
                "handoff_calls_total{{from_trunk=\"{}\",to_trunk=\"{}\",status=\"{status}\"}} {count}",
                escape_label(from),
                escape_label(to)
            );
        }
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
            "handoff_ringback_skipped_total",
            "counter",
            "Local ringback not sent because the customer's leg negotiated no G.711 codec, per carrier trunk.",
        );
        for (trunk, count) in &self.ringback_skipped {
            let _ = writeln!(
                out,
                "handoff_ringback_skipped_total{{trunk=\"{}\"}} {count}",
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

/// Bucket bounds (seconds) of `handoff_transfer_duration_seconds`.
pub const TRANSFER_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Bucket bounds (seconds) of `handoff_shard_loop_turn_seconds`.
pub const LOOP_TURN_BUCKETS: [f64; 12] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
];

/// A duration histogram in microseconds (hdrhistogram, 2 significant digits, up to about 2.7
/// hours; longer values count at the top), with the exact sum beside it. Rendered as a
/// Prometheus histogram in seconds: a bucket's count includes the values hdrhistogram cannot
/// tell from its bound (within 1%).
#[derive(Clone, Debug)]
pub struct DurationHistogram {
    histogram: Histogram<u64>,
    sum_micros: u64,
}

impl DurationHistogram {
    const HIGHEST_MICROS: u64 = 10_000_000_000;

    pub fn new() -> DurationHistogram {
        DurationHistogram {
            histogram: Histogram::new_with_bounds(1, Self::HIGHEST_MICROS, 2)
                .expect("valid histogram bounds"),
            sum_micros: 0,
        }
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.histogram
            .saturating_record(micros.min(Self::HIGHEST_MICROS));
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// Values at or below `le` seconds (cumulative, as a Prometheus bucket).
    pub fn count_at_or_below(&self, le: f64) -> u64 {
        let micros = (le * 1e6).round() as u64;
        self.histogram
            .count_between(0, micros.min(Self::HIGHEST_MICROS))
    }

    pub fn merge(&mut self, other: &DurationHistogram) {
        let _ = self.histogram.add(&other.histogram);
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    /// `# HELP`, `# TYPE`, one `_bucket` per bound and `+Inf`, `_sum` and `_count`.
    pub fn render(&self, out: &mut String, name: &str, help: &str, bounds: &[f64]) {
        header(out, name, "histogram", help);
        for le in bounds {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{le}\"}} {}",
                self.count_at_or_below(*le)
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_seconds());
        let _ = writeln!(out, "{name}_count {count}");
    }
}

impl Default for DurationHistogram {
    fn default() -> Self {
        DurationHistogram::new()
    }
}

impl PartialEq for DurationHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.sum_micros == other.sum_micros && self.histogram == other.histogram
    }
}

impl Eq for DurationHistogram {}

/// The `method` label values of `handoff_sip_messages_total`: the methods handoff knows,
/// `response` for every response, `other` for any other request line (bounded).
pub const SIP_METHODS: [&str; 16] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "INFO",
    "UPDATE",
    "PRACK",
    "MESSAGE",
    "REGISTER",
    "PUBLISH",
    "response",
    "other",
];

/// The index in [`SIP_METHODS`] of a datagram's method, from its first bytes only (no parse).
pub fn sip_method_index(payload: &[u8]) -> usize {
    if payload.starts_with(b"SIP/2.0 ") {
        return 14;
    }
    let end = payload
        .iter()
        .take(10)
        .position(|&b| b == b' ')
        .unwrap_or(usize::MAX);
    let Some(token) = payload.get(..end) else {
        return 15;
    };
    SIP_METHODS[..14]
        .iter()
        .position(|m| m.as_bytes() == token)
        .unwrap_or(15)
}

/// RTP/RTCP counters of a shard's media relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtpCounters {
    /// Packets the relay received on its media sockets.
    pub received: u64,
    /// Packets it sent: relayed ones and ringback.
    pub sent: u64,
    /// Dropped: from outside the leg's allowed sources.
    pub foreign_source: u64,
    /// Dropped: from an allowed source that has not taken over the latch.
    pub unlatched_source: u64,
    /// Dropped: not RTP/RTCP.
    pub malformed: u64,
    /// Dropped: ringback plays toward the leg it was for.
    pub muted: u64,
    /// Dropped: the send batch was full.
    pub outbox_full: u64,
    /// Dropped: no call or no peer address (yet) to relay to.
    pub no_peer: u64,
}

impl RtpCounters {
    fn add(&mut self, other: &RtpCounters) {
        self.received += other.received;
        self.sent += other.sent;
        self.foreign_source += other.foreign_source;
        self.unlatched_source += other.unlatched_source;
        self.malformed += other.malformed;
        self.muted += other.muted;
        self.outbox_full += other.outbox_full;
        self.no_peer += other.no_peer;
    }
}

/// A shard runtime's counters (outside the sans-IO core): SIP datagrams by direction and
/// method, the relay's RTP counters, and how long loop turns take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeMetrics {
    /// Received SIP datagrams, by [`sip_method_index`].
    pub sip_received: [u64; SIP_METHODS.len()],
    /// Sent SIP datagrams, by [`sip_method_index`].
    pub sip_sent: [u64; SIP_METHODS.len()],
    pub rtp: RtpCounters,
    /// Loop turns: from the wake-up to the next sleep.
    pub loop_turn: DurationHistogram,
}

impl RuntimeMetrics {
    pub fn merge(&mut self, other: &RuntimeMetrics) {
        for i in 0..SIP_METHODS.len() {
            self.sip_received[i] += other.sip_received[i];
            self.sip_sent[i] += other.sip_sent[i];
        }
        self.rtp.add(&other.rtp);
        self.loop_turn.merge(&other.loop_turn);
    }

    /// Prometheus text of these counters (every series, zeros included).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "handoff_sip_messages_total",
            "counter",
            "SIP datagrams received and sent, by direction and method (response for responses, other for unknown methods).",
        );
        for (direction, counts) in [("in", &self.sip_received), ("out", &self.sip_sent)] {
            for (method, count) in SIP_METHODS.iter().zip(counts.iter()) {
                let _ = writeln!(
                    out,
                    "handoff_sip_messages_total{{direction=\"{direction}\",method=\"{method}\"}} {count}"
                );
            }
        }
        header(
            &mut out,
            "handoff_rtp_packets_total",
            "counter",
            "RTP/RTCP packets the media relay received (in) and sent (out: relayed and ringback).",
        );
        let rtp = &self.rtp;
        for (direction, count) in [("in", rtp.received), ("out", rtp.sent)] {
            let _ = writeln!(
                out,
                "handoff_rtp_packets_total{{direction=\"{direction}\"}} {count}"
            );
        }
        header(
            &mut out,
            "handoff_rtp_dropped_total",
            "counter",
            "RTP/RTCP packets the media relay dropped, by reason.",
        );
        for (reason, count) in [
            ("foreign_source", rtp.foreign_source),
            ("unlatched_source", rtp.unlatched_source),
            ("malformed", rtp.malformed),
            ("muted", rtp.muted),
            ("outbox_full", rtp.outbox_full),
            ("no_peer", rtp.no_peer),
        ] {
            let _ = writeln!(
                out,
                "handoff_rtp_dropped_total{{reason=\"{reason}\"}} {count}"
            );
        }
        self.loop_turn.render(
            &mut out,
            "handoff_shard_loop_turn_seconds",
            "Shard loop turns, from the wake-up to the next sleep (all shards).",
            &LOOP_TURN_BUCKETS,
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
    fn runtime_metrics_sum_and_render_every_series() {
        let mut shard0 = RuntimeMetrics::default();
        shard0.sip_received[sip_method_index(b"INVITE sip:x SIP/2.0\r\n")] += 1;
        shard0.sip_sent[sip_method_index(b"SIP/2.0 200 OK\r\n")] += 2;
        shard0.rtp.received = 10;
        shard0.rtp.no_peer = 1;
        shard0.loop_turn.record_micros(40);
        let mut shard1 = shard0.clone();
        shard1.rtp.foreign_source = 3;
        shard1.loop_turn.record_micros(3_000);
        let mut total = RuntimeMetrics::default();
        total.merge(&shard0);
        total.merge(&shard1);
        let text = total.render_prometheus();
        for line in [
            "handoff_sip_messages_total{direction=\"in\",method=\"INVITE\"} 2",
            "handoff_sip_messages_total{direction=\"out\",method=\"response\"} 4",
            "handoff_sip_messages_total{direction=\"out\",method=\"REFER\"} 0",
            "handoff_rtp_packets_total{direction=\"in\"} 20",
            "handoff_rtp_packets_total{direction=\"out\"} 0",
            "handoff_rtp_dropped_total{reason=\"foreign_source\"} 3",
            "handoff_rtp_dropped_total{reason=\"no_peer\"} 2",
            "handoff_shard_loop_turn_seconds_bucket{le=\"0.00005\"} 2",
            "handoff_shard_loop_turn_seconds_bucket{le=\"0.0025\"} 2",
            "handoff_shard_loop_turn_seconds_bucket{le=\"0.005\"} 3",
            "handoff_shard_loop_turn_seconds_bucket{le=\"+Inf\"} 3",
            "handoff_shard_loop_turn_seconds_sum 0.00308",
            "handoff_shard_loop_turn_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("handoff_sip_messages_total{"))
                .count(),
            2 * SIP_METHODS.len()
        );
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
