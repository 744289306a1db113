//! Configuration: TOML schema, validation with `file:line:col` errors, and the embedded default.
//!
//! The types below are the contract other modules build on. Loading and validation live here too.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::sources::{SourceRule, SourceSet};
use crate::vocab::{IpNetwork, MediaSources, StatusCode, canonical_ip};

/// The embedded default config, compiled into the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// A validated configuration. Immutable once built; shards share it behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sbc: SbcConfig,
    pub trunks: Vec<Trunk>,
    pub routes: Vec<Route>,
}

/// Default capacity of the audit queue (`sbc.audit_queue`), in records: at a few hundred bytes a
/// record, some tens of MB, and seconds of a stalled disk at thousands of call ends per second.
pub const DEFAULT_AUDIT_QUEUE: usize = 65_536;
/// `sbc.hep_id` when the config names none. Give each handoff instance its own id so the
/// collector tells them apart (Homer shows it as the capture node).
pub const DEFAULT_HEP_ID: u32 = 2001;
/// Where the admin HTTP listener binds when `sbc.admin` is not set (loopback: no token needed).
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9090);

#[derive(Debug, Clone, PartialEq)]
pub struct SbcConfig {
    /// SIP over UDP.
    pub listen: SocketAddr,
    /// Address put in Via/Contact/SDP; defaults to listen's IP.
    pub advertise: IpAddr,
    /// 0 = one per available CPU.
    pub shards: usize,
    /// Optional: pin shard `i` to `cpus[i]`. With `shards = 0`, one shard per listed cpu.
    pub cpus: Vec<usize>,
    pub io: IoBackend,
    /// Which shard's SIP socket reads a datagram (the shards share `listen` with SO_REUSEPORT).
    pub sip_steering: SipSteering,
    /// RTP/RTCP port range [start, end), split across shards.
    pub media_ports: (u16, u16),
    /// The admin HTTP listener (`/metrics`, `/status`, `/calls`); `None` (`admin = "off"` or
    /// `""`) = no listener. Default `127.0.0.1:9090`.
    pub admin: Option<SocketAddr>,
    /// Bearer token the admin listener requires (`Authorization: Bearer <token>`). Required
    /// when `admin` is not a loopback address.
    pub admin_token: Option<String>,
    /// HEP v3 collector (Homer's heplify-server, Kamailio's sipcapture): every SIP datagram
    /// handoff sends or receives is copied there over UDP. `None` (`hep = "off"`, `""` or no
    /// key) = off, the default.
    pub hep: Option<SocketAddr>,
    /// The HEP capture agent id (chunk 0x000c) that names this handoff at the collector.
    pub hep_id: u32,
    /// JSON lines; "-" = stdout.
    pub audit: String,
    /// Capacity, in records, of the queue between the shards and the audit writer thread. A
    /// record that finds it full is dropped, counted (`audit_dropped`) and logged.
    pub audit_queue: usize,
    /// Whole SIP bodies (SDP...) in a failed transfer's `diagnostics` ladder; off: only sipfrag
    /// bodies (what the carrier reported), since SDP names media addresses.
    pub audit_bodies: bool,
    /// How long the carrier may take to give a final response to a REFER (that, and nothing
    /// else: after its 2xx the carrier owns the transfer until its final NOTIFY).
    pub refer_timeout_ms: u64,
    /// How long the carrier may take, from its 2xx to the REFER, to send its final NOTIFY, in
    /// seconds (a trunk's `transfer_timeout_s` overrides it); 0 = no bound. Gaps between
    /// NOTIFYs never count: only this whole span does. It also bounds a local fallback's ringing.
    pub transfer_timeout_s: u64,
    /// After the carrier's final NOTIFY 200, how long handoff waits for the carrier's BYE before
    /// it ends the carrier leg itself (RFC 5589: the transferor BYEs after the final NOTIFY). A
    /// trunk's `handoff_bye_after_ms` overrides it.
    pub handoff_bye_after_ms: u64,
    /// Graceful stop: how long established calls may continue after SIGTERM.
    pub drain_s: u64,
    /// What a request from an address that is no trunk gets.
    pub unknown_source: UnknownSourcePolicy,
    /// Larger datagrams are not parsed: a trunk's request gets 513, anything else is dropped.
    pub max_message_bytes: usize,
    /// Every trunk gets an OPTIONS this often from the running instance (`handoff_trunk_up`,
    /// `/status`); 0 = off.
    pub options_interval_s: u64,
    /// Session liveness: no RTP from either leg for this long ends an answered call (BYE to
    /// both legs, `end_reason = "media_timeout"`); 0 = off.
    pub media_timeout_s: u64,
    /// As `media_timeout_s` for a call on hold (a bridged leg's last SDP said `sendonly` or
    /// `inactive`): `end_reason = "hold_timeout"`; 0 = off.
    pub hold_timeout_s: u64,
    /// Longest an answered call may last (`end_reason = "max_duration"`); 0 = no bound.
    pub max_call_s: u64,
    /// What handoff calls itself toward peers: the user part of its Contact, the host of the
    /// Call-IDs it mints and the `o=` username of its SDP. Neutral by default
    /// ([`DEFAULT_IDENTITY`]), so nothing handoff sends names the product.
    pub identity: String,
    pub timers: SipTimers,
    /// Flood limits per source (Kamailio's pike): see [`SourceLimit`].
    pub source_limit: SourceLimit,
}

/// Token buckets on what reaches a shard, `[sbc.source_limit]`. A source over its budget is
/// dropped (counted, `dropped{reason="rate_limited"}`) for `ban_s`. Each shard keeps its own
/// buckets (shards share nothing), so a source that spreads over several source ports may reach
/// up to `shards` times its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimit {
    /// Datagrams per second from one IP address that is no trunk's (answered only under
    /// `unknown_source = "reject"`; under "drop" such datagrams are dropped without state anyway).
    /// 0 = no limit.
    pub pps: u32,
    /// How long a source over its budget stays dropped, in seconds.
    pub ban_s: u32,
    /// Datagrams per second from all the sources of one trunk together: the higher budget
    /// trunk peers get. 0 = no limit.
    pub trunk_pps: u32,
}

impl Default for SourceLimit {
    fn default() -> Self {
        SourceLimit {
            pps: 200,
            ban_s: 60,
            trunk_pps: 100_000,
        }
    }
}

/// `sbc.identity` when the config names none: neutral, not the product name.
pub const DEFAULT_IDENTITY: &str = "sbc";

/// An identity fits a SIP user part, a Call-ID host (RFC 3261 `word`) and an SDP `o=` username
/// (RFC 8866: non-whitespace) only if it is 1..=32 of letters, digits, '.', '-' and '_'.
fn valid_identity(identity: &str) -> bool {
    (1..=32).contains(&identity.len())
        && identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// What handoff answers a request from an address that belongs to no trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSourcePolicy {
    /// Nothing: no answer, no state kept (a scanner learns nothing). Counted.
    Drop,
    /// One stateless 403 per request: no transaction, no retransmission. Counted.
    Reject,
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

/// `sbc.io`: which I/O backend the shards run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoBackend {
    /// The default: io_uring where the kernel (and any seccomp policy) lets it run, else epoll;
    /// the start-up log says which and why.
    Auto,
    /// io_uring (from Linux 5.15; newer kernels get the faster forms), or a clear error.
    Uring,
    Epoll,
}

impl IoBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            IoBackend::Auto => "auto",
            IoBackend::Uring => "uring",
            IoBackend::Epoll => "epoll",
        }
    }
}

/// `sbc.sip_steering`: which shard's SIP socket the kernel hands a datagram to. Either way the
/// shard that reads a datagram passes it on to the shard that owns its call (minted tags, else
/// the Call-ID's hash), whose media pool the call's ports come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipSteering {
    /// The default: the shard on the CPU that received the datagram (a classic BPF program on
    /// the SO_REUSEPORT group, SO_ATTACH_REUSEPORT_CBPF): with `cpus`, the shard pinned to that
    /// CPU (a CPU no shard is pinned to: cpu % shards); without, cpu % shards. Falls back to
    /// `Hash` when the kernel refuses the program (logged at start-up).
    Cpu,
    /// The kernel's own choice: a hash of the 4-tuple, so one peer ip:port always reaches one
    /// shard.
    Hash,
}

