//! The B2BUA call: its legs (every leg it has had, by `LegId`), the bridge (the two legs whose
//! signalling and media are joined, at positions A and B), and its phase. At setup position A
//! faces the trunk the INVITE came from and B the routed trunk; a transfer or a Replaces adds a
//! leg and moves the bridge, and the leg it replaces stays, retired.

use std::net::SocketAddr;
use std::sync::Arc;

use super::dialog::Side;
pub use super::leg::{Leg, Pending2xx};
use super::transaction::{ClientTxId, ServerTxId};
use super::transfer_state::CallTransfer;
use super::{CallRef, EndReason, MediaLeg, Time};
use crate::config::Config;
use crate::vocab::LegId;

/// A shard's calls by sequence number (BTreeMap: iteration order is deterministic). Boxed: a
/// `Call` is ~450 bytes, and B-tree nodes filled in key order stay about half full, so calls
/// stored inline cost ~850 bytes of node each; boxed, ~460 (tests/core_memory_per_call.rs).
pub type Calls = std::collections::BTreeMap<u64, Box<Call>>;

/// Where the call is in its life; a phase carries what only it has.
///
/// `Setup` -> `Up` on the answer; `Up` -> `Transferring` when the platform's REFER starts a
/// transfer (see `transfer_flow.rs`); any phase -> `Ended`. Answered means `Up` or
/// `Transferring` ([`Call::is_answered`]).
#[derive(Debug)]
pub enum CallPhase {
    /// The INVITE toward the routed trunk awaits its final response.
    Setup,
    /// Answered: both dialogs confirmed (ACKs may still be in flight).
    Up,
    /// Answered, and the platform asked for a transfer: the attempt and the legs it added or
    /// retired. The call stays here once the attempt settled (`CallTransfer::is_active` is
    /// false): the transfer still names the platform leg it retired (whose BYE it awaits), the
    /// call still counts as transferred (`LiveCall::transferring`), and another REFER may start
    /// a new transfer in its place.
    Transferring(Box<CallTransfer>),
    /// Ended, and why: ports released, CallEnded emitted. Kept a while so late requests (BYE
    /// glare, retransmissions) still find their dialog, and so the setup INVITE can still be
    /// ACKed and BYEd. A call that ended while transferring keeps its transfer: the attempt's
    /// audit record may settle only after the call ended (e.g. on the carrier's BYE).
    Ended {
        reason: EndReason,
        transfer: Option<Box<CallTransfer>>,
    },
}

impl CallPhase {
    /// The call's transfer, running or settled, while answered or after it ended.
    pub fn transfer(&self) -> Option<&CallTransfer> {
        match self {
            CallPhase::Transferring(transfer) => Some(transfer),
            CallPhase::Ended { transfer, .. } => transfer.as_deref(),
            CallPhase::Setup | CallPhase::Up => None,
        }
    }

    /// The call's transfer, to drive it (borrows only the phase, not the whole call).
    pub fn transfer_mut(&mut self) -> Option<&mut CallTransfer> {
        match self {
            CallPhase::Transferring(transfer) => Some(transfer),
            CallPhase::Ended { transfer, .. } => transfer.as_deref_mut(),
            CallPhase::Setup | CallPhase::Up => None,
        }
    }
}

/// Facts about B's initial INVITE (for CANCEL and late 2xx handling).
#[derive(Clone, Debug)]
pub struct InitialInvite {
    pub server: ServerTxId,
    pub client: Option<ClientTxId>,
    /// B's INVITE got its final response (or timed out).
    pub client_done: bool,
}

