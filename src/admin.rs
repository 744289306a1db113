//! The admin HTTP listener (`sbc.admin`, default `127.0.0.1:9090`): `GET /metrics` (Prometheus
//! text), `GET /status` and `GET /calls` (JSON), `GET /transfers` (the recent transfer records,
//! JSON, filtered by `outcome`, `since`, `trunk`, `limit`), `GET /` (the dashboard: one
//! self-contained HTML page that reads the other endpoints), `GET /healthz` (alive: 200 while
//! the process answers) and `GET /readyz` (200 while it takes new calls; 503 once it drains or a
//! shard stopped, so a load balancer moves traffic away before the calls are ended).
//!
//! It runs on its own thread, never on a shard, with `tiny_http` (a small, blocking HTTP/1.1
//! server: no async runtime to bring into a process whose shards run their own event loops).
//! It never sends a shard a query: each shard publishes a [`ShardSnapshot`] (its counters)
//! between loop turns, at most every `SNAPSHOT_EVERY`, by swapping an `Arc` in its
//! [`ShardStatus`]; a request reads the latest of each shard's and sums them. The live calls
//! cost a walk of every call, so a shard lists them only when a request raises its
//! `calls_wanted` flag (at most every `CALLS_REBUILT_EVERY`). No lock is taken
//! on the packet or signalling path, and a slow or hostile HTTP client costs the shards
//! nothing. Transfer records reach the admin thread without a lock as well: each shard
//! `force_push`es a copy of every record into its
//! [`TransferFeed`](crate::runtime::shard::TransferFeed) (a lock-free bounded queue);
//! the admin thread drains the feeds into its own [`TransferHistory`] (the newest
//! [`TransferHistory::CAPACITY`] records) when it serves `/transfers` or `/`.
//!
//! Security: loopback by default. A non-loopback `sbc.admin` needs `sbc.admin_token` (the
//! config refuses it otherwise); when a token is set every request must carry
//! `Authorization: Bearer <token>`, or gets 401.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response};

use crate::audit::AuditCounters;
use crate::config::Config;
use crate::core::call::LiveCall;
use crate::metrics::{RuntimeMetrics, ShardMetrics};
use crate::runtime::queues::ShardMesh;
use crate::runtime::shard::{ShardSnapshot, ShardStatus};
use crate::transfer::record::unix_ms_from_rfc3339;
use crate::transfer::{TransferOutcome, TransferRecord};

/// The dashboard served at `GET /`: HTML, CSS and script in one file, no external resource.
pub const DASHBOARD_HTML: &str = include_str!("admin/dashboard.html");

/// The running configuration as `/status` reports it (swapped on reload).
#[derive(Debug)]
pub struct RunningConfig {
    pub config: Arc<Config>,
    /// The file it was read from (`None`: the embedded default, or built in code).
    pub file: Option<String>,
}

/// What the admin thread reads: shared with the server, never with a shard's hot path.
pub struct AdminState {
    pub running: ArcSwap<RunningConfig>,
    pub statuses: Vec<Arc<ShardStatus>>,
    pub mesh: Arc<ShardMesh>,
    /// To wake a shard after putting a message on its control queue (`DELETE /calls/...`).
    pub wakers: Vec<Arc<crate::runtime::backend::ShardWaker>>,
    pub audit: Arc<AuditCounters>,
    pub started: Instant,
    /// The recent transfer records, filled from the shards' feeds by the admin thread.
    pub transfers: Mutex<TransferHistory>,
    /// The last OPTIONS result per trunk (`sbc.options_interval_s`), written by the prober
    /// thread (`crate::server`), read here: never on a shard's path.
    pub trunk_options: Mutex<BTreeMap<String, TrunkOptions>>,
    /// The I/O backend configured and the one chosen at start-up (`/status` `io`).
    pub io: IoDoc,
    /// Which shard reads a SIP datagram, as set up at start-up (`/status` `sip_steering`).
    pub sip_steering: SteeringDoc,
}

/// `/status` `sip_steering`: `sbc.sip_steering` as configured, the mode in effect (`"cpu"`,
/// `"hash"`, or `"single"` with one shard; `"hash"` also when the kernel refused the program),
/// and the start-up line's words.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SteeringDoc {
    pub configured: &'static str,
    pub mode: &'static str,
    pub detail: String,
}