impl SipSteering {
    pub fn as_str(self) -> &'static str {
        match self {
            SipSteering::Cpu => "cpu",
            SipSteering::Hash => "hash",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trunk {
    pub name: String,
    /// Requests for this trunk go here.
    pub peer: SocketAddr,
    /// Who may speak for this trunk (default: `peer` exactly). A leg keeps the set it was
    /// created with.
    pub sources: Arc<SourceSet>,
    /// Carrier (PSTN side) or platform (the contact center): transfer rules key on it.
    pub role: TrunkRole,
    /// What a REFER from this trunk's legs gets, when the trunk is a carrier.
    pub carrier_refer: CarrierReferPolicy,
    pub transfer: TransferMethod,
    pub on_refer_failure: ReferFailurePolicy,
    pub refer_domain: Option<String>,
    /// The recording jurisdiction of the trunk's calls (e.g. "UK", MiFID II): a transfer whose
    /// new leg is in another jurisdiction than the customer's leg says so to the recorder
    /// (`X-Recording-Jurisdiction`) and in its record.
    pub jurisdiction: Option<String>,
    pub country_code: String,
    /// Codec names in preference order, e.g. "PCMU", "PCMA", "G729". telephone-event always passes.
    pub codecs: Vec<String>,
    pub ringback: RingbackMode,
    pub ringback_tone: RingbackTone,
    /// `transfer_timeout_s` for transfers of this trunk's legs (overrides `sbc.transfer_timeout_s`).
    pub transfer_timeout_s: Option<u64>,
    /// `handoff_bye_after_ms` for this trunk's legs (overrides `sbc.handoff_bye_after_ms`).
    pub handoff_bye_after_ms: Option<u64>,
    /// What handoff answers an accepted REFER from this trunk's legs: 202 (default) or 200
    /// (RFC 7647 section 5 makes them equivalent; some older clients want 200).
    pub refer_response: StatusCode,
    /// Extra headers added to every INVITE (initial, re-INVITE, fallback) and REFER handoff sends
    /// to this trunk. Calls read them from the config snapshot they started with, so a reload
    /// applies them to new calls.
    pub headers: BTreeMap<String, String>,
    /// Which E.164 numbers a transfer toward this trunk may name (REFER or local INVITE).
    pub transfer_targets: TargetPolicy,
    /// RFC 3325 trust domain: P-Asserted-Identity and P-Preferred-Identity from this trunk are
    /// kept, and sent to it. `false`: removed from what it sends and from what it is sent.
    pub trust_identity: bool,
    /// `conversation_header = true`: handoff labels what it sends toward this trunk for a
    /// transfer with the conversation id, so a call that comes back through handoff is linked
    /// to it: `?X-Conversation-ID=<id>` in the Refer-To of REFERs (RFC 3261 section 19.1.1:
    /// a URI header the carrier copies into its INVITE) and `X-Conversation-ID` on a local
    /// transfer's INVITE. Default false (strict carriers get the Refer-To as before).
    pub conversation_header: bool,
    /// `media_networks = ["CIDR", ...]`: besides the SDP `c=` address and the peer IP, RTP and
    /// RTCP of this trunk's legs are accepted from any address in these networks (a carrier
    /// whose media servers are not its signalling host). Default: none.
    pub media_networks: Arc<[IpNetwork]>,
    /// `max_calls` / `max_cps` (0 = unlimited): new INVITEs above either get 503 + Retry-After.
    pub limits: TrunkLimits,
    /// `refer_hook = { url, timeout_ms, on_error }` (platform trunks only): an HTTP POST that
    /// decides each REFER of this trunk's legs before anything reaches the carrier.
    pub refer_hook: Option<ReferHook>,
    /// `auth = { username, password[, realm] }`: digest credentials (RFC 3261 section 22, RFC
    /// 8760) with which handoff answers this trunk's 401/407 challenges, once per request.
    pub auth: Option<TrunkAuth>,
}

/// A trunk's digest credentials. `Debug` never shows the password (config dumps, `handoff
/// check`, logs).
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAuth {
    pub username: String,
    pub password: String,
    /// Only challenges of this realm are answered (default: whatever realm the trunk names).
    pub realm: Option<String>,
}

impl std::fmt::Debug for TrunkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// A platform trunk's REFER app callback (issue 11, after Restcomm's per-number "Refer URL"):
/// handoff POSTs the REFER's facts to `url` and the answer says what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferHook {
    /// `http://host[:port]/path` (plain HTTP only).
    pub url: String,
    /// How long the answer may take (default 1500 ms); then `on_error` applies.
    pub timeout_ms: u64,
    /// What a failed hook call (timeout, connection error, non-2xx, bad JSON) means.
    pub on_error: HookAction,
}

/// What a REFER hook's answer (or its `on_error`) makes of a platform REFER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// The normal REFER handoff toward the carrier (the trunk's `transfer` method).
    Refer,
    /// handoff's own local transfer (INVITE to the target), as `transfer = "local"`.
    Local,
    /// 403 to the platform's REFER; the call stays as it is.
    Reject,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Refer => "refer",
            HookAction::Local => "local",
            HookAction::Reject => "reject",
        }
    }

    /// `"refer"`, `"local"` or `"reject"`.
    pub fn parse(text: &str) -> Option<HookAction> {
        match text {
            "refer" => Some(HookAction::Refer),
            "local" => Some(HookAction::Local),
            "reject" => Some(HookAction::Reject),
            _ => None,
        }
    }
}

/// Admission limits of a trunk (issue 9, #3). Shards share nothing, so each shard enforces a
/// share of each limit (see [`TrunkLimits::share`]): the sum over shards is the limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrunkLimits {
    /// Calls up at once with a leg on this trunk (either direction); 0 = unlimited.
    pub max_calls: u32,
    /// New calls per second from or to this trunk; 0 = unlimited.
    pub max_cps: u32,
}

impl TrunkLimits {
    /// Shard `shard`'s share of `limit` over `shards` shards: `limit / shards`, plus one for the
    /// first `limit % shards` shards, so the shares add up to `limit` exactly. `None`: unlimited.
    pub fn share(limit: u32, shard: usize, shards: usize) -> Option<u32> {
        if limit == 0 {
            return None;
        }
        let shards = shards.max(1) as u32;
        let shard = shard as u32;
        Some(limit / shards + u32::from(shard < limit % shards))
    }
}

impl Trunk {
    /// Who besides a leg's SDP address may send its media: the peer IP and `media_networks`.
    pub fn media_sources(&self) -> MediaSources {
        MediaSources {
            peer: Some(canonical_ip(self.peer.ip())),
            networks: self.media_networks.clone(),
        }
    }
}

/// E.164 prefixes a transfer target is checked against before any REFER or fallback INVITE:
/// `deny` wins; an empty `allow` allows every number not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `transfer_allow = ["+1"]`: prefixes, `+` and digits.
    pub allow: Vec<String>,
    /// `transfer_deny = ["+1900", "+1976"]`: prefixes, `+` and digits.
    pub deny: Vec<String>,
}

impl TargetPolicy {
    /// Whether a transfer may name `e164` (`+` and digits).
    pub fn allows(&self, e164: &str) -> bool {
        let denied = self.deny.iter().any(|p| e164.starts_with(p.as_str()));
        let allowed =
            self.allow.is_empty() || self.allow.iter().any(|p| e164.starts_with(p.as_str()));
        allowed && !denied
    }
}

pub use crate::vocab::TrunkRole;

/// A REFER sent by a carrier leg (take-back by the network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarrierReferPolicy {
    /// 403 "REFER not accepted from this trunk", and an audit record.
    Reject,
    /// Passed to the bridged leg with the Refer-To host set to that leg's trunk `refer_domain`.
    Relay,
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
    /// `domain = "pbx.example"`: the route takes transfer targets that are not telephone numbers
    /// whose host is this domain (lower-case; `sip:2002@pbx.example`). Such a route routes only
    /// transfer targets, never a new INVITE (see `routing::route_transfer_target`).
    pub domain: Option<String>,
}

impl Config {
    pub fn trunk_by_name(&self, name: &str) -> Option<usize> {
        self.trunks.iter().position(|t| t.name == name)
    }

    /// The trunk whose `sources` hold this address (validation keeps them disjoint).
    pub fn trunk_by_source(&self, from: SocketAddr) -> Option<usize> {
        self.trunks.iter().position(|t| t.sources.contains(from))
    }

    /// Problems that do not stop handoff from running but that the operator should hear of
    /// (`handoff check` prints them).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.trunks.iter().any(|t| t.role == TrunkRole::Platform) {
            warnings.push(
                "no trunk has role = \"platform\": REFERs are only honoured from platform legs, so no transfer can happen"
                    .to_owned(),
            );
        }
        warnings
    }
}

// ---------------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------------

/// One problem in a config file, located at the offending key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a config file, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why [`Config::load`] failed: the file could not be read, or its content is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    #[error("{path}: cannot read config file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

/// Largest shard count accepted (`ShardId` is a u16; beyond this the config is surely a typo).
pub const MAX_SHARDS: usize = 1024;

