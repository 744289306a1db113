//! The admin HTTP listener (`sbc.admin`, default `127.0.0.1:9090`): `GET /metrics` (Prometheus
//! text), `GET /status` and `GET /calls` (JSON).
//!
//! It runs on its own thread, never on a shard, with `tiny_http` (a small, blocking HTTP/1.1
//! server: no async runtime to bring into a process whose shards run their own event loops).
//! It never asks a shard anything: each shard publishes a [`ShardSnapshot`] (its counters and
//! live calls) between loop turns, at most every `SNAPSHOT_EVERY`, by swapping an `Arc` in its
//! [`ShardStatus`]; a request reads the latest of each shard's and sums them. No lock is taken
//! on the packet or signalling path, and a slow or hostile HTTP client costs the shards
//! nothing.
//!
//! Security: loopback by default. A non-loopback `sbc.admin` needs `sbc.admin_token` (the
//! config refuses it otherwise); when a token is set every request must carry
//! `Authorization: Bearer <token>`, or gets 401.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response};

use crate::audit::AuditCounters;
use crate::config::Config;
use crate::core::call::LiveCall;
use crate::metrics::ShardMetrics;
use crate::runtime::queues::ShardMesh;
use crate::runtime::shard::ShardStatus;

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
    pub audit: Arc<AuditCounters>,
    pub started: Instant,
}

impl AdminState {
    /// Every shard's published counters, summed.
    pub fn metrics(&self) -> ShardMetrics {
        let mut total = ShardMetrics::new();
        for status in &self.statuses {
            total.merge(&status.snapshot.load().metrics);
        }
        total
    }

    pub fn active_calls(&self) -> usize {
        self.statuses
            .iter()
            .map(|s| s.active_calls.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition (version 0.0.4) of every counter handoff keeps.
    pub fn render_metrics(&self) -> String {
        let mut out = self.metrics().render_prometheus();
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
                "handoff_media_packets_relayed_total",
                "RTP/RTCP packets relayed.",
                sum(|s| s.media_relayed.load(Ordering::Relaxed)),
            ),
            (
                "handoff_media_packets_dropped_total",
                "RTP/RTCP packets dropped by the relay (foreign source, no peer yet, garbage).",
                sum(|s| s.media_dropped.load(Ordering::Relaxed)),
            ),
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
        out
    }

    pub fn status(&self) -> StatusDoc {
        let running = self.running.load();
        let metrics = self.metrics();
        StatusDoc {
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: self.started.elapsed().as_secs(),
            config: ConfigDoc {
                file: running.file.clone(),
                hash: config_hash(&running.config),
            },
            calls_active: self.active_calls(),
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
                })
                .collect(),
            trunks: running
                .config
                .trunks
                .iter()
                .map(|t| TrunkDoc {
                    name: t.name.clone(),
                    role: t.role.as_str(),
                    sessions: metrics
                        .trunk_sessions_in_use
                        .get(&t.name)
                        .copied()
                        .unwrap_or(0),
                    max_calls: t.limits.max_calls,
                    max_cps: t.limits.max_cps,
                })
                .collect(),
        }
    }

    pub fn calls(&self) -> Vec<CallDoc> {
        let mut calls = Vec::new();
        for (shard, status) in self.statuses.iter().enumerate() {
            for call in &status.snapshot.load().calls {
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
    pub shards: Vec<ShardDoc>,
    pub trunks: Vec<TrunkDoc>,
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
}

#[derive(Debug, Serialize)]
pub struct TrunkDoc {
    pub name: String,
    pub role: &'static str,
    /// Trunk sessions (legs toward this trunk) up now.
    pub sessions: u64,
    /// 0 = unlimited.
    pub max_calls: u32,
    pub max_cps: u32,
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
        tracing::info!(%addr, "admin API listening (/metrics, /status, /calls)");
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

fn handle(request: Request, token: Option<&str>, state: &AdminState) {
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
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let known = matches!(path.as_str(), "/metrics" | "/status" | "/calls");
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
        _ => json(&state.calls()),
    };
    let _ = request.respond(response);
}

fn json<T: Serialize>(value: &T) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    Response::from_data(body).with_header(header("Content-Type", "application/json"))
}

/// The file name `/status` shows for a config path.
pub fn file_name(path: Option<&Path>) -> Option<String> {
    path.map(|p| p.display().to_string())
}
