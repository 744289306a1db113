//! The sans-IO signaling core: one [`ShardCore`] per shard.
//!
//! # The run-loop contract
//!
//! The driver (the per-shard I/O loop in `src/runtime/shard.rs`, or the deterministic simulation
//! in `src/sim`) owns the sockets and the clock. It feeds the core these inputs, each
//! stamped with the current [`Time`]:
//!
//! - `handle_datagram(now, from, bytes)`: a SIP datagram received on the shard's socket;
//! - `handle_timeout(now)`: time has passed; the core fires whatever deadline is due;
//! - `handle_shard_message(now, from, message)`: a message from another shard (a datagram it
//!   passed on, a dialog query or answer, a join step, a config reload, a drain);
//! - `handle_media_failure(now, call)`: the driver could not open the media sockets a `Media`
//!   output asked for (the call's request fails: 503 on setup, 500 on a re-INVITE).
//! - `handle_media_activity(now, call, last)`: the answer to `Output::QueryMediaActivity` (when the
//!   call last had media; session liveness, see `liveness.rs`).
//!
//! After every input the driver drains `poll_output()` until it returns `None`, acting on each
//! [`Output`]: `Transmit` (send a datagram), `ToShard` (queue a message to another shard),
//! `Media` (open, update or close a call's media ports, ringback, laws) and `Event` (audit
//! records, logs, metrics). Then it asks `poll_timeout()` for the core's earliest deadline and
//! sleeps until that moment or the next input. The core keeps its deadlines itself, in
//! [`timers::TimerTable`]s (set, moved, cancelled; nothing stale reaches the driver). The core never reads a clock, touches a socket, takes a lock or uses
//! randomness of its own: everything it knows about "now" arrives as a [`Time`], identifiers come
//! from a ChaCha20 generator keyed at construction (by the OS in the runtime, by a seed in the
//! simulation), and the same key and inputs always give the same outputs.
//!
//! Inside, a datagram is routed to its owning shard by the identifiers handoff minted
//! ([`ids::owner_of_datagram`]), passed through the transaction layer, then to the call it names.
//! The shard finds that call once and calls the call's own behaviour (`impl Call`) with the
//! shard's effects sink (`effects.rs`: outputs, transactions, timers, ids, ports, counters); what
//! reaches beyond the call comes back to the shard as a follow-up. A call has legs with roles
//! (carrier or platform) bound to the peers they were created with; see ARCHITECTURE.md, "The
//! call model".
//!
//! ```
//! use std::sync::Arc;
//! use handoff::config::Config;
//! use handoff::core::{Output, ShardCore, ShardId, Time};
//!
//! // The embedded default: trunk "carrier" is 127.0.0.1:5070.
//! let config = Config::from_toml_str(handoff::config::DEFAULT_CONFIG, "default.toml").unwrap();
//! let mut core = ShardCore::new(ShardId(0), 1, Arc::new(config), 7);
//! let carrier = "127.0.0.1:5070".parse().unwrap();
//! let options = "OPTIONS sip:handoff@127.0.0.1 SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-keepalive-1\r\n\
//!     Max-Forwards: 70\r\nFrom: <sip:carrier@127.0.0.1>;tag=c1\r\n\
//!     To: <sip:handoff@127.0.0.1>\r\nCall-ID: keepalive-1@127.0.0.1\r\n\
//!     CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//!
//! let now = Time::from_millis(1);
//! core.handle_datagram(now, carrier, options.as_bytes());
//! let mut answered = false;
//! while let Some(output) = core.poll_output() {
//!     match output {
//!         Output::Transmit(t) if t.to == carrier => {
//!             answered = t.payload.starts_with(b"SIP/2.0 200 OK");
//!         }
//!         _ => {}
//!     }
//! }
//! assert!(answered, "a keepalive from a trunk is answered 200");
//! // Nothing is pending for a keepalive but its transaction's own timer (absorbing
//! // retransmissions); the driver sleeps until then and reports the time.
//! let due = core.poll_timeout().expect("the OPTIONS transaction lingers");
//! core.handle_timeout(due);
//! assert_eq!(core.poll_timeout(), None);
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, RingbackTone};
use crate::media::g711::G711Law;
use crate::transfer::TransferRecord;
use crate::transfer::dialog_ids::DialogId;
pub use crate::vocab::{
    CallRef, IpNetwork, MediaCounters, MediaLeg, MediaSide, MediaSources, ShardId, StatusCode, Time,
};
pub use attended_state::{DIALOG_QUERY_TIMEOUT_MS, JoinMessage, MAX_HELD_REQUESTS, MovedLeg};