/// Codecs handoff knows by name (canonical spelling). Names match case-insensitively.
pub const KNOWN_CODECS: &[&str] = &[
    "PCMU",
    "PCMA",
    "G722",
    "G729",
    "GSM",
    "iLBC",
    "opus",
    "AMR",
    "AMR-WB",
    "telephone-event",
];

/// Headers handoff builds itself; a trunk may not override them through `headers`.
const RESERVED_HEADERS: &[&str] = &[
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "max-forwards",
    "content-length",
    "content-type",
    "refer-to",
    "referred-by",
    "replaces",
    "route",
    "record-route",
];

impl Config {
    /// The embedded default (`config/default.toml`), validated.
    ///
    /// Its validity is checked by `tests/config_examples.rs`, so this cannot fail in a released
    /// build.
    pub fn embedded_default() -> Config {
        match Config::from_toml_str(DEFAULT_CONFIG, "<embedded default.toml>") {
            Ok(config) => config,
            Err(errors) => panic!("embedded default config is invalid:\n{errors}"),
        }
    }

    /// Reads and validates a config file. Errors name the file by `path` as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigLoadError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigLoadError::Read {
            path: shown.clone(),
            source,
        })?;
        Ok(Config::from_toml_str(&text, &shown)?)
    }

    /// Parses and validates TOML `text`; `file_name` is used only to prefix error locations.
    ///
    /// Every TOML syntax error is reported (and nothing else then). Otherwise every unknown key,
    /// bad value and broken cross-reference is reported, except that a value of the wrong TOML
    /// type (a string where a number belongs) stops checking at the first one.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
        let mut report = Report {
            text,
            file: file_name,
            errors: Vec::new(),
        };
        let (mut document, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            for error in syntax_errors {
                report.toml_error(&error);
            }
            return Err(report.finish());
        }
        // Unknown keys are reported all at once and dropped, so the rest still gets checked.
        if check_keys(document.get_mut(), &mut report) {
            return Err(report.finish());
        }
        let raw = match RawConfig::deserialize(toml::de::Deserializer::from(document)) {
            Ok(raw) => raw,
            Err(error) => {
                report.toml_error(&error);
                return Err(report.finish());
            }
        };
        let config = validate(raw, &mut report);
        if report.errors.is_empty() {
            Ok(config)
        } else {
            Err(report.finish())
        }
    }

    /// Shards to run: `shards`, or when 0 the number of `cpus` listed, or else one per available
    /// CPU.
    pub fn resolved_shard_count(&self) -> usize {
        self.sbc.resolved_shard_count()
    }
}

impl SbcConfig {
    /// See [`Config::resolved_shard_count`].
    pub fn resolved_shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else if !self.cpus.is_empty() {
            self.cpus.len()
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The slice `[start, end)` of `media_ports` owned by `shard` out of `shard_count`.
    ///
    /// Slices are contiguous, start on an even port (RTP even, RTCP = RTP + 1) and hold whole
    /// pairs; the last slice takes the remainder. `None` when the range holds fewer pairs than
    /// shards, or `shard` is out of range.
    pub fn media_port_slice(&self, shard: usize, shard_count: usize) -> Option<(u16, u16)> {
        let (start, end) = self.media_ports;
        let pairs = usize::from(end.saturating_sub(start)) / 2;
        if shard_count == 0 || shard >= shard_count || pairs < shard_count {
            return None;
        }
        let per_shard = pairs / shard_count;
        let slice_start = usize::from(start) + shard * per_shard * 2;
        let slice_end = if shard + 1 == shard_count {
            usize::from(start) + pairs * 2
        } else {
            slice_start + per_shard * 2
        };
        Some((
            u16::try_from(slice_start).ok()?,
            u16::try_from(slice_end).ok()?,
        ))
    }

    /// Every shard's media port slice, for the resolved shard count; fails when the range is
    /// too small (possible only when `shards = 0` resolved to more CPUs than the range has
    /// pairs, since explicit counts are checked at load).
    pub fn media_port_slices(
        &self,
        shard_count: usize,
    ) -> Result<Vec<(u16, u16)>, MediaPortsTooSmall> {
        (0..shard_count)
            .map(|shard| self.media_port_slice(shard, shard_count))
            .collect::<Option<Vec<_>>>()
            .filter(|slices| !slices.is_empty())
            .ok_or(MediaPortsTooSmall {
                start: self.media_ports.0,
                end: self.media_ports.1,
                shards: shard_count,
            })
    }
}

/// The media port range cannot give every shard at least one RTP/RTCP pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sbc.media_ports [{start}, {end}) holds {} RTP/RTCP pairs, fewer than the {shards} shards; widen the range or set sbc.shards",
    (end.saturating_sub(*start)) / 2
)]
pub struct MediaPortsTooSmall {
    pub start: u16,
    pub end: u16,
    pub shards: usize,
}

// --- raw (as written) schema -----------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    sbc: Option<RawSbc>,
    #[serde(default)]
    trunk: Vec<Spanned<RawTrunk>>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSbc {
    listen: Option<Spanned<String>>,
    advertise: Option<Spanned<String>>,
    shards: Option<Spanned<i64>>,
    cpus: Option<Spanned<Vec<Spanned<i64>>>>,
    io: Option<Spanned<String>>,
    sip_steering: Option<Spanned<String>>,
    media_ports: Option<Spanned<Vec<Spanned<i64>>>>,
    admin: Option<Spanned<String>>,
    admin_token: Option<Spanned<String>>,
    hep: Option<Spanned<String>>,
    hep_id: Option<Spanned<i64>>,
    audit: Option<Spanned<String>>,
    audit_queue: Option<Spanned<i64>>,
    audit_bodies: Option<bool>,
    refer_timeout_ms: Option<Spanned<i64>>,
    transfer_timeout_s: Option<Spanned<i64>>,
    handoff_bye_after_ms: Option<Spanned<i64>>,
    drain_s: Option<Spanned<i64>>,
    unknown_source: Option<Spanned<String>>,
    max_message_bytes: Option<Spanned<i64>>,
    options_interval_s: Option<Spanned<i64>>,
    media_timeout_s: Option<Spanned<i64>>,
    hold_timeout_s: Option<Spanned<i64>>,
    max_call_s: Option<Spanned<i64>>,
    identity: Option<Spanned<String>>,
    timers: Option<RawTimers>,
    source_limit: Option<RawSourceLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSourceLimit {
    pps: Option<Spanned<i64>>,
    ban_s: Option<Spanned<i64>>,
    trunk_pps: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimers {
    t1_ms: Option<Spanned<i64>>,
    t2_ms: Option<Spanned<i64>>,
    t4_ms: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrunk {
    name: Spanned<String>,
    peer: Spanned<String>,
    transfer: Option<Spanned<String>>,
    on_refer_failure: Option<Spanned<String>>,
    refer_domain: Option<Spanned<String>>,
    jurisdiction: Option<Spanned<String>>,
    sources: Option<Spanned<Vec<Spanned<String>>>>,
    role: Option<Spanned<String>>,
    carrier_refer: Option<Spanned<String>>,
    country_code: Spanned<String>,
    codecs: Option<Spanned<Vec<Spanned<String>>>>,
    ringback: Option<Spanned<String>>,
    ringback_tone: Option<Spanned<String>>,
    headers: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    transfer_allow: Option<Spanned<Vec<Spanned<String>>>>,
    transfer_deny: Option<Spanned<Vec<Spanned<String>>>>,
    trust_identity: Option<bool>,
    conversation_header: Option<bool>,
    media_networks: Option<Spanned<Vec<Spanned<String>>>>,
    max_calls: Option<Spanned<i64>>,
    max_cps: Option<Spanned<i64>>,
    refer_hook: Option<Spanned<RawReferHook>>,
    transfer_timeout_s: Option<Spanned<i64>>,
    handoff_bye_after_ms: Option<Spanned<i64>>,
    refer_response: Option<Spanned<i64>>,
    auth: Option<Spanned<RawAuth>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    realm: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReferHook {
    url: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<i64>>,
    on_error: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    from: Option<Spanned<String>>,
    to: Spanned<String>,
    prefix: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
}

// --- error collection --------------------------------------------------------------------------

struct Report<'a> {
    text: &'a str,
    file: &'a str,
    /// (byte offset, message); sorted by offset when finished.
    errors: Vec<(usize, String)>,
}

impl Report<'_> {
    fn at(&mut self, offset: usize, message: String) {
        self.errors.push((offset, message));
    }

    fn toml_error(&mut self, error: &toml::de::Error) {
        let offset = error.span().map_or(0, |span| span.start);
        let message = error
            .message()
            .trim_end()
            .replace("expected i64", "expected an integer");
        self.at(offset, message);
    }

    fn on<T>(&mut self, value: &Spanned<T>, message: String) {
        self.at(value.span().start, message);
    }

    fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|(offset, _)| *offset);
        let text = self.text;
        let file = self.file;
        ConfigErrors(
            self.errors
                .into_iter()
                .map(|(offset, message)| {
                    let (line, column) = line_column(text, offset);
                    ConfigError {
                        file: file.to_owned(),
                        line,
                        column,
                        message,
                    }
                })
                .collect(),
        )
    }
}