/// A call through handoff.
#[derive(Debug)]
pub struct Call {
    pub id: CallRef,
    /// The config the call started with (hot reload does not touch it).
    pub config: Arc<Config>,
    pub conversation: String,
    /// The conversation this call continues, from a trunk's `X-Conversation-ID` (a call
    /// that a carrier placed for a transfer handoff REFERed, coming back through handoff). A
    /// label for the audit only: nothing looks a call up by it.
    pub linked_conversation: Option<String>,
    /// The caller and the called number of the initial INVITE (for the `call_end` record).
    pub calling: String,
    pub called: String,
    pub phase: CallPhase,
    pub started: Time,
    pub answered: Option<Time>,
    /// Every leg the call has had, by [`LegId`]: the two it was set up with, a transfer's leg C,
    /// a Replaces' new leg, and legs it retired (awaiting or past their BYE). Legs are never
    /// removed while the call lives, so a `LegId` stays valid.
    pub legs: Vec<Leg>,
    /// The two legs whose signalling and media are joined, at positions A and B.
    pub bridge: [LegId; 2],
    pub invite: InitialInvite,
    /// Codecs allowed on both legs (intersection of the trunks' lists; empty = any).
    pub codecs: Vec<String>,
    /// A re-INVITE is being relayed (another one gets 491).
    pub reinvite_pending: bool,
    /// Late offer: handoff's ACK to the 2xx on this leg (with this CSeq) waits for the answer
    /// in the ACK from the other leg.
    pub deferred_ack: Option<(Side, u32)>,
    /// Transactions the shard's maps hold for this call (removed with it).
    pub client_txs: Vec<ClientTxId>,
    pub server_txs: Vec<ServerTxId>,
    /// Client transactions of this call still awaiting their final response.
    pub outstanding: u32,
    /// First audio codec of the last SDP relayed (once an offer/answer settles: the answer's,
    /// i.e. the codec both legs use).
    pub audio_codec: Option<String>,
    /// The first G.711 codec (law, payload type number as written in the SDP) of the last SDP
    /// relayed: the one local ringback may use toward the customer (RFC 3264 section 5.1: only
    /// a format of the answer). `None`: the leg negotiated no G.711, so no ringback is sent.
    pub g711: Option<(crate::media::g711::G711Law, u8)>,
    /// Session liveness (see `liveness.rs`): whether the call was on hold at the last check and
    /// since when the silence is measured at the least (the answer, or the last hold change).
    pub liveness: Liveness,
    /// A platform REFER awaiting its trunk's `refer_hook` answer (transfer_flow.rs).
    pub(super) refer_hook: Option<Box<super::transfer_state::PendingHook>>,
    /// Glare (RFC 3261 section 14.1, `glare.rs`): the re-INVITE handoff originated that got 491
    /// (or 500 with Retry-After) and waits for `CoreTimer::ReinviteRetry` to be sent again.
    pub reinvite_retry: Option<ReinviteOrigin>,
    /// Retries of handoff's current re-INVITE sent so far (at most `MAX_REINVITE_RETRIES`).
    pub reinvite_retries: u8,
    /// The last G.711 re-INVITE a local attended join sent on this call (its step and media
    /// address), to send it again after a 491.
    pub attended_reinvite: Option<(super::attended_state::AttendedStep, SocketAddr)>,
    /// A re-INVITE handoff originated failed for good (not retried, or retries used up): its
    /// final status (408 for no answer), in the `call_end` record.
    pub reinvite_failed: Option<crate::vocab::StatusCode>,
}

/// Which of handoff's own re-INVITEs waits for its glare retry (RFC 3261 section 14.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReinviteOrigin {
    /// The customer's G.711 re-INVITE after a local transfer bridged leg C (transfer_flow.rs).
    Customer,
    /// A local attended join's G.711 re-INVITE (attended.rs), with media at the address.
    Attended(super::attended_state::AttendedStep, SocketAddr),
}

/// Where the call's session-liveness clock stands (`liveness.rs`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Liveness {
    pub held: bool,
    pub since: Time,
}

impl Call {
    /// A call bridging `a` and `b`, its first two legs.
    pub fn legs_for_setup(a: Leg, b: Leg) -> (Vec<Leg>, [LegId; 2]) {
        (vec![a, b], [LegId(0), LegId(1)])
    }

