//! The state of attended transfers on a shard: requests held for other shards' dialog answers,
//! the translated headers of a request, and both halves of a local join (the keeper's and the
//! owner's), with the messages the two shards exchange. Data only; `attended.rs` drives it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use super::transaction::ServerTxId;
use crate::config::Config;
use crate::media::g711::G711Law;
use crate::transfer::dialog_ids::DialogId;
use crate::vocab::StatusCode;
use crate::vocab::{ShardId, Side};

/// How long a request waits for another shard's answer before it goes on unchanged. Shard
/// messages are in-process queues: an answer normally takes microseconds.
pub const DIALOG_QUERY_TIMEOUT_MS: u64 = 500;

/// Requests one shard holds for other shards' dialog answers, at most. A request that finds the
/// table full goes on untranslated at once, as if its answers had timed out (and is counted so).
pub const MAX_HELD_REQUESTS: usize = 1024;

/// One header whose dialog identifier was translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DialogRewrite {
    /// The header's name as received (`Refer-To`, `r`, `Replaces`, `Target-Dialog`).
    pub name: String,
    /// The whole value as received.
    pub original: String,
    /// The whole value for the other side.
    pub rewritten: String,
}

/// The translated headers of one request (empty = nothing to translate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DialogRewrites(pub Vec<DialogRewrite>);

impl DialogRewrites {
    /// The value to send on the other side for header `name` received with `value`.
    pub fn apply<'v>(&self, name: &str, value: &'v str) -> Cow<'v, str> {
        self.0
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name) && r.original == value)
            .map_or(Cow::Borrowed(value), |r| Cow::Owned(r.rewritten.clone()))
    }
}

/// Where a held request re-enters the B2BUA once its answers are in.
#[derive(Clone, Debug)]
pub(super) enum Resume {
    InDialog {
        to_tag: String,
    },
    /// An out-of-dialog REFER (RFC 5589 section 6.1) that came from `from`: its Target-Dialog
    /// is read and authorised again when it resumes.
    OutOfDialogRefer {
        from: SocketAddr,
    },
    /// A new INVITE from `trunk` of `config`, the configuration it arrived under (a reload
    /// while it waits changes neither the trunk it came from nor its route).
    InitialInvite {
        trunk: usize,
        config: Arc<Config>,
    },
}

/// A request waiting for other shards' answers.
#[derive(Debug)]
pub(super) struct HeldRequest {
    pub(super) from: SocketAddr,
    pub(super) tx: ServerTxId,
    pub(super) bytes: Vec<u8>,
    pub(super) resume: Resume,
    pub(super) waiting: usize,
    pub(super) answers: HashMap<DialogId, Option<DialogId>>,
}

/// Per-shard state of the cross-shard translation.
#[derive(Debug, Default)]
pub(super) struct AttendedState {
    pub(super) held: BTreeMap<u64, HeldRequest>,
    /// Our open queries: query id -> (held request, dialog asked about).
    pub(super) queries: HashMap<u64, (u64, DialogId)>,
    pub(super) next_id: u64,
    /// Local attended transfers this shard keeps the customer's leg of, by join id.
    pub(super) kept: BTreeMap<u64, KeptJoin>,
    /// The replaced dialog (handoff's view) of each kept join.
    pub(super) replaced: BTreeMap<u64, DialogId>,
    /// Calls of this shard whose far leg moved to a keeper, by call.
    pub(super) away: BTreeMap<u64, AwayJoin>,
    /// The answers of the request being resumed right now (taken by `dialog_rewrites`).
    pub(super) resuming: Option<HashMap<DialogId, Option<DialogId>>>,
    /// Counters for tests: queries sent, held requests that timed out.
    pub queries_sent: u64,
    pub query_timeouts: u64,
}

impl AttendedState {
    pub(super) fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }
}

// ------------------------------------------------------------------ local attended transfer

/// Messages between the two shards of a local attended transfer (see [`crate::core::ShardMessage::Join`]).
///
/// The *keeper* is the shard of call 1 (it got the platform's REFER and keeps the customer's
/// leg A1); the *owner* is the shard of call 2 (it keeps A2's signaling). A2's media moves onto
/// the keeper's port that faced the platform on call 1, so the keeper relays A1 <-> A2 alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinMessage {
    /// Keeper -> owner: re-INVITE the leg bridged to `replaced` (G.711, sendrecv) with its media
    /// at `media` (a keeper port), then BYE `replaced`.
    MoveLeg {
        join: u64,
        replaced: DialogId,
        media: SocketAddr,
    },
    /// Owner -> keeper: the moved leg answered (where it sends RTP from, its law), or the
    /// status it failed with.
    LegMoved {
        join: u64,
        result: Result<MovedLeg, StatusCode>,
    },
    /// Either way: your half of the joined pair must end, the other half hung up.
    PeerEnded { join: u64 },
}

/// The moved leg's media, from its answer to the re-INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MovedLeg {
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub law: Option<G711Law>,
}

/// What a request handoff sends for an attended transfer is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttendedStep {
    /// handoff's G.711 re-INVITE on `side`: the customer's leg (on the keeper) or the moved
    /// leg (on the owner).
    Reinvite { join: u64, side: Side, keeper: bool },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum KeeperPhase {
    AwaitingMovedLeg,
    AwaitingCustomerAnswer,
    Joined,
}

/// Call 1's side of a local attended transfer: where the join stands. The transfer attempt
/// itself is the call's (`Call::transfer`, with `join` set), driven like any other.
#[derive(Debug)]
pub(super) struct KeptJoin {
    pub(super) call: u64,
    pub(super) customer: Side,
    pub(super) peer_shard: ShardId,
    pub(super) phase: KeeperPhase,
    pub(super) moved: Option<MovedLeg>,
}

/// Call 2's side: its leg `moved` now sends media to the keeper.
#[derive(Debug)]
pub(super) struct AwayJoin {
    pub(super) keeper: ShardId,
    pub(super) join: u64,
    pub(super) moved: Side,
    pub(super) answered: bool,
}