/// 1-based line and character column of byte `offset` in `text` (clamped to the text).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

// --- unknown keys --------------------------------------------------------------------------------

// Keep in step with the Raw* structs above (`deny_unknown_fields` there is the safety net; the
// `every_key_is_known` unit test checks these lists against them).
const TOP_KEYS: &[&str] = &["sbc", "trunk", "route"];
const SBC_KEYS: &[&str] = &[
    "listen",
    "advertise",
    "shards",
    "cpus",
    "io",
    "sip_steering",
    "media_ports",
    "admin",
    "admin_token",
    "hep",
    "hep_id",
    "audit",
    "audit_queue",
    "audit_bodies",
    "refer_timeout_ms",
    "transfer_timeout_s",
    "handoff_bye_after_ms",
    "drain_s",
    "unknown_source",
    "max_message_bytes",
    "options_interval_s",
    "media_timeout_s",
    "hold_timeout_s",
    "max_call_s",
    "identity",
    "timers",
    "source_limit",
];
const TIMER_KEYS: &[&str] = &["t1_ms", "t2_ms", "t4_ms"];
const SOURCE_LIMIT_KEYS: &[&str] = &["pps", "ban_s", "trunk_pps"];
const TRUNK_KEYS: &[&str] = &[
    "name",
    "peer",
    "transfer",
    "on_refer_failure",
    "refer_domain",
    "jurisdiction",
    "sources",
    "role",
    "carrier_refer",
    "country_code",
    "codecs",
    "ringback",
    "ringback_tone",
    "headers",
    "transfer_allow",
    "transfer_deny",
    "trust_identity",
    "conversation_header",
    "media_networks",
    "max_calls",
    "max_cps",
    "refer_hook",
    "transfer_timeout_s",
    "handoff_bye_after_ms",
    "refer_response",
    "auth",
];
const REFER_HOOK_KEYS: &[&str] = &["url", "timeout_ms", "on_error"];
const AUTH_KEYS: &[&str] = &["username", "password", "realm"];
const ROUTE_KEYS: &[&str] = &["from", "to", "prefix", "domain"];
const TRUNK_REQUIRED_KEYS: &[&str] = &["name", "peer", "country_code"];
const ROUTE_REQUIRED_KEYS: &[&str] = &["to"];

/// Reports and drops unknown keys, and reports missing required keys; returns whether any
/// required key is missing (deserializing would then stop at the first).
fn check_keys(document: &mut DeTable<'_>, report: &mut Report<'_>) -> bool {
    let mut missing_required = false;
    prune_table(document, "", TOP_KEYS, report);
    if let Some(sbc) = document.get_mut("sbc")
        && let DeValue::Table(sbc) = sbc.get_mut()
    {
        prune_table(sbc, "sbc", SBC_KEYS, report);
        if let Some(timers) = sbc.get_mut("timers")
            && let DeValue::Table(timers) = timers.get_mut()
        {
            prune_table(timers, "sbc.timers", TIMER_KEYS, report);
        }
        if let Some(limit) = sbc.get_mut("source_limit")
            && let DeValue::Table(limit) = limit.get_mut()
        {
            prune_table(limit, "sbc.source_limit", SOURCE_LIMIT_KEYS, report);
        }
    }
    for (name, keys, required) in [
        ("trunk", TRUNK_KEYS, TRUNK_REQUIRED_KEYS),
        ("route", ROUTE_KEYS, ROUTE_REQUIRED_KEYS),
    ] {
        if let Some(list) = document.get_mut(name)
            && let DeValue::Array(list) = list.get_mut()
        {
            for entry in list.iter_mut() {
                let at = entry.span().start;
                if let DeValue::Table(table) = entry.get_mut() {
                    prune_table(table, name, keys, report);
                    if name == "trunk"
                        && let Some(hook) = table.get_mut("refer_hook")
                        && let DeValue::Table(hook) = hook.get_mut()
                    {
                        prune_table(hook, "trunk.refer_hook", REFER_HOOK_KEYS, report);
                    }
                    if name == "trunk"
                        && let Some(auth) = table.get_mut("auth")
                        && let DeValue::Table(auth) = auth.get_mut()
                    {
                        prune_table(auth, "trunk.auth", AUTH_KEYS, report);
                    }
                    for key in required {
                        if !table.contains_key(*key) {
                            missing_required = true;
                            report.at(at, format!("[{name}] is missing the required key `{key}`"));
                        }
                    }
                }
            }
        }
    }
    missing_required
}

fn prune_table(table: &mut DeTable<'_>, path: &str, known: &[&str], report: &mut Report<'_>) {
    let mut unknown: Vec<String> = Vec::new();
    for key in table.keys() {
        let name: &str = key.get_ref();
        if known.contains(&name) {
            continue;
        }
        unknown.push(name.to_owned());
        let place = if path.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in [{path}]")
        };
        let hint = match closest(name, known) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => format!(" (known: {})", known.join(", ")),
        };
        report.on(key, format!("unknown key `{name}` {place}{hint}"));
    }
    for name in unknown {
        table.remove(name.as_str());
    }
}

/// The known key within edit distance 2 of `name`, if any: catches typos like `sharts`.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    // strsim is compiled in already (clap's suggestions use it).
    strsim::levenshtein(a, b)
}

// --- validation --------------------------------------------------------------------------------

fn validate(raw: RawConfig, report: &mut Report<'_>) -> Config {
    let sbc = validate_sbc(raw.sbc, report);
    let trunks: Vec<Trunk> = raw
        .trunk
        .iter()
        .map(|trunk| validate_trunk(trunk.get_ref(), report))
        .collect();
    check_trunks_together(&raw.trunk, &trunks, &sbc, report);
    let routes = validate_routes(&raw.route, &raw.trunk, report);
    Config {
        sbc,
        trunks,
        routes,
    }
}

