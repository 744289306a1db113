//! The B2BUA call: two legs (A toward the trunk the INVITE came from, B toward the routed trunk),
//! each a full dialog with its own media port, SDP origin and 2xx/ACK bookkeeping.

use std::sync::Arc;

use super::dialog::Side;
pub use super::leg::{Leg, Pending2xx};
use super::transaction::{ClientTxId, ServerTxId};
use super::{CallRef, Time};
use crate::config::Config;

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
    pub transfer: Option<Box<super::transfer_state::CallTransfer>>,
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