    /// The leg at bridge position `side`.
    /// The call again, in fresh allocations: its box, its legs and their strings, its own
    /// strings. Called once the set-up is over (the ACK window closed, its transactions gone):
    /// the allocator places the new blocks in its fullest pages, and the set-up's messages,
    /// allocated between this call's parts and freed since, no longer keep half-empty pages
    /// resident for the rest of the call. Behaviour is unchanged: the values are equal.
    pub fn rehome(self: Box<Call>) -> Box<Call> {
        let mut call = *self;
        call.legs = call.legs.clone();
        call.conversation = call.conversation.clone();
        call.calling = call.calling.clone();
        call.called = call.called.clone();
        call.codecs = call.codecs.clone();
        call.linked_conversation = call.linked_conversation.clone();
        call.audio_codec = call.audio_codec.clone();
        // Emptied by the set-up's end, their capacity is set-up garbage too.
        call.client_txs = call.client_txs.clone();
        call.server_txs = call.server_txs.clone();
        Box::new(call)
    }

    pub fn leg(&self, side: Side) -> &Leg {
        &self.legs[usize::from(self.bridge[side.index()].0)]
    }

    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        let id = self.bridge[side.index()];
        &mut self.legs[usize::from(id.0)]
    }

    /// The id of the leg at bridge position `side`.
    pub fn leg_id(&self, side: Side) -> LegId {
        self.bridge[side.index()]
    }

    pub fn leg_by_id(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(usize::from(id.0))
    }

    pub fn leg_by_id_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(usize::from(id.0))
    }

    /// The bridge position of leg `id`; `None` for a leg not (or no longer) bridged.
    pub fn position_of(&self, id: LegId) -> Option<Side> {
        [Side::A, Side::B]
            .into_iter()
            .find(|side| self.bridge[side.index()] == id)
    }

    /// Adds a leg (a transfer's leg C, a Replaces' new leg), not bridged yet.
    pub fn add_leg(&mut self, leg: Leg) -> LegId {
        let id = LegId(u16::try_from(self.legs.len()).unwrap_or(u16::MAX));
        self.legs.push(leg);
        id
    }

    /// Moves the bridge: leg `to` now takes position `side`. Returns the leg that was there
    /// (it stays in the call, retired).
    pub fn rebridge(&mut self, side: Side, to: LegId) -> LegId {
        std::mem::replace(&mut self.bridge[side.index()], to)
    }

    /// Both bridged legs at once: (position A, position B).
    pub fn bridged_mut(&mut self) -> (&mut Leg, &mut Leg) {
        let [a, b] = self.bridge.map(|id| usize::from(id.0));
        if a < b {
            let (low, high) = self.legs.split_at_mut(b);
            (&mut low[a], &mut high[0])
        } else {
            let (low, high) = self.legs.split_at_mut(a);
            (&mut high[0], &mut low[b])
        }
    }

    /// RFC 3325: identity headers may cross between the bridged legs only when both legs' trunks
    /// are in handoff's trust domain (`trust_identity`).
    pub fn identity_trusted(&self) -> bool {
        [Side::A, Side::B].into_iter().all(|side| {
            self.config
                .trunks
                .get(self.leg(side).trunk)
                .is_some_and(|t| t.trust_identity)
        })
    }

    /// Who besides its SDP address may send the media of the leg at `side` (its trunk's peer IP
    /// and `media_networks`, from the call's own config snapshot).
    pub fn media_sources(&self, side: Side) -> crate::vocab::MediaSources {
        self.config
            .trunks
            .get(self.leg(side).trunk)
            .map(|t| t.media_sources())
            .unwrap_or_default()
    }

    /// The media of the bridged legs, (position A, position B), as the relay takes them.
    pub fn media_pair(&self) -> (MediaLeg, MediaLeg) {
        (
            self.leg(Side::A).media(&self.config),
            self.leg(Side::B).media(&self.config),
        )
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.phase, CallPhase::Ended { .. })
    }

    /// Answered and not ended: `Up`, or `Transferring`.
    pub fn is_answered(&self) -> bool {
        matches!(self.phase, CallPhase::Up | CallPhase::Transferring(_))
    }

    /// Why the call ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        match self.phase {
            CallPhase::Ended { reason, .. } => Some(reason),
            CallPhase::Setup | CallPhase::Up | CallPhase::Transferring(_) => None,
        }
    }

    /// The platform's transfer of this call, if it asked for one (see `transfer_flow.rs`):
    /// running or settled, kept after the call ended.
    pub fn transfer(&self) -> Option<&CallTransfer> {
        self.phase.transfer()
    }

    pub fn transfer_mut(&mut self) -> Option<&mut CallTransfer> {
        self.phase.transfer_mut()
    }

    /// The platform's REFER started `transfer`: the call is `Transferring` (a settled
    /// transfer's place is taken by the new one). On a call that ended meanwhile the transfer
    /// is kept in `Ended`, to settle its record.
    pub fn begin_transfer(&mut self, transfer: Box<CallTransfer>) {
        match &mut self.phase {
            CallPhase::Ended { transfer: kept, .. } => *kept = Some(transfer),
            phase => *phase = CallPhase::Transferring(transfer),
        }
    }

    /// The answer to the setup INVITE: `Setup` becomes `Up` (an answered call stays as it is).
    pub fn enter_up(&mut self) {
        if matches!(self.phase, CallPhase::Setup) {
            self.phase = CallPhase::Up;
        }
    }

    /// The call ended for `reason`; a transfer it has is kept (its record may settle later).
    pub fn enter_ended(&mut self, reason: EndReason) {
        let transfer = match std::mem::replace(&mut self.phase, CallPhase::Setup) {
            CallPhase::Transferring(transfer) => Some(transfer),
            CallPhase::Ended { transfer, .. } => transfer,
            CallPhase::Setup | CallPhase::Up => None,
        };
        self.phase = CallPhase::Ended { reason, transfer };
    }

    pub fn trunk_name(&self, side: Side) -> String {
        self.config
            .trunks
            .get(self.leg(side).trunk)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }
}