/// `/status` `io`: `sbc.io` as configured, the backend the shards run on, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IoDoc {
    /// "auto", "uring" or "epoll".
    pub configured: &'static str,
    /// "uring" or "epoll".
    pub chosen: &'static str,
    /// Why: "configured", or what `auto` found ("io_uring refused by ...", "all features",
    /// "without: bind, multishot").
    pub detail: String,
}

/// A trunk's last OPTIONS result (`/status` `trunks[].options`, `handoff_trunk_up`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TrunkOptions {
    /// It answered with a 2xx.
    pub up: bool,
    /// The final status it answered (null: no answer within the round).
    pub status: Option<u16>,
    pub rtt_ms: Option<f64>,
    /// Allow lists REFER (null: no answer, or no Allow header).
    pub refer: Option<bool>,
    pub replaces: Option<bool>,
    pub tdialog: Option<bool>,
    pub norefersub: Option<bool>,
    /// When the round that gave this result ended, Unix milliseconds.
    pub checked_unix_ms: u64,
}

impl TrunkOptions {
    pub fn from_probe(result: &crate::probe::ProbeResult, checked_unix_ms: u64) -> TrunkOptions {
        let answer = result.answer.as_ref();
        TrunkOptions {
            up: answer.is_some_and(|a| a.status.is_success()),
            status: answer.map(|a| a.status.as_u16()),
            rtt_ms: result.rtt.map(|d| d.as_secs_f64() * 1e3),
            refer: answer.and_then(|a| a.allows_refer),
            replaces: answer.map(|a| a.replaces),
            tdialog: answer.map(|a| a.tdialog),
            norefersub: answer.map(|a| a.norefersub),
            checked_unix_ms,
        }
    }
}

/// The newest transfer records over all shards, newest last (the admin thread's own copy).
#[derive(Debug, Default)]
pub struct TransferHistory {
    records: VecDeque<Arc<TransferRecord>>,
}

impl TransferHistory {
    /// Records kept in memory; `/transfers` and the dashboard see no older ones.
    pub const CAPACITY: usize = 1024;

    /// Takes what the shards published since the last call, oldest first by `ts` (each shard's
    /// feed is in order; shards interleave), dropping the oldest beyond [`Self::CAPACITY`].
    pub fn collect(&mut self, statuses: &[Arc<ShardStatus>]) {
        let mut fresh = Vec::new();
        for status in statuses {
            while let Some(record) = status.transfers.pop() {
                fresh.push(record);
            }
        }
        // RFC 3339 UTC with milliseconds, one fixed width: text order is time order.
        fresh.sort_by(|a, b| a.ts.cmp(&b.ts));
        self.records.extend(fresh);
        while self.records.len() > Self::CAPACITY {
            self.records.pop_front();
        }
    }

    /// The records `query` selects, newest first.
    pub fn select(&self, query: &TransferQuery) -> Vec<Arc<TransferRecord>> {
        self.records
            .iter()
            .rev()
            .filter(|r| query.matches(r))
            .take(query.limit)
            .cloned()
            .collect()
    }
}

/// Which outcomes `/transfers?outcome=` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFilter {
    Is(TransferOutcome),
    /// Every outcome but `handed_off`: the carrier did not take the call (fallbacks included).
    NotHandedOff,
}

/// The parameters of `GET /transfers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferQuery {
    /// Any of these (comma-separated in the query); empty: every outcome.
    pub outcomes: Vec<OutcomeFilter>,
    /// Records whose `ts` is at or after this instant (Unix milliseconds).
    pub since_ms: Option<u64>,
    pub trunk: Option<String>,
    pub limit: usize,
}

impl TransferQuery {
    /// Records returned when the query has no `limit`.
    pub const DEFAULT_LIMIT: usize = 100;