fn validate_sbc(raw: Option<RawSbc>, report: &mut Report<'_>) -> SbcConfig {
    let timers = SipTimers::default();
    let mut sbc = SbcConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
        advertise: IpAddr::from([127, 0, 0, 1]),
        shards: 0,
        cpus: Vec::new(),
        io: IoBackend::Auto,
        sip_steering: SipSteering::Cpu,
        media_ports: (20000, 40000),
        admin: Some(DEFAULT_ADMIN),
        admin_token: None,
        hep: None,
        hep_id: DEFAULT_HEP_ID,
        audit: "audit.jsonl".to_owned(),
        audit_queue: DEFAULT_AUDIT_QUEUE,
        audit_bodies: false,
        refer_timeout_ms: 4000,
        transfer_timeout_s: 120,
        handoff_bye_after_ms: 2_000,
        drain_s: 30,
        unknown_source: UnknownSourcePolicy::Drop,
        max_message_bytes: 8192,
        options_interval_s: 30,
        source_limit: SourceLimit::default(),
        media_timeout_s: 60,
        hold_timeout_s: 3_600,
        max_call_s: 14_400,
        identity: DEFAULT_IDENTITY.to_owned(),
        timers,
    };
    let Some(raw) = raw else {
        return sbc;
    };

    if let Some(listen) = &raw.listen
        && let Some(addr) = socket_addr(listen, "sbc.listen", report)
    {
        sbc.listen = addr;
    }
    match &raw.advertise {
        Some(advertise) => match advertise.get_ref().parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => report.on(
                advertise,
                format!(
                    "sbc.advertise: {ip} is a wildcard address; give the address peers should send to"
                ),
            ),
            Ok(ip) => sbc.advertise = ip,
            Err(_) => report.on(
                advertise,
                format!(
                    "sbc.advertise: {:?} is not an IP address (e.g. \"192.0.2.10\")",
                    advertise.get_ref()
                ),
            ),
        },
        None => {
            sbc.advertise = sbc.listen.ip();
            if sbc.listen.ip().is_unspecified() {
                let offset = raw.listen.as_ref().map_or(0, |l| l.span().start);
                report.at(
                    offset,
                    format!(
                        "sbc.listen: {} is a wildcard address, so sbc.advertise must name the address peers should send to",
                        sbc.listen.ip()
                    ),
                );
            }
        }
    }

    if let Some(shards) = &raw.shards {
        match usize::try_from(*shards.get_ref()) {
            Ok(n) if n <= MAX_SHARDS => sbc.shards = n,
            _ => report.on(
                shards,
                format!(
                    "sbc.shards: {} is out of range (0 = one per CPU, at most {MAX_SHARDS})",
                    shards.get_ref()
                ),
            ),
        }
    }
    if let Some(cpus) = &raw.cpus {
        let mut seen: Vec<usize> = Vec::new();
        for cpu in cpus.get_ref() {
            match usize::try_from(*cpu.get_ref()) {
                Ok(n) if seen.contains(&n) => report.on(
                    cpu,
                    format!("sbc.cpus: cpu {n} is listed twice; each shard needs its own core"),
                ),
                Ok(n) => seen.push(n),
                Err(_) => report.on(
                    cpu,
                    format!("sbc.cpus: {} is not a cpu number", cpu.get_ref()),
                ),
            }
        }
        sbc.cpus = seen;
        let listed = cpus.get_ref().len();
        if sbc.shards > 0 && listed > 0 && listed != sbc.shards {
            report.on(
                cpus,
                format!(
                    "sbc.cpus: lists {listed} cpus but sbc.shards = {}; give one cpu per shard",
                    sbc.shards
                ),
            );
        }
    }
    if let Some(bytes) = &raw.max_message_bytes
        && let Some(bytes) = in_range(bytes, "sbc.max_message_bytes", 1300, 65_535, report)
    {
        sbc.max_message_bytes = bytes as usize;
    }
    if let Some(interval) = &raw.options_interval_s
        && let Some(interval) = in_range(interval, "sbc.options_interval_s", 0, 86_400, report)
    {
        sbc.options_interval_s = interval;
    }
    if let Some(identity) = &raw.identity {
        if valid_identity(identity.get_ref()) {
            sbc.identity = identity.get_ref().clone();
        } else {
            report.on(
                identity,
                format!(
                    "sbc.identity: {:?} must be 1 to 32 letters, digits, '.', '-' or '_' (e.g. \"sbc\")",
                    identity.get_ref()
                ),
            );
        }
    }
    if let Some(policy) = &raw.unknown_source {
        match policy.get_ref().as_str() {
            "drop" => sbc.unknown_source = UnknownSourcePolicy::Drop,
            "reject" => sbc.unknown_source = UnknownSourcePolicy::Reject,
            other => report.on(
                policy,
                one_of("sbc.unknown_source", other, &["drop", "reject"]),
            ),
        }
    }
    if let Some(io) = &raw.io {
        match io.get_ref().as_str() {
            "auto" => sbc.io = IoBackend::Auto,
            "uring" => sbc.io = IoBackend::Uring,
            "epoll" => sbc.io = IoBackend::Epoll,
            other => report.on(io, one_of("sbc.io", other, &["auto", "uring", "epoll"])),
        }
    }
    if let Some(steering) = &raw.sip_steering {
        match steering.get_ref().as_str() {
            "cpu" => sbc.sip_steering = SipSteering::Cpu,
            "hash" => sbc.sip_steering = SipSteering::Hash,
            other => report.on(
                steering,
                one_of("sbc.sip_steering", other, &["cpu", "hash"]),
            ),
        }
    }
    if let Some(ports) = &raw.media_ports {
        if let Some(range) = media_ports(ports, sbc.shards, report) {
            sbc.media_ports = range;
            let (start, end) = range;
            if (start..end).contains(&sbc.listen.port()) {
                report.on(
                    ports,
                    format!(
                        "sbc.media_ports: [{start}, {end}) contains the SIP port {} of sbc.listen",
                        sbc.listen.port()
                    ),
                );
            }
        }
    } else if (sbc.media_ports.0..sbc.media_ports.1).contains(&sbc.listen.port()) {
        let offset = raw.listen.as_ref().map_or(0, |l| l.span().start);
        report.at(
            offset,
            format!(
                "sbc.listen: port {} lies in the default media_ports [{}, {})",
                sbc.listen.port(),
                sbc.media_ports.0,
                sbc.media_ports.1
            ),
        );
    }
    if let Some(admin) = &raw.admin {
        let text = admin.get_ref().trim();
        sbc.admin = if text.is_empty() || text == "off" {
            None
        } else {
            socket_addr(admin, "sbc.admin", report)
        };
    }
    if let Some(token) = &raw.admin_token {
        if token.get_ref().trim().is_empty() {
            report.on(
                token,
                "sbc.admin_token: empty; give a secret, or leave the key out".to_owned(),
            );
        } else {
            sbc.admin_token = Some(token.get_ref().clone());
        }
    }
    if let (Some(addr), None) = (sbc.admin, &sbc.admin_token)
        && !addr.ip().is_loopback()
        && let Some(admin) = &raw.admin
    {
        report.on(
            admin,
            format!(
                "sbc.admin: {addr} is not a loopback address; binding the admin API elsewhere \
                 requires sbc.admin_token (clients send Authorization: Bearer <token>)"
            ),
        );
    }
    if let Some(hep) = &raw.hep {
        let text = hep.get_ref().trim();
        sbc.hep = if text.is_empty() || text == "off" {
            None
        } else {
            socket_addr(hep, "sbc.hep", report)
        };
    }
    if let Some(id) = &raw.hep_id
        && let Some(id) = in_range(id, "sbc.hep_id", 0, u64::from(u32::MAX), report)
    {
        sbc.hep_id = id as u32;
    }
    if let Some(audit) = &raw.audit {
        if audit.get_ref().trim().is_empty() {
            report.on(
                audit,
                "sbc.audit: empty; give a file path or \"-\" for stdout".to_owned(),
            );
        } else {
            sbc.audit = audit.get_ref().clone();
        }
    }
    if let Some(ms) = &raw.refer_timeout_ms
        && let Some(ms) = in_range(ms, "sbc.refer_timeout_ms", 100, 600_000, report)
    {
        sbc.refer_timeout_ms = ms;
    }
    if let Some(s) = &raw.transfer_timeout_s
        && let Some(s) = in_range(s, "sbc.transfer_timeout_s", 0, 86_400, report)
    {
        sbc.transfer_timeout_s = s;
    }
    if let Some(ms) = &raw.handoff_bye_after_ms
        && let Some(ms) = in_range(ms, "sbc.handoff_bye_after_ms", 0, 600_000, report)
    {
        sbc.handoff_bye_after_ms = ms;
    }
    if let Some(n) = &raw.audit_queue
        && let Some(n) = in_range(n, "sbc.audit_queue", 1, 16_777_216, report)
    {
        sbc.audit_queue = n as usize;
    }
    if let Some(bodies) = raw.audit_bodies {
        sbc.audit_bodies = bodies;
    }
    if let Some(s) = &raw.drain_s
        && let Some(s) = in_range(s, "sbc.drain_s", 0, 86_400, report)
    {
        sbc.drain_s = s;
    }
    if let Some(s) = &raw.media_timeout_s
        && let Some(s) = in_range(s, "sbc.media_timeout_s", 0, 86_400, report)
    {
        sbc.media_timeout_s = s;
    }
    if let Some(s) = &raw.hold_timeout_s
        && let Some(s) = in_range(s, "sbc.hold_timeout_s", 0, 604_800, report)
    {
        sbc.hold_timeout_s = s;
    }
    if let Some(s) = &raw.max_call_s
        && let Some(s) = in_range(s, "sbc.max_call_s", 0, 604_800, report)
    {
        sbc.max_call_s = s;
    }
    if let Some(timers) = &raw.timers {
        sbc.timers = validate_timers(timers, report);
    }
    if let Some(limit) = &raw.source_limit {
        let keys = [
            (&limit.pps, "sbc.source_limit.pps", 0, 1_000_000),
            (&limit.ban_s, "sbc.source_limit.ban_s", 0, 86_400),
            (
                &limit.trunk_pps,
                "sbc.source_limit.trunk_pps",
                0,
                10_000_000,
            ),
        ];
        let mut values = [None; 3];
        for (value, (raw, name, low, high)) in values.iter_mut().zip(keys) {
            if let Some(raw) = raw {
                *value = in_range(raw, name, low, high, report);
            }
        }
        let [pps, ban_s, trunk_pps] = values;
        let limit = &mut sbc.source_limit;
        limit.pps = pps.map_or(limit.pps, |v| v as u32);
        limit.ban_s = ban_s.map_or(limit.ban_s, |v| v as u32);
        limit.trunk_pps = trunk_pps.map_or(limit.trunk_pps, |v| v as u32);
    }
    sbc
}