/// A datagram to send from the shard's SIP socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// Messages between shards. They travel over SPSC queues in the runtime, and over an in-memory
/// queue in the simulation. Never a lock, never shared mutable state.
#[derive(Clone, Debug)]
pub enum ShardMessage {
    /// A datagram that arrived on the wrong shard, passed on raw to its owner.
    Datagram { from: SocketAddr, payload: Vec<u8> },
    /// A new configuration version (hot reload). Calls already up keep their settings.
    Config(Arc<Config>),
    /// Graceful stop: refuse new INVITEs with 503; after the drain deadline, BYE what is left.
    Drain { deadline: Time },
    /// An operator ends the call with this conversation id (admin API): BYE on both bridged
    /// legs (or a final response and CANCEL while it is set up), `end_reason =
    /// "ended_by_operator"`. A shard without the call ignores it.
    EndCall { conversation: String },
    /// What came of an `Output::ReferHook` POST (from the runtime's hook workers, on the
    /// shard's control queue): handled as [`ShardCore::handle_hook_answer`].
    HookAnswer {
        call: CallRef,
        request_id: u64,
        answer: HookAnswer,
    },
    /// Attended transfer: "which leg is bridged to this dialog of yours?" (handoff's view of
    /// the named leg). The owner answers the asking shard with `DialogAnswer`.
    DialogQuery { query: u64, dialog: DialogId },
    /// The answer: handoff's view of the bridged leg, `None` when the dialog is not one the
    /// owner bridges (the identifier then passes unchanged).
    DialogAnswer {
        query: u64,
        dialog: DialogId,
        bridged: Option<Box<DialogId>>,
    },
    /// A local attended transfer joining calls of two shards (see `core/attended.rs`).
    Join(Box<JoinMessage>),
}

/// Commands to the media relay of this shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind RTP+RTCP sockets for both legs and relay between them (a <-> b).
    Open {
        call: CallRef,
        a: MediaLeg,
        b: MediaLeg,
    },
    /// Remote addresses changed (answer arrived, re-INVITE), or a leg moved to new local ports
    /// (a transfer bridged A to a new leg C): the relay binds sockets for a `local_port` it does
    /// not hold yet and closes the ones the call no longer names.
    Update {
        call: CallRef,
        a: MediaLeg,
        b: MediaLeg,
    },
    /// Stop relaying, close the sockets. The ports go back to the core's pool.
    Close { call: CallRef },
    /// The G.711 law each leg negotiated; where they differ the relay transcodes per sample.
    SetLaws {
        call: CallRef,
        a: Option<G711Law>,
        b: Option<G711Law>,
    },
    /// Play local ringback toward one leg (the customer) in its RTP stream, continuing the SSRC,
    /// sequence and timestamp it was receiving; packets from the other leg toward it are muted
    /// until `StopRingback`.
    StartRingback {
        call: CallRef,
        toward: MediaSide,
        tone: RingbackTone,
        law: G711Law,
        /// The payload type number the leg negotiated for `law` (RFC 3264: 0/8, or the dynamic
        /// number its SDP bound to PCMU/PCMA).
        payload_type: u8,
    },
    /// Stop the ringback and let the relayed media flow again.
    StopRingback { call: CallRef },
}

