//! The B2BUA call: two legs (A toward the trunk the INVITE came from, B toward the routed trunk),
//! each a full dialog with its own media port, SDP origin and 2xx/ACK bookkeeping.

use std::net::SocketAddr;
use std::sync::Arc;

use super::dialog::{Dialog, Side};
use super::transaction::{ClientTxId, ServerTxId};
use super::{CallRef, MediaLeg, Time};
use crate::config::{Config, TrunkRole};
use crate::sdp::{Direction, OriginState};
use crate::sources::SourceSet;

/// Where the call is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent on leg B, awaiting its final response.
    AwaitingAnswer,
    /// Answered: both dialogs confirmed (ACKs may still be in flight).
    Established,
    /// Ended: ports released, CallEnded emitted. Kept a while so late requests (BYE glare,
    /// retransmissions) still find their dialog, and so B's INVITE can still be ACKed and BYEd.
    Ended,
}

/// A 2xx to an INVITE that handoff sent and retransmits until the ACK (RFC 3261 13.3.1.4).
#[derive(Clone, Debug)]
pub struct Pending2xx {
    pub cseq: u32,
    pub bytes: Vec<u8>,
    pub to: SocketAddr,
    pub started: Time,
    pub interval_ms: u64,
}

/// One side of the call.
#[derive(Clone, Debug)]
pub struct Leg {
    pub dialog: Dialog,
    /// Index into the call's own config snapshot (`Call::config`), never the live config.
    pub trunk: usize,
    /// The trunk's role when the leg was created: transfer rules ask it, not the leg's position.
    pub role: TrunkRole,
    /// Who may speak for this leg: its trunk's sources as they were when the leg was created
    /// (a reload never re-binds an established leg).
    pub bound: Arc<SourceSet>,
    /// Our even RTP port facing this leg's peer; `None` once released.
    pub media_port: Option<u16>,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub rtcp_mux: bool,
    /// The o= state of the SDP handoff sends on this leg.
    pub origin: OriginState,
    /// Our 2xx to an INVITE from this leg, awaiting its ACK.
    pub pending_2xx: Option<Pending2xx>,
    /// Our last ACK to a 2xx from this leg (CSeq, bytes): re-sent when the 2xx is retransmitted.
    pub last_ack: Option<(u32, Vec<u8>)>,
    /// Direction of the last SDP this leg's peer sent (hold = sendonly/inactive).
    pub direction: Direction,
}

impl Leg {
    /// A request from `from` naming this leg's dialog with remote tag `from_tag` speaks for the
    /// leg: it comes from the bound peer and carries the tag the peer chose.
    pub fn is_spoken_for_by(&self, from: SocketAddr, from_tag: Option<&str>) -> bool {
        self.bound.contains(from)
            && match (&self.dialog.remote_tag, from_tag) {
                (Some(ours), Some(theirs)) => ours == theirs,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }

    pub fn media(&self) -> MediaLeg {
        MediaLeg {
            local_port: self.media_port.unwrap_or(0),
            remote_rtp: self.remote_rtp,
            remote_rtcp: self.remote_rtcp,
            rtcp_mux: self.rtcp_mux,
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
    pub state: CallState,
    pub started: Time,
    pub answered: Option<Time>,
    pub a: Leg,
    pub b: Leg,
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
    /// Set when the call ended: the reason, for tests and introspection.
    pub end_reason: Option<super::EndReason>,
    /// First audio codec of the last SDP relayed (once an offer/answer settles: the answer's,
    /// i.e. the codec both legs use).
    pub audio_codec: Option<String>,
    /// The platform's transfer of this call, if it asked for one (see `transfer_flow.rs`).
    pub transfer: Option<Box<super::transfer_flow::CallTransfer>>,
}

impl Call {
    pub fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.state == CallState::Ended
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