fn validate_timers(raw: &RawTimers, report: &mut Report<'_>) -> SipTimers {
    let mut timers = SipTimers::default();
    if let Some(t1) = &raw.t1_ms
        && let Some(v) = in_range(t1, "sbc.timers.t1_ms", 1, 60_000, report)
    {
        timers.t1_ms = v;
    }
    if let Some(t2) = &raw.t2_ms
        && let Some(v) = in_range(t2, "sbc.timers.t2_ms", 1, 600_000, report)
    {
        timers.t2_ms = v;
    }
    if let Some(t4) = &raw.t4_ms
        && let Some(v) = in_range(t4, "sbc.timers.t4_ms", 1, 600_000, report)
    {
        timers.t4_ms = v;
    }
    if timers.t2_ms < timers.t1_ms {
        let offset = raw
            .t2_ms
            .as_ref()
            .or(raw.t1_ms.as_ref())
            .map_or(0, |t| t.span().start);
        report.at(
            offset,
            format!(
                "sbc.timers: t2_ms ({}) must not be below t1_ms ({}); T2 caps the retransmit interval that starts at T1",
                timers.t2_ms, timers.t1_ms
            ),
        );
    }
    timers
}

fn media_ports(
    ports: &Spanned<Vec<Spanned<i64>>>,
    shards: usize,
    report: &mut Report<'_>,
) -> Option<(u16, u16)> {
    let [start, end] = ports.get_ref().as_slice() else {
        report.on(
            ports,
            format!(
                "sbc.media_ports: expected [start, end], got {} values",
                ports.get_ref().len()
            ),
        );
        return None;
    };
    let port = |value: &Spanned<i64>, report: &mut Report<'_>| match u16::try_from(*value.get_ref())
    {
        Ok(p) if p > 0 => Some(p),
        _ => {
            report.on(
                value,
                format!(
                    "sbc.media_ports: {} is not a UDP port (1..=65535)",
                    value.get_ref()
                ),
            );
            None
        }
    };
    let (start_port, end_port) = (port(start, report)?, port(end, report)?);
    if start_port >= end_port {
        report.on(
            ports,
            format!(
                "sbc.media_ports: range [{start_port}, {end_port}) is empty; start must be below end"
            ),
        );
        return None;
    }
    if start_port % 2 == 1 {
        report.on(
            start,
            format!(
                "sbc.media_ports: start {start_port} is odd; RTP uses even ports and RTCP the next odd one"
            ),
        );
        return None;
    }
    let pairs = usize::from(end_port - start_port) / 2;
    if shards > 0 && pairs < shards {
        report.on(
            ports,
            format!(
                "sbc.media_ports: [{start_port}, {end_port}) holds {pairs} RTP/RTCP pairs, fewer than the {shards} shards"
            ),
        );
        return None;
    }
    Some((start_port, end_port))
}

fn validate_trunk(raw: &RawTrunk, report: &mut Report<'_>) -> Trunk {
    let name = raw.name.get_ref().clone();
    if name.trim().is_empty() {
        report.on(&raw.name, "trunk.name: empty".to_owned());
    }
    let key = |field: &str| format!("trunk {name:?}: {field}");
    let peer =
        socket_addr(&raw.peer, &key("peer"), report).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let sources = match raw.sources.as_ref() {
        None => SourceSet::exactly(peer),
        Some(list) => {
            let mut rules = Vec::new();
            for entry in list.get_ref() {
                match SourceRule::parse(entry.get_ref()) {
                    Ok(rule) => rules.push(rule),
                    Err(error) => report.on(entry, format!("{}: {error}", key("sources"))),
                }
            }
            if list.get_ref().is_empty() {
                report.on(
                    list,
                    format!(
                        "{}: empty; leave it out to accept the peer address only",
                        key("sources")
                    ),
                );
            }
            SourceSet::new(rules)
        }
    };
    let role = match raw.role.as_ref() {
        None => TrunkRole::Carrier,
        Some(v) => match v.get_ref().as_str() {
            "carrier" => TrunkRole::Carrier,
            "platform" => TrunkRole::Platform,
            other => {
                report.on(v, one_of(&key("role"), other, &["carrier", "platform"]));
                TrunkRole::Carrier
            }
        },
    };
    let carrier_refer = match raw.carrier_refer.as_ref() {
        None => CarrierReferPolicy::Reject,
        Some(v) => match v.get_ref().as_str() {
            "reject" => CarrierReferPolicy::Reject,
            "relay" => CarrierReferPolicy::Relay,
            other => {
                report.on(
                    v,
                    one_of(&key("carrier_refer"), other, &["reject", "relay"]),
                );
                CarrierReferPolicy::Reject
            }
        },
    };
    let transfer = match raw.transfer.as_ref() {
        None => TransferMethod::Refer,
        Some(v) => match v.get_ref().as_str() {
            "refer" => TransferMethod::Refer,
            "local" => TransferMethod::Local,
            other => {
                report.on(v, one_of(&key("transfer"), other, &["refer", "local"]));
                TransferMethod::Refer
            }
        },
    };
    let on_refer_failure = match raw.on_refer_failure.as_ref() {
        None => ReferFailurePolicy::Local,
        Some(v) => match v.get_ref().as_str() {
            "local" => ReferFailurePolicy::Local,
            "reject" => ReferFailurePolicy::Reject,
            other => {
                report.on(
                    v,
                    one_of(&key("on_refer_failure"), other, &["local", "reject"]),
                );
                ReferFailurePolicy::Local
            }
        },
    };
    let refer_domain = raw.refer_domain.as_ref().and_then(|domain| {
        if is_host(domain.get_ref()) {
            Some(domain.get_ref().clone())
        } else {
            report.on(
                domain,
                format!(
                    "{}: {:?} is not a host name or IP address",
                    key("refer_domain"),
                    domain.get_ref()
                ),
            );
            None
        }
    });
    let jurisdiction = raw.jurisdiction.as_ref().and_then(|j| {
        let text = j.get_ref();
        let token = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if token {
            Some(text.clone())
        } else {
            report.on(
                j,
                format!(
                    "{}: {text:?} is not a jurisdiction name (1 to 32 letters, digits, '-', '_' or '.', e.g. \"UK\")",
                    key("jurisdiction")
                ),
            );
            None
        }
    });
    let country_code = raw
        .country_code
        .get_ref()
        .trim_start_matches('+')
        .to_owned();
    let country_code_ok = (1..=3).contains(&country_code.len())
        && country_code.bytes().all(|b| b.is_ascii_digit())
        && !country_code.starts_with('0');
    if !country_code_ok {
        report.on(
            &raw.country_code,
            format!(
                "{}: {:?} is not an E.164 country code (1 to 3 digits, no leading 0, e.g. \"1\" or \"44\")",
                key("country_code"),
                raw.country_code.get_ref()
            ),
        );
    }
    let codecs = match raw.codecs.as_ref() {
        None => vec!["PCMU".to_owned(), "PCMA".to_owned()],
        Some(list) => validate_codecs(list, &key("codecs"), report),
    };
    let ringback = match raw.ringback.as_ref() {
        None => RingbackMode::Auto,
        Some(v) => match v.get_ref().as_str() {
            "auto" => RingbackMode::Auto,
            "local" => RingbackMode::Local,
            "off" => RingbackMode::Off,
            other => {
                report.on(
                    v,
                    one_of(&key("ringback"), other, &["auto", "local", "off"]),
                );
                RingbackMode::Auto
            }
        },
    };
    let ringback_tone = match raw.ringback_tone.as_ref() {
        // The caller hears the tone of their own country.
        None => match country_code.as_str() {
            "1" => RingbackTone::Us,
            "44" => RingbackTone::Uk,
            _ => RingbackTone::Eu,
        },
        Some(v) => match v.get_ref().as_str() {
            "us" => RingbackTone::Us,
            "uk" => RingbackTone::Uk,
            "eu" => RingbackTone::Eu,
            other => {
                report.on(v, one_of(&key("ringback_tone"), other, &["us", "uk", "eu"]));
                RingbackTone::Us
            }
        },
    };
    let mut headers = BTreeMap::new();
    for (header, value) in raw.headers.iter().flatten() {
        let header_name = header.get_ref();
        if header_name.is_empty() || !header_name.bytes().all(is_token_byte) {
            report.on(
                header,
                format!(
                    "{}: {header_name:?} is not a valid SIP header name",
                    key("headers")
                ),
            );
        } else if RESERVED_HEADERS.contains(&header_name.to_ascii_lowercase().as_str()) {
            report.on(
                header,
                format!(
                    "{}: {header_name} is set by handoff itself and cannot be overridden",
                    key("headers")
                ),
            );
        } else if value
            .get_ref()
            .bytes()
            .any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            report.on(
                value,
                format!(
                    "{}: value of {header_name} contains a line break or NUL",
                    key("headers")
                ),
            );
        } else {
            headers.insert(header_name.clone(), value.get_ref().clone());
        }
    }
    let transfer_targets = TargetPolicy {
        allow: e164_prefixes(raw.transfer_allow.as_ref(), &key("transfer_allow"), report),
        deny: e164_prefixes(raw.transfer_deny.as_ref(), &key("transfer_deny"), report),
    };
    let media_networks =
        media_networks(raw.media_networks.as_ref(), &key("media_networks"), report);
    let mut limits = TrunkLimits::default();
    if let Some(n) = &raw.max_calls
        && let Some(n) = in_range(n, &key("max_calls"), 0, 1_000_000, report)
    {
        limits.max_calls = n as u32;
    }
    if let Some(n) = &raw.max_cps
        && let Some(n) = in_range(n, &key("max_cps"), 0, 1_000_000, report)
    {
        limits.max_cps = n as u32;
    }
    let transfer_timeout_s = raw
        .transfer_timeout_s
        .as_ref()
        .and_then(|s| in_range(s, &key("transfer_timeout_s"), 0, 86_400, report));
    let handoff_bye_after_ms = raw
        .handoff_bye_after_ms
        .as_ref()
        .and_then(|ms| in_range(ms, &key("handoff_bye_after_ms"), 0, 600_000, report));
    let refer_response = match raw.refer_response.as_ref() {
        None => StatusCode::ACCEPTED,
        Some(code) => match *code.get_ref() {
            200 => StatusCode::OK,
            202 => StatusCode::ACCEPTED,
            other => {
                report.on(
                    code,
                    format!("{}: {other} is not 200 or 202", key("refer_response")),
                );
                StatusCode::ACCEPTED
            }
        },
    };
    let refer_hook = raw
        .refer_hook
        .as_ref()
        .and_then(|hook| refer_hook(hook, role, &key("refer_hook"), report));
    let auth = raw
        .auth
        .as_ref()
        .and_then(|auth| trunk_auth(auth, &key("auth"), report));
    Trunk {
        name,
        peer,
        sources: Arc::new(sources),
        role,
        carrier_refer,
        transfer,
        on_refer_failure,
        refer_domain,
        jurisdiction,
        country_code,
        codecs,
        ringback,
        ringback_tone,
        headers,
        transfer_targets,
        trust_identity: raw.trust_identity.unwrap_or(true),
        conversation_header: raw.conversation_header.unwrap_or(false),
        media_networks,
        limits,
        refer_hook,
        transfer_timeout_s,
        handoff_bye_after_ms,
        refer_response,
        auth,
    }
}