/// Codecs a call may use: the intersection of both trunks' lists in the B trunk's order (an
/// empty list allows all, so the other list decides). `None`: the trunks share no codec.
pub fn call_codecs(a: &[String], b: &[String]) -> Option<Vec<String>> {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => Some(b.to_vec()),
        (_, true) => Some(a.to_vec()),
        _ => {
            let common: Vec<String> = b
                .iter()
                .filter(|codec| a.iter().any(|x| x.eq_ignore_ascii_case(codec)))
                .cloned()
                .collect();
            (!common.is_empty()).then_some(common)
        }
    }
}

/// One live call as the admin endpoint lists it (`GET /calls`): built by
/// `ShardCore::live_calls` between loop turns, when the admin thread asks for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LiveCall {
    pub conversation: String,
    /// `setup` or `up`.
    pub phase: &'static str,
    /// Milliseconds since the call's initial INVITE.
    pub age_ms: u64,
    /// Every leg the call has had that is not gone, bridged ones first.
    pub legs: Vec<LiveLeg>,
    /// A transfer is in progress.
    pub transferring: bool,
    /// The audio codec both legs use (the last answer's first), once negotiated.
    pub codec: Option<String>,
    /// The codecs the two trunks allow (empty: any).
    pub codecs: Vec<String>,
    /// Packets relayed each way so far: filled by the runtime, which owns the relay.
    pub packets: Option<LivePackets>,
    /// Which call it is (the runtime looks its media up by it); not shown.
    #[serde(skip)]
    pub call: super::CallRef,
}

/// Packets relayed for a live call, per direction (A = the bridge's first position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LivePackets {
    pub a_to_b: u64,
    pub b_to_a: u64,
}

/// One leg of a [`LiveCall`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LiveLeg {
    pub trunk: String,
    pub role: &'static str,
    /// Part of the bridge (false: a transfer's or a retired leg).
    pub bridged: bool,
}
