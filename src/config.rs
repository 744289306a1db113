//! Configuration: TOML schema, validation with `file:line:col` errors, and the embedded default.
//!
//! The types below are the contract other modules build on. Loading and validation live here too.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The embedded default config, compiled into the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// A validated configuration. Immutable once built; shards share it behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sbc: SbcConfig,
    pub trunks: Vec<Trunk>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SbcConfig {
    /// SIP over UDP.
    pub listen: SocketAddr,
    /// Address put in Via/Contact/SDP; defaults to listen's IP.
    pub advertise: IpAddr,
    /// 0 = one per available CPU.
    pub shards: usize,
    /// Optional: pin shard i to cpus[i].
    pub cpus: Vec<usize>,
    pub io: IoBackend,
    /// RTP/RTCP port range [start, end), split across shards.
    pub media_ports: (u16, u16),
    pub admin: Option<SocketAddr>,
    /// JSON lines; "-" = stdout.
    pub audit: String,
    pub refer_timeout_ms: u64,
    /// Graceful stop: how long established calls may continue after SIGTERM.
    pub drain_s: u64,
    pub timers: SipTimers,
}

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipTimers {
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
}

impl Default for SipTimers {
    fn default() -> Self {
        SipTimers {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoBackend {
    Uring,
    Epoll,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trunk {
    pub name: String,
    /// Requests for this trunk go here; requests FROM this ip:port belong to it.
    pub peer: SocketAddr,
    pub transfer: TransferMethod,
    pub on_refer_failure: ReferFailurePolicy,
    pub refer_domain: Option<String>,
    pub country_code: String,
    /// Codec names in preference order, e.g. "PCMU", "PCMA", "G729". telephone-event always passes.
    pub codecs: Vec<String>,
    pub ringback: RingbackMode,
    pub ringback_tone: RingbackTone,
    /// Extra headers added to REFERs (and fallback INVITEs) toward this trunk.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMethod {
    Refer,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferFailurePolicy {
    Local,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingbackMode {
    Auto,
    Local,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingbackTone {
    Us,
    Uk,
    Eu,
}

/// First match wins. `prefix` matches the E.164-normalised Request-URI user (without '+').
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Index into `Config::trunks` of the trunk the call comes from; `None` = any.
    pub from: Option<usize>,
    /// Index into `Config::trunks` of the trunk to send the call to.
    pub to: usize,
    pub prefix: String,
}

impl Config {
    pub fn trunk_by_name(&self, name: &str) -> Option<usize> {
        self.trunks.iter().position(|t| t.name == name)
    }

    /// The trunk whose peer is exactly this source address.
    pub fn trunk_by_source(&self, from: SocketAddr) -> Option<usize> {
        self.trunks.iter().position(|t| t.peer == from)
    }
}