/// `auth = { username = "...", password = "..." [, realm = "..."] }`. Error messages name the
/// key, never the password's value.
fn trunk_auth(raw: &Spanned<RawAuth>, key: &str, report: &mut Report<'_>) -> Option<TrunkAuth> {
    let auth = raw.get_ref();
    // A value that goes into a quoted-string of the Authorization header (RFC 3261 section
    // 25.1): printable, no quote or backslash, no line break.
    let quotable = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| !c.is_control() && c != '"' && c != '\\')
    };
    let username = match &auth.username {
        None => {
            report.on(raw, format!("{key}: username is missing"));
            None
        }
        Some(name) if !quotable(name.get_ref()) => {
            report.on(
                name,
                format!(
                    "{key}.username: must be non-empty printable text without quotes or backslashes"
                ),
            );
            None
        }
        Some(name) => Some(name.get_ref().clone()),
    };
    let password = match &auth.password {
        None => {
            report.on(raw, format!("{key}: password is missing"));
            None
        }
        Some(password)
            if password.get_ref().is_empty()
                || password.get_ref().chars().any(char::is_control) =>
        {
            report.on(
                password,
                format!("{key}.password: must be non-empty text without control characters"),
            );
            None
        }
        Some(password) => Some(password.get_ref().clone()),
    };
    let realm = match &auth.realm {
        Some(realm) if !quotable(realm.get_ref()) => {
            report.on(
                realm,
                format!(
                    "{key}.realm: must be non-empty printable text without quotes or backslashes"
                ),
            );
            return None;
        }
        Some(realm) => Some(realm.get_ref().clone()),
        None => None,
    };
    Some(TrunkAuth {
        username: username?,
        password: password?,
        realm,
    })
}

/// `refer_hook = { url = "http://...", timeout_ms = 1500, on_error = "refer" }`.
fn refer_hook(
    raw: &Spanned<RawReferHook>,
    role: TrunkRole,
    key: &str,
    report: &mut Report<'_>,
) -> Option<ReferHook> {
    let hook = raw.get_ref();
    let mut ok = true;
    if role != TrunkRole::Platform {
        report.on(
            raw,
            format!("{key}: only a platform trunk's REFERs start transfers; set role = \"platform\" or remove it"),
        );
        ok = false;
    }
    let url = match hook.url.as_ref() {
        None => {
            report.on(raw, format!("{key}: url is missing"));
            None
        }
        Some(url) => {
            let text = url.get_ref();
            let rest = text.strip_prefix("http://").unwrap_or("");
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.parse::<u16>().is_ok() { h } else { "" }
            });
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if !text.starts_with("http://") || host.is_empty() || !is_host(host) {
                report.on(
                    url,
                    format!(
                        "{key}.url: {text:?} is not an http:// URL (only plain HTTP, e.g. \"http://127.0.0.1:8080/refer\")"
                    ),
                );
                None
            } else if text
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                report.on(url, format!("{key}.url: {text:?} contains whitespace"));
                None
            } else {
                Some(text.clone())
            }
        }
    };
    let mut timeout_ms = 1500;
    if let Some(ms) = &hook.timeout_ms {
        match in_range(ms, &format!("{key}.timeout_ms"), 10, 30_000, report) {
            Some(ms) => timeout_ms = ms,
            None => ok = false,
        }
    }
    let mut on_error = HookAction::Refer;
    if let Some(action) = &hook.on_error {
        match HookAction::parse(action.get_ref()) {
            Some(action) => on_error = action,
            None => {
                report.on(
                    action,
                    one_of(
                        &format!("{key}.on_error"),
                        action.get_ref(),
                        &["refer", "local", "reject"],
                    ),
                );
                ok = false;
            }
        }
    }
    let url = url?;
    ok.then_some(ReferHook {
        url,
        timeout_ms,
        on_error,
    })
}

/// A list of E.164 prefixes: each `+` followed by 1 to 15 digits.
/// `media_networks`: CIDRs or bare IPs (a /32 or /128); no ports (media may come from any port
/// of an allowed address).
fn media_networks(
    list: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
    report: &mut Report<'_>,
) -> Arc<[IpNetwork]> {
    let mut networks = Vec::new();
    for entry in list.map(|l| l.get_ref().as_slice()).unwrap_or_default() {
        let text = entry.get_ref().trim();
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let Ok(ip) = ip.parse::<IpAddr>() else {
            report.on(
                entry,
                format!("{key}: {text:?} is not an IP network (e.g. \"192.0.2.0/24\", \"2001:db8::/32\", or a bare IP)"),
            );
            continue;
        };
        let ip = canonical_ip(ip);
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.map(str::parse::<u8>) {
            None => width,
            Some(Ok(p)) if p <= width => p,
            Some(_) => {
                report.on(
                    entry,
                    format!("{key}: {text:?}: the prefix length must be 0 to {width}"),
                );
                continue;
            }
        };
        networks.push(IpNetwork::new(ip, prefix));
    }
    networks.into()
}

fn e164_prefixes(
    list: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
    report: &mut Report<'_>,
) -> Vec<String> {
    let mut prefixes = Vec::new();
    for prefix in list.map(|l| l.get_ref().as_slice()).unwrap_or_default() {
        let text = prefix.get_ref();
        let digits = text.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            report.on(
                prefix,
                format!("{key}: {text:?} is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+1900\")"),
            );
        } else {
            prefixes.push(text.clone());
        }
    }
    prefixes
}

fn validate_codecs(
    list: &Spanned<Vec<Spanned<String>>>,
    key: &str,
    report: &mut Report<'_>,
) -> Vec<String> {
    let mut codecs: Vec<String> = Vec::new();
    for codec in list.get_ref() {
        let given = codec.get_ref();
        match KNOWN_CODECS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(given))
        {
            Some(known) if codecs.iter().any(|c| c == known) => {
                report.on(codec, format!("{key}: {known} is listed twice"));
            }
            Some(known) => codecs.push((*known).to_owned()),
            None => report.on(
                codec,
                format!(
                    "{key}: unknown codec {given:?} (known: {})",
                    KNOWN_CODECS.join(", ")
                ),
            ),
        }
    }
    if list.get_ref().is_empty() {
        report.on(list, format!("{key}: empty; list at least PCMU or PCMA"));
    } else if !codecs.iter().any(|c| c == "PCMU" || c == "PCMA") {
        report.on(
            list,
            format!("{key}: must include PCMU or PCMA, because transfers re-negotiate to G.711"),
        );
    }
    codecs
}