impl MediaCommand {
    /// The call the command is about.
    pub fn call(&self) -> CallRef {
        match self {
            MediaCommand::Open { call, .. }
            | MediaCommand::Update { call, .. }
            | MediaCommand::Close { call }
            | MediaCommand::SetLaws { call, .. }
            | MediaCommand::StartRingback { call, .. }
            | MediaCommand::StopRingback { call } => *call,
        }
    }
}

/// What the core asks its driver to do. Drained with `ShardCore::poll_output()`.
#[derive(Clone, Debug)]
pub enum Output {
    Transmit(Transmit),
    ToShard {
        shard: ShardId,
        message: ShardMessage,
    },
    Media(MediaCommand),
    /// Session liveness: "when did call `call` last have media?" The driver answers at once with
    /// [`ShardCore::handle_media_activity`] (the relay's last accepted packet of the call, or now
    /// while it plays ringback). Asked once per `sbc.media_timeout_s` per answered call, never
    /// per packet.
    QueryMediaActivity {
        call: CallRef,
    },
    /// A platform trunk's `refer_hook`: POST `body` (JSON) to `url`, off the shard, and bring
    /// the outcome back with [`ShardCore::handle_hook_answer`] (same `call` and `request_id`).
    /// The core holds the REFER meanwhile and gives up by itself after `timeout` (the trunk's
    /// `on_error`), so a lost answer costs only the wait; a late one is ignored.
    ReferHook {
        call: CallRef,
        request_id: u64,
        url: String,
        body: String,
        timeout: std::time::Duration,
    },
    Event(Event),
}

/// What came of an `Output::ReferHook` POST, as the driver saw it. The core reads the answer's
/// JSON itself (`{"action": "refer" | "local" | "reject", "target": .., "headers": {..}}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAnswer {
    /// An HTTP response: its status and body.
    Response { status: u16, body: Vec<u8> },
    /// No response: connection refused, reset, timed out, unreachable (the error, for the
    /// audit).
    Failed(String),
}

/// Facts for the audit log and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    CallStarted {
        call: CallRef,
        conversation: String,
        /// The conversation this call continues (a trunk's `X-Conversation-ID`).
        linked_conversation: Option<String>,
        from_trunk: String,
        to_trunk: String,
    },
    CallAnswered {
        call: CallRef,
    },
    CallEnded(CallEnd),
    /// A request refused before any call existed (403 unknown source, 400 malformed, 404 no route...).
    RequestRejected {
        from: SocketAddr,
        status: StatusCode,
        reason: String,
    },
    /// One transfer attempt reached its outcome (the audit's `transfer` record).
    Transfer(Box<TransferRecord>),
    /// A response that could not be parsed; dropped and counted.
    MalformedResponseDropped {
        from: SocketAddr,
        error: String,
    },
    /// Why handoff answered a request with `status`, in more words than the generic reason
    /// phrase it sent (`StatusCode::reason_phrase`): for the log only (topology hiding).
    ResponseDetail {
        to: SocketAddr,
        status: StatusCode,
        detail: String,
        /// The call the request belonged to (by its Call-ID), if any: the log names it.
        call: Option<CallRef>,
    },
    /// A datagram that spoke for a call or transaction not its own; dropped unanswered, counted.
    Dropped {
        from: SocketAddr,
        reason: crate::metrics::DropReason,
    },
    /// A source went over its `sbc.source_limit` budget: its datagrams are dropped for `ban_s`.
    SourceBanned {
        from: SocketAddr,
        trunk: Option<String>,
        ban_s: u32,
    },
}