    /// Parses the query string (after `?`; percent-encoding decoded, `+` kept as is so an
    /// offset such as `+01:00` survives). Unknown or malformed parameters are errors, with a
    /// message meant for the client.
    pub fn parse(query: &str) -> Result<TransferQuery, String> {
        let mut parsed = TransferQuery {
            outcomes: Vec::new(),
            since_ms: None,
            trunk: None,
            limit: Self::DEFAULT_LIMIT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| format!("{name}: bad percent-encoding in {value:?}"))?;
            match name {
                "outcome" => {
                    for word in value.split(',') {
                        let filter = if word == "not_handed_off" {
                            OutcomeFilter::NotHandedOff
                        } else if let Some(outcome) = TransferOutcome::ALL
                            .into_iter()
                            .find(|o| o.as_str() == word)
                        {
                            OutcomeFilter::Is(outcome)
                        } else {
                            let names: Vec<&str> =
                                TransferOutcome::ALL.iter().map(|o| o.as_str()).collect();
                            return Err(format!(
                                "outcome: {word:?} is not one of {}, not_handed_off",
                                names.join(", ")
                            ));
                        };
                        parsed.outcomes.push(filter);
                    }
                }
                "since" => {
                    let ms = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                        value.parse::<u64>().ok()
                    } else {
                        unix_ms_from_rfc3339(&value)
                    };
                    parsed.since_ms = Some(ms.ok_or_else(|| {
                        format!(
                            "since: {value:?} is neither an RFC 3339 time (2026-12-05T04:00:00Z) \
                             nor Unix milliseconds"
                        )
                    })?);
                }
                "trunk" if !value.is_empty() => parsed.trunk = Some(value),
                "trunk" => return Err("trunk: empty".to_owned()),
                "limit" => {
                    parsed.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=TransferHistory::CAPACITY).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "limit: {value:?} is not a number from 1 to {}",
                                TransferHistory::CAPACITY
                            )
                        })?;
                }
                _ => {
                    return Err(format!(
                        "unknown parameter {name:?} (known: outcome, since, trunk, limit)"
                    ));
                }
            }
        }
        Ok(parsed)
    }

    pub fn matches(&self, record: &TransferRecord) -> bool {
        let outcome = self.outcomes.is_empty()
            || self.outcomes.iter().any(|f| match f {
                OutcomeFilter::Is(o) => record.outcome == *o,
                OutcomeFilter::NotHandedOff => record.outcome != TransferOutcome::HandedOff,
            });
        let since = self
            .since_ms
            .is_none_or(|since| unix_ms_from_rfc3339(&record.ts).is_some_and(|ts| ts >= since));
        let trunk = self.trunk.as_ref().is_none_or(|t| *t == record.trunk);
        outcome && since && trunk
    }
}