fn check_trunks_together(
    raw: &[Spanned<RawTrunk>],
    trunks: &[Trunk],
    sbc: &SbcConfig,
    report: &mut Report<'_>,
) {
    for (i, (raw_trunk, trunk)) in raw.iter().zip(trunks).enumerate() {
        let earlier = &trunks[..i];
        if let Some(first) = earlier.iter().position(|t| t.name == trunk.name) {
            let (line, _) = line_column(report.text, raw[first].get_ref().name.span().start);
            report.on(
                &raw_trunk.get_ref().name,
                format!(
                    "trunk {:?}: duplicate trunk name (first defined on line {line})",
                    trunk.name
                ),
            );
        }
        // An unparsable peer is already reported; it must not collide with other bad peers.
        if trunk.peer.port() == 0 {
            continue;
        }
        if trunk.peer == sbc.listen
            || trunk.peer == SocketAddr::new(sbc.advertise, sbc.listen.port())
        {
            report.on(
                &raw_trunk.get_ref().peer,
                format!(
                    "trunk {:?}: peer {} is handoff's own SIP address; calls would loop",
                    trunk.name, trunk.peer
                ),
            );
        }
        if let Some(first) = earlier.iter().position(|t| t.peer == trunk.peer) {
            report.on(
                &raw_trunk.get_ref().peer,
                format!(
                    "trunk {:?}: peer {} is also trunk {:?}'s peer; requests from it could not be told apart",
                    trunk.name, trunk.peer, trunks[first].name
                ),
            );
        } else if let Some((first, (ours, theirs))) = earlier
            .iter()
            .enumerate()
            .find_map(|(j, t)| trunk.sources.overlap(&t.sources).map(|pair| (j, pair)))
        {
            let at = raw_trunk.get_ref().sources.as_ref().map_or_else(
                || raw_trunk.get_ref().peer.span().start,
                |list| list.span().start,
            );
            let (line, _) = line_column(report.text, raw[first].get_ref().name.span().start);
            report.at(
                at,
                format!(
                    "trunk {:?}: source {ours} overlaps trunk {:?}'s source {theirs} (defined on line {line}); a source must belong to one trunk",
                    trunk.name, trunks[first].name
                ),
            );
        }
    }
}

fn validate_routes(
    raw: &[Spanned<RawRoute>],
    trunks: &[Spanned<RawTrunk>],
    report: &mut Report<'_>,
) -> Vec<Route> {
    let lookup = |name: &Spanned<String>, field: &str, report: &mut Report<'_>| {
        let index = trunks
            .iter()
            .position(|t| t.get_ref().name.get_ref() == name.get_ref());
        if index.is_none() {
            let mut known: Vec<&str> = Vec::new();
            for trunk in trunks {
                let name = trunk.get_ref().name.get_ref().as_str();
                if !known.contains(&name) {
                    known.push(name);
                }
            }
            report.on(
                name,
                format!(
                    "route.{field}: no trunk named {:?} (trunks: {})",
                    name.get_ref(),
                    if known.is_empty() {
                        "none defined".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        index
    };
    let mut routes = Vec::new();
    for spanned in raw {
        let route = spanned.get_ref();
        let from = route.from.as_ref().map(|name| lookup(name, "from", report));
        let to = lookup(&route.to, "to", report);
        let prefix = match &route.prefix {
            None => String::new(),
            Some(prefix) => {
                let digits = prefix
                    .get_ref()
                    .strip_prefix('+')
                    .unwrap_or(prefix.get_ref());
                if digits.bytes().all(|b| b.is_ascii_digit()) {
                    digits.to_owned()
                } else {
                    report.on(
                        prefix,
                        format!(
                            "route.prefix: {:?} is not an E.164 digit prefix (e.g. \"1555\" or \"+44\")",
                            prefix.get_ref()
                        ),
                    );
                    String::new()
                }
            }
        };
        let domain = route.domain.as_ref().and_then(|domain| {
            let text = domain.get_ref().trim();
            let valid = !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !valid {
                report.on(
                    domain,
                    format!(
                        "route.domain: {:?} is not a host name (e.g. \"pbx.example\")",
                        domain.get_ref()
                    ),
                );
            }
            valid.then(|| text.to_ascii_lowercase())
        });
        // A `domain` route takes transfer targets only: leg C may go back to the trunk the
        // REFER came from (a desk phone behind the platform's own PBX).
        if let (Some(Some(from)), Some(to)) = (from, to)
            && from == to
            && domain.is_none()
        {
            report.on(
                &route.to,
                format!(
                    "route.to: {:?} sends calls back to the trunk they came from",
                    route.to.get_ref()
                ),
            );
        }
        match (from, to) {
            (Some(None), _) | (_, None) => {}
            (from, Some(to)) => routes.push(Spanned::new(
                spanned.span(),
                Route {
                    from: from.flatten(),
                    to,
                    prefix,
                    domain,
                },
            )),
        }
    }
    check_shadowed_routes(&routes, report);
    routes.into_iter().map(Spanned::into_inner).collect()
}

/// A route that an earlier route always catches first can never match: surely a mistake.
fn check_shadowed_routes(routes: &[Spanned<Route>], report: &mut Report<'_>) {
    for (i, route) in routes.iter().enumerate() {
        let route_ref = route.get_ref();
        let shadow = routes[..i].iter().find(|earlier| {
            let earlier = earlier.get_ref();
            (earlier.from.is_none() || earlier.from == route_ref.from)
                && earlier.domain == route_ref.domain
                && route_ref.prefix.starts_with(&earlier.prefix)
        });
        if let Some(earlier) = shadow {
            let (line, _) = line_column(report.text, earlier.span().start);
            report.on(
                route,
                format!(
                    "route: never matches; the route on line {line} catches all its calls first"
                ),
            );
        }
    }
}

// --- value helpers -----------------------------------------------------------------------------

fn socket_addr(value: &Spanned<String>, key: &str, report: &mut Report<'_>) -> Option<SocketAddr> {
    match value.get_ref().parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            report.on(value, format!("{key}: port 0 is not a usable port"));
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            report.on(
                value,
                format!(
                    "{key}: {:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")",
                    value.get_ref()
                ),
            );
            None
        }
    }
}

fn in_range(
    value: &Spanned<i64>,
    key: &str,
    min: u64,
    max: u64,
    report: &mut Report<'_>,
) -> Option<u64> {
    match u64::try_from(*value.get_ref()) {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            report.on(
                value,
                format!("{key}: {} is out of range ({min}..={max})", value.get_ref()),
            );
            None
        }
    }
}

fn one_of(key: &str, given: &str, allowed: &[&str]) -> String {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    format!("{key}: {given:?} is not one of {}", allowed.join(", "))
}

/// RFC 3261 `token` characters, as used in header names.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config/contact-center.toml");

    /// The key lists used for unknown-key reports agree with the serde schema, and the commented
    /// example documents every key.
    #[test]
    fn key_lists_match_the_schema_and_the_example_uses_every_key() {
        let raw: Result<RawConfig, _> = toml::from_str(EXAMPLE);
        assert!(raw.is_ok(), "example must fit the raw schema directly");
        let (mut document, syntax_errors) = DeTable::parse_recoverable(EXAMPLE);
        assert!(syntax_errors.is_empty());
        let mut report = Report {
            text: EXAMPLE,
            file: "contact-center.toml",
            errors: Vec::new(),
        };
        assert!(!check_keys(document.get_mut(), &mut report));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        for key in SBC_KEYS
            .iter()
            .chain(TRUNK_KEYS)
            .chain(ROUTE_KEYS)
            .chain(TIMER_KEYS)
            .chain(SOURCE_LIMIT_KEYS)
        {
            let used = EXAMPLE.lines().any(|line| {
                // A secret is shown commented out: an example never ships one.
                line.starts_with(&format!("{key} "))
                    || line.starts_with(&format!("[sbc.{key}]"))
                    || (*key == "admin_token" && line.starts_with("# admin_token = "))
                    // An app callback needs a server of the operator's: shown commented out.
                    || (*key == "refer_hook" && line.starts_with("# refer_hook = "))
                    // Credentials: shown commented out, an example never ships a password.
                    || (*key == "auth" && line.starts_with("# auth = "))
            });
            assert!(used, "config/contact-center.toml does not show `{key}`");
        }
    }

    #[test]
    fn line_column_counts_characters_from_one() {
        let text = "a = 1\né = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 11), (2, 5));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn typo_suggestions_need_a_close_match() {
        assert_eq!(closest("sharts", SBC_KEYS), Some("shards"));
        assert_eq!(closest("colour", SBC_KEYS), None);
    }
}