/// Why a call ended: typed inside the core, text only in the audit and logs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The leg at position A (the INVITE's sender) sent BYE.
    ByeFromA,
    /// The leg at position B (the routed trunk, or leg C in its place) sent BYE.
    ByeFromB,
    /// The caller cancelled before the answer.
    Cancelled,
    /// The routed trunk refused the call (its final status is the setup status).
    Rejected,
    /// The routed trunk never answered (Timer B).
    Timeout,
    /// The drain deadline came while the call was up.
    Drain,
    /// handoff's 2xx was never ACKed.
    AckTimeout,
    /// The carrier took the call over after a REFER (its BYE released the customer).
    HandedOff,
    /// A transfer failed and the policy released the customer's leg.
    TransferFailed,
    /// The other half of a local attended join ended.
    JoinedPeerEnded,
    /// The media sockets a leg needed could not be opened (503 to the INVITE, or BYEs).
    MediaUnavailable,
    /// No media from either leg for `sbc.media_timeout_s` (session liveness).
    MediaTimeout,
    /// On hold, and no media from either leg for `sbc.hold_timeout_s`.
    HoldTimeout,
    /// The call lasted `sbc.max_call_s` since its answer.
    MaxDuration,
    /// An operator ended it (`DELETE /calls/{conversation}` on the admin API).
    EndedByOperator,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ByeFromA => "bye_from_a",
            EndReason::ByeFromB => "bye_from_b",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected => "rejected",
            EndReason::Timeout => "timeout",
            EndReason::Drain => "drain",
            EndReason::AckTimeout => "ack_timeout",
            EndReason::HandedOff => "handed_off",
            EndReason::TransferFailed => "transfer_failed",
            EndReason::JoinedPeerEnded => "joined_peer_ended",
            EndReason::MediaUnavailable => "media_unavailable",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::HoldTimeout => "hold_timeout",
            EndReason::MaxDuration => "max_duration",
            EndReason::EndedByOperator => "ended_by_operator",
        }
    }

    /// The BYE from the leg at `side`.
    pub fn bye_from(side: dialog::Side) -> EndReason {
        match side {
            dialog::Side::A => EndReason::ByeFromA,
            dialog::Side::B => EndReason::ByeFromB,
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for EndReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for EndReason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallEnd {
    pub call: CallRef,
    pub conversation: String,
    /// The conversation this call continues (a trunk's `X-Conversation-ID`), a label.
    pub linked_conversation: Option<String>,
    pub from_trunk: String,
    pub to_trunk: String,
    /// Final status of the initial INVITE (200 when answered, else the failure code; `None`
    /// when it had none, rendered 0 in the audit).
    pub setup_status: Option<StatusCode>,
    pub end_reason: EndReason,
    pub duration_ms: u64,
    /// Filled in by the runtime's relay, which owns the counters.
    pub media: Option<MediaCounters>,
    /// The caller and the called number as the initial INVITE gave them (From's user part,
    /// the Request-URI's user part).
    pub calling: String,
    pub called: String,
    /// RFC 3339 UTC: the initial INVITE's arrival, and the answer (`None`: never answered).
    pub started: String,
    pub answered: Option<String>,
    /// Every leg the call had (bridged, transfer legs, retired), in order: its trunk, role and
    /// Call-ID, so the record can be matched with the trunk's own logs.
    pub legs: Vec<EndedLeg>,
    /// A re-INVITE handoff originated (after a transfer or a local join) failed for good: its
    /// final status (RFC 3261 section 14.1: the session stayed as it was).
    pub reinvite_failed: Option<StatusCode>,
}

/// One leg of an ended call, for its `call_end` record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EndedLeg {
    pub trunk: String,
    pub role: &'static str,
    pub call_id: String,
}

pub mod ids;
pub mod rng;
pub mod timers;
pub mod transaction;

mod admission;
mod attended;
mod attended_state;
mod b2bua;
pub mod call;
pub mod dialog;
mod effects;
pub mod flood;
mod glare;
pub use glare::{MAX_REINVITE_RETRIES, glare_delay_ms};
mod ladders;
pub mod leg;
mod liveness;
mod media_failure;
pub mod routing;
mod shard;
mod transfer_flow;
mod transfer_state;
pub use b2bua::{ALLOW, SUPPORTED, passes_through};
pub use effects::ShardStats;
pub use shard::ShardCore;