/// `%XX` decoded (UTF-8); `None` on a malformed escape or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How long a request for the live calls waits for the shards to list them (a shard busy
/// past this serves its previous list).
pub const CALLS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl AdminState {
    /// Every shard's published counters, summed.
    pub fn metrics(&self) -> ShardMetrics {
        let mut total = ShardMetrics::new();
        for status in &self.statuses {
            total.merge(&status.snapshot.load().metrics);
        }
        total
    }

    /// Every shard's runtime counters (SIP messages, RTP, loop turns), summed.
    pub fn runtime_metrics(&self) -> RuntimeMetrics {
        let mut total = RuntimeMetrics::default();
        for status in &self.statuses {
            total.merge(&status.snapshot.load().runtime);
        }
        total
    }

    /// Every shard's snapshot with its live calls listed after this request: asks each shard
    /// to walk its calls (it does so only when asked), wakes it, and waits until each has
    /// published, or has stopped, or [`CALLS_WAIT`] passed (then the last lists serve).
    fn fresh_snapshots(&self) -> Vec<arc_swap::Guard<Arc<ShardSnapshot>>> {
        let before: Vec<u64> = self
            .statuses
            .iter()
            .map(|s| s.snapshot.load().calls_built)
            .collect();
        for (shard, status) in self.statuses.iter().enumerate() {
            status.calls_wanted.store(true, Ordering::Release);
            if let Some(waker) = self.wakers.get(shard) {
                waker.wake();
            }
        }
        let deadline = Instant::now() + CALLS_WAIT;
        loop {
            let snapshots: Vec<_> = self.statuses.iter().map(|s| s.snapshot.load()).collect();
            let all_fresh = snapshots.iter().zip(&before).zip(&self.statuses).all(
                |((snapshot, before), status)| {
                    snapshot.calls_built > *before || status.stopped.load(Ordering::Relaxed)
                },
            );
            if all_fresh || Instant::now() >= deadline {
                return snapshots;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    pub fn active_calls(&self) -> usize {
        self.statuses
            .iter()
            .map(|s| s.active_calls.load(Ordering::Relaxed))
            .sum()
    }

    /// Asks the shard that holds the call with this conversation id to end it (BYE on its
    /// legs, `end_reason = "ended_by_operator"`). False when no live call has that id in the
    /// shards' latest snapshots.
    pub fn end_call(&self, conversation: &str) -> bool {
        let shard = self.fresh_snapshots().iter().position(|snapshot| {
            snapshot
                .calls
                .iter()
                .any(|call| call.conversation == conversation)
        });
        let Some(shard) = shard else {
            return false;
        };
        let message = crate::core::ShardMessage::EndCall {
            conversation: conversation.to_owned(),
        };
        if self.mesh.push_control(shard, message).is_err() {
            tracing::error!(shard, "control queue full; the call was not ended");
            return false;
        }
        if let Some(waker) = self.wakers.get(shard) {
            waker.wake();
        }
        tracing::info!(shard, %conversation, "admin API: ending the call");
        true
    }

    /// Taking new calls: no shard drains or has stopped.
    pub fn ready(&self) -> bool {
        self.statuses
            .iter()
            .all(|s| !s.draining.load(Ordering::Relaxed) && !s.stopped.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition (version 0.0.4) of every counter handoff keeps.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP handoff_build_info The running build: version and git commit (value 1)."
        );
        let _ = writeln!(out, "# TYPE handoff_build_info gauge");
        let _ = writeln!(
            out,
            "handoff_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            crate::BUILD_COMMIT
        );
        out.push_str(&process_metrics());
        {
            let options = self.trunk_options.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(
                out,
                "# HELP handoff_trunk_up 1 when the trunk answered the last OPTIONS with 2xx (sbc.options_interval_s)."
            );
            let _ = writeln!(out, "# TYPE handoff_trunk_up gauge");
            for (trunk, result) in options.iter() {
                let _ = writeln!(
                    out,
                    "handoff_trunk_up{{trunk=\"{}\"}} {}",
                    crate::metrics::escape_label(trunk),
                    u8::from(result.up)
                );
            }
        }
        let mut metrics = self.metrics();
        // Zero-valued series for the configured trunks, so rates work from the first scrape.
        let running = self.running.load();
        let trunks = &running.config.trunks;
        metrics.seed_trunks(
            trunks.iter().map(|t| t.name.as_str()),
            trunks
                .iter()
                .filter(|t| t.role == crate::config::TrunkRole::Carrier)
                .map(|t| t.name.as_str()),
        );
        out.push_str(&metrics.render_prometheus());
        out.push_str(&self.runtime_metrics().render_prometheus());
        out.push_str(&self.audit.render_prometheus());
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        };
        gauge(
            &mut out,
            "handoff_calls_active",
            "Calls up now, over all shards.",
            self.active_calls() as u64,
        );
        let sum = |f: fn(&ShardStatus) -> u64| self.statuses.iter().map(|s| f(s)).sum::<u64>();
        for (name, help, value) in [
            (
                "handoff_media_open_failures_total",
                "Media port sets that could not be opened.",
                sum(|s| s.media_open_failures.load(Ordering::Relaxed)),
            ),
            (
                "handoff_shard_queue_full_drops_total",
                "Shard-to-shard messages dropped because the receiving queue was full.",
                sum(|s| s.queue_full_drops.load(Ordering::Relaxed)),
            ),
            (
                "handoff_hep_sent_total",
                "HEP packets sent to the collector (sbc.hep).",
                sum(|s| s.hep_sent.load(Ordering::Relaxed)),
            ),
            (
                "handoff_hep_dropped_total",
                "HEP packets dropped: the socket would block or refused them, a turn's queue was full, or too large.",
                sum(|s| s.hep_dropped.load(Ordering::Relaxed)),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        // Per shard: who reads (sbc.sip_steering) against who owns (the Call-ID's hash).
        let snapshots: Vec<_> = self.statuses.iter().map(|s| s.snapshot.load()).collect();
        type Read = fn(&ShardSnapshot) -> u64;
        let per_shard: [(&str, &str, Read); 3] = [
            (
                "handoff_shard_sip_datagrams_read_total",
                "SIP datagrams read from the shard's own SIP socket (which shard reads is sbc.sip_steering's choice).",
                |s| s.runtime.sip_received.iter().sum(),
            ),
            (
                "handoff_shard_sip_datagrams_passed_total",
                "SIP datagrams the shard read and passed on to the shard that owns their call.",
                |s| s.stats.forwarded_to_other_shard,
            ),
            (
                "handoff_shard_calls_started_total",
                "Calls the shard owns (started there; their media ports come from its pool).",
                |s| s.stats.calls_started,
            ),
        ];
        for (name, help, read) in per_shard {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (shard, snapshot) in snapshots.iter().enumerate() {
                let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", read(snapshot));
            }
        }
        out
    }

    pub fn status(&self) -> StatusDoc {
        let running = self.running.load();
        let metrics = self.metrics();
        let options = self
            .trunk_options
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Live calls per trunk: a call counts once for each trunk it has a leg on.
        let mut trunk_calls: std::collections::BTreeMap<&str, usize> = Default::default();
        let snapshots = self.fresh_snapshots();
        for snapshot in &snapshots {
            for call in snapshot.calls.iter() {
                let mut trunks: Vec<&str> = call.legs.iter().map(|l| l.trunk.as_str()).collect();
                trunks.sort_unstable();
                trunks.dedup();
                for trunk in trunks {
                    *trunk_calls.entry(trunk).or_default() += 1;
                }
            }
        }
        StatusDoc {
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: self.started.elapsed().as_secs(),
            config: ConfigDoc {
                file: running.file.clone(),
                hash: config_hash(&running.config),
            },
            calls_active: self.active_calls(),
            io: self.io.clone(),
            sip_steering: self.sip_steering.clone(),
            shards: self
                .statuses
                .iter()
                .enumerate()
                .map(|(shard, s)| ShardDoc {
                    shard,
                    calls: s.active_calls.load(Ordering::Relaxed),
                    calls_ended: s.calls_ended.load(Ordering::Relaxed),
                    queue_depth: self.mesh.inbound_depth(shard),
                    draining: s.draining.load(Ordering::Relaxed),
                    stopped: s.stopped.load(Ordering::Relaxed),
                    cpu_seconds: thread_cpu_seconds(s.thread_id.load(Ordering::Relaxed)),
                })
                .collect(),
            top_dropped_sources: top_dropped_sources(&snapshots),
            trunks: running
                .config
                .trunks
                .iter()
                .map(|t| TrunkDoc {
                    name: t.name.clone(),
                    role: t.role.as_str(),
                    calls: trunk_calls.get(t.name.as_str()).copied().unwrap_or(0),
                    sessions: metrics
                        .trunk_sessions_in_use
                        .get(&t.name)
                        .copied()
                        .unwrap_or(0),
                    max_calls: t.limits.max_calls,
                    max_cps: t.limits.max_cps,
                    options: options.get(&t.name).cloned(),
                })
                .collect(),
        }
    }

    /// The recent transfer records `query` selects, newest first (collecting what the shards
    /// published since the last request).
    pub fn transfers(&self, query: &TransferQuery) -> Vec<Arc<TransferRecord>> {
        let mut history = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        history.collect(&self.statuses);
        history.select(query)
    }

    pub fn calls(&self) -> Vec<CallDoc> {
        let mut calls = Vec::new();
        for (shard, snapshot) in self.fresh_snapshots().iter().enumerate() {
            for call in snapshot.calls.iter() {
                calls.push(CallDoc {
                    shard,
                    call: call.clone(),
                });
            }
        }
        calls
    }
}

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub version: &'static str,
    pub uptime_s: u64,
    pub config: ConfigDoc,
    pub calls_active: usize,
    pub io: IoDoc,
    pub sip_steering: SteeringDoc,
    pub shards: Vec<ShardDoc>,
    pub trunks: Vec<TrunkDoc>,
    /// The sources whose datagrams were dropped most (strangers, floods, wrong peers).
    pub top_dropped_sources: Vec<DroppedSourceDoc>,
}

#[derive(Debug, Serialize)]
pub struct ConfigDoc {
    pub file: Option<String>,
    /// FNV-1a 64 of the running configuration (as parsed, so a reload that changes nothing
    /// keeps it), in hex.
    pub hash: String,
}

#[derive(Debug, Serialize)]
pub struct ShardDoc {
    pub shard: usize,
    pub calls: usize,
    pub calls_ended: u64,
    /// Messages waiting in the shard's inbound queues (from peers and the control thread).
    pub queue_depth: usize,
    pub draining: bool,
    pub stopped: bool,
    /// CPU time the shard thread has used (user + system), from /proc.
    pub cpu_seconds: Option<f64>,
}

/// A source IP and how many of its datagrams were dropped (all shards).
#[derive(Debug, Serialize)]
pub struct DroppedSourceDoc {
    pub source: std::net::IpAddr,
    pub dropped: u64,
}

/// The ten sources with the most dropped datagrams over all shards' published top lists.
fn top_dropped_sources(
    snapshots: &[arc_swap::Guard<Arc<crate::runtime::shard::ShardSnapshot>>],
) -> Vec<DroppedSourceDoc> {
    let mut total: BTreeMap<std::net::IpAddr, u64> = BTreeMap::new();
    for snapshot in snapshots {
        for (ip, n) in &snapshot.dropped_sources {
            *total.entry(*ip).or_insert(0) += n;
        }
    }
    let mut top: Vec<DroppedSourceDoc> = total
        .into_iter()
        .map(|(source, dropped)| DroppedSourceDoc { source, dropped })
        .collect();
    top.sort_by_key(|d| std::cmp::Reverse(d.dropped));
    top.truncate(crate::runtime::shard::TOP_DROPPED_SOURCES);
    top
}

/// A thread's user + system CPU seconds from `/proc/self/task/<tid>/stat` (fields 14 and 15).
fn thread_cpu_seconds(tid: u64) -> Option<f64> {
    if tid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let (_, per_second) = crate::runtime::host::page_size_and_clock_ticks();
    Some((ticks(11)? + ticks(12)?) / per_second.max(1) as f64)
}

#[derive(Debug, Serialize)]
pub struct TrunkDoc {
    pub name: String,
    pub role: &'static str,
    /// Live calls with a leg on this trunk (as of the shards' last snapshots).
    pub calls: usize,
    /// Trunk sessions (legs toward this trunk) up now.
    pub sessions: u64,
    /// 0 = unlimited.
    pub max_calls: u32,
    pub max_cps: u32,
    /// The last OPTIONS round's result (null: probing off, or no round yet).
    pub options: Option<TrunkOptions>,
}

#[derive(Debug, Serialize)]
pub struct CallDoc {
    pub shard: usize,
    #[serde(flatten)]
    pub call: LiveCall,
}

/// FNV-1a 64 over the configuration's debug form: stable for one build, changes with any value.
pub fn config_hash(config: &Config) -> String {
    let text = format!("{config:?}");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen for the admin API on {addr} (sbc.admin; \"off\" turns it off): {reason}")]
pub struct AdminBindError {
    pub addr: SocketAddr,
    pub reason: String,
}

/// The running admin thread.
pub struct AdminServer {
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl AdminServer {
    /// Binds `addr` and serves from a thread named `admin`.
    pub fn start(
        addr: SocketAddr,
        token: Option<String>,
        state: Arc<AdminState>,
    ) -> Result<AdminServer, AdminBindError> {
        let http = tiny_http::Server::http(addr).map_err(|e| AdminBindError {
            addr,
            reason: e.to_string(),
        })?;
        let addr = http.server_addr().to_ip().unwrap_or(addr);
        let http = Arc::new(http);
        let serving = http.clone();
        let thread = std::thread::Builder::new()
            .name("admin".to_owned())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    handle(request, token.as_deref(), &state);
                }
            })
            .map_err(|e| AdminBindError {
                addr,
                reason: e.to_string(),
            })?;
        tracing::info!(
            %addr,
            "admin API listening (/ dashboard, /metrics, /status, /calls, /transfers)"
        );
        Ok(AdminServer {
            http,
            thread: Some(thread),
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the thread.
    pub fn stop(mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.http.unblock();
    }
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
fn token_matches(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    diff == 0
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn handle(mut request: Request, token: Option<&str>, state: &AdminState) {
    if let Some(token) = token {
        let authorized = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .and_then(|h| h.value.as_str().strip_prefix("Bearer "))
            .is_some_and(|given| token_matches(given.trim(), token));
        if !authorized {
            let response = Response::from_string("unauthorized\n")
                .with_status_code(401)
                .with_header(header("WWW-Authenticate", "Bearer realm=\"handoff\""));
            let _ = request.respond(response);
            return;
        }
    }
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let (path, query) = (path.to_owned(), query.to_owned());
    if path == "/log-level" {
        let mut body = String::new();
        // A level is a word: a longer body is not one.
        let _ = std::io::Read::read_to_string(
            &mut std::io::Read::take(request.as_reader(), 64),
            &mut body,
        );
        let response = log_level_response(request.method(), &body);
        let _ = request.respond(response);
        return;
    }
    // DELETE /calls/{conversation}: an operator ends one call.
    if let Some(conversation) = path.strip_prefix("/calls/") {
        let response = if *request.method() != Method::Delete {
            Response::from_string("method not allowed\n")
                .with_status_code(405)
                .with_header(header("Allow", "DELETE"))
        } else if state.end_call(conversation) {
            Response::from_string("ending\n").with_status_code(202)
        } else {
            Response::from_string("no live call with that conversation id\n").with_status_code(404)
        };
        let _ = request.respond(response);
        return;
    }
    let known = matches!(
        path.as_str(),
        "/" | "/metrics" | "/status" | "/calls" | "/transfers" | "/healthz" | "/readyz"
    );
    if !known {
        let _ = request.respond(Response::from_string("not found\n").with_status_code(404));
        return;
    }
    if *request.method() != Method::Get {
        let response = Response::from_string("method not allowed\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET"));
        let _ = request.respond(response);
        return;
    }
    let response = match path.as_str() {
        "/metrics" => Response::from_string(state.render_metrics()).with_header(header(
            "Content-Type",
            "text/plain; version=0.0.4; charset=utf-8",
        )),
        "/status" => json(&state.status()),
        "/transfers" => match TransferQuery::parse(&query) {
            Ok(query) => {
                let records = state.transfers(&query);
                let records: Vec<&TransferRecord> = records.iter().map(|r| &**r).collect();
                json(&records)
            }
            Err(message) => Response::from_string(format!("bad request: {message}\n"))
                .with_status_code(400)
                .with_header(header("Content-Type", "text/plain; charset=utf-8")),
        },
        "/" => {
            // Collected now too, so a dashboard opened after a quiet spell starts current.
            state
                .transfers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .collect(&state.statuses);
            Response::from_string(DASHBOARD_HTML)
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Cache-Control", "no-store"))
                // Nothing but this page's own script and style, and requests to this server.
                .with_header(header(
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; \
                     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; \
                     frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                ))
                .with_header(header("X-Content-Type-Options", "nosniff"))
        }
        "/healthz" => Response::from_string("ok\n"),
        "/readyz" if state.ready() => Response::from_string("ready\n"),
        "/readyz" => Response::from_string("draining\n").with_status_code(503),
        _ => json(&state.calls()),
    };
    let _ = request.respond(response);
}

fn json<T: Serialize>(value: &T) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    Response::from_data(body).with_header(header("Content-Type", "application/json"))
}

/// The process metrics Prometheus' client libraries publish under these names (the standard
/// `process_` set), read from /proc/self: open descriptors, their limit, resident memory, CPU
/// seconds, and the start time. A value /proc does not give is left out.
fn process_metrics() -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        metric(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            entries.count() as f64,
        );
    }
    if let Some(limit) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<f64>().ok())
        })
    {
        metric(
            "process_max_fds",
            "gauge",
            "The soft limit of open file descriptors.",
            limit,
        );
    }
    let (page, ticks) = crate::runtime::host::page_size_and_clock_ticks();
    let (page, per_second) = (page as f64, ticks.max(1) as f64);
    if let Some(pages) = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<f64>().ok())
    {
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            pages * page,
        );
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces) start at ") ".
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15 of stat(5), here 11 and 12 (0-based, after pid
        // and comm).
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            metric(
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
                (user + system) / per_second,
            );
        }
    }
    out
}

/// The process's log level, changeable at run time (`GET`/`PUT /log-level`): `main` installs
/// the setter of its reloadable filter once logging is up; without it (embedded, tests) the
/// endpoint says the level cannot be changed.
pub struct LogLevel {
    current: std::sync::Mutex<tracing::level_filters::LevelFilter>,
    set: LogLevelSetter,
}

/// Applies a new level to the process's subscriber.
pub type LogLevelSetter =
    Box<dyn Fn(tracing::level_filters::LevelFilter) -> Result<(), String> + Send + Sync>;

static LOG_LEVEL: std::sync::OnceLock<LogLevel> = std::sync::OnceLock::new();

/// Called once by `main` after it set up logging with a reloadable filter at `initial`.
pub fn install_log_level(initial: tracing::level_filters::LevelFilter, set: LogLevelSetter) {
    let _ = LOG_LEVEL.set(LogLevel {
        current: std::sync::Mutex::new(initial),
        set,
    });
}

fn log_level_response(method: &Method, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let Some(control) = LOG_LEVEL.get() else {
        return Response::from_string("the log level cannot be changed in this process\n")
            .with_status_code(501);
    };
    let mut current = control.current.lock().unwrap_or_else(|e| e.into_inner());
    match method {
        Method::Get => Response::from_data(format!("{}\n", *current).to_lowercase().into_bytes()),
        Method::Put => {
            let wanted = body.trim();
            let Ok(level) = wanted.parse::<tracing::level_filters::LevelFilter>() else {
                return Response::from_string(format!(
                    "bad log level {wanted:?}: give one of error, warn, info, debug, trace, off\n"
                ))
                .with_status_code(400);
            };
            match (control.set)(level) {
                Ok(()) => {
                    let previous = *current;
                    *current = level;
                    tracing::warn!(%previous, now = %level, "admin API: log level changed");
                    Response::from_data(format!("{level}\n").to_lowercase().into_bytes())
                }
                Err(error) => {
                    Response::from_string(format!("cannot change the log level: {error}\n"))
                        .with_status_code(500)
                }
            }
        }
        _ => Response::from_string("method not allowed\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, PUT")),
    }
}

/// The file name `/status` shows for a config path.
pub fn file_name(path: Option<&Path>) -> Option<String> {
    path.map(|p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_queries_parse_and_bad_ones_say_why() {
        let q = TransferQuery::parse("").unwrap();
        assert_eq!(q.limit, TransferQuery::DEFAULT_LIMIT);
        assert!(q.outcomes.is_empty() && q.since_ms.is_none() && q.trunk.is_none());
        let q = TransferQuery::parse(
            "outcome=failed,not_handed_off&since=2026-12-05T04%3A00%3A00%2B01:00&trunk=carrier%2Da&limit=7",
        )
        .unwrap();
        assert_eq!(
            q.outcomes,
            [
                OutcomeFilter::Is(TransferOutcome::Failed),
                OutcomeFilter::NotHandedOff
            ]
        );
        assert_eq!(
            q.since_ms,
            unix_ms_from_rfc3339("2026-12-05T03:00:00Z"),
            "+01:00 kept"
        );
        assert_eq!(q.trunk.as_deref(), Some("carrier-a"));
        assert_eq!(q.limit, 7);
        assert_eq!(
            TransferQuery::parse("since=1234").unwrap().since_ms,
            Some(1234)
        );
        for (bad, says) in [
            ("outcome=lost", "not one of handed_off"),
            ("outcome=", "outcome"),
            ("since=", "since"),
            ("since=12ab", "since"),
            ("limit=0", "limit"),
            ("limit=1025", "limit"),
            ("trunk=", "trunk"),
            ("trunk=%zz", "percent-encoding"),
            ("x=1", "unknown parameter"),
        ] {
            let error = TransferQuery::parse(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
