//! One leg of a call: a dialog with a peer, the trunk and role it belongs to, the peer it is bound
//! to (who may speak for it), its media endpoint, SDP origin and 2xx/ACK bookkeeping.

use std::net::SocketAddr;
use std::sync::Arc;

use super::dialog::Dialog;
use crate::config::Config;
use crate::config::TrunkRole;
use crate::sdp::{Direction, OriginState};
use crate::sources::SourceSet;
use crate::vocab::{MediaLeg, Time};

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
    /// Boxed: set only until the ACK (milliseconds), it would otherwise take 80 bytes of
    /// every leg for the whole call.
    pub pending_2xx: Option<Box<Pending2xx>>,
    /// Our last ACK to a 2xx from this leg (CSeq, bytes): re-sent when the 2xx is retransmitted.
    /// Kept for 64*T1 after it was built (`CoreTimer::ForgetAck`): the peer retransmits its 2xx
    /// only within 64*T1 of sending it (RFC 3261 sections 13.3.1.4 and 17.1.1.2, RFC 6026 Timer
    /// M), so holding the ACK for the whole call would only cost memory.
    pub last_ack: Option<Box<(u32, Vec<u8>)>>,
    /// Direction of the last SDP this leg's peer sent (hold = sendonly/inactive).
    pub direction: Direction,
    /// The leg's dialog is over: handoff sent its BYE or answered the peer's (RFC 3261 section
    /// 15: a BYE ends the dialog). Nothing more is sent in it, not even a drain's BYE.
    pub gone: bool,
    /// REFERs this leg's peer sent in its dialog (RFC 3515 section 2.4.6: NOTIFYs for the
    /// second and later carry `Event: refer;id=<CSeq>`).
    pub refers_received: u32,
    /// The CSeq of the last REFER counted in `refers_received`: a REFER held for another
    /// shard's answer passes the count again when it resumes, and must count once.
    pub last_refer_cseq: Option<u32>,
    /// REFERs handoff sent in this leg's dialog (the peer's NOTIFYs for the second and later
    /// must name their REFER by id).
    pub refers_sent: u32,
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

    /// The leg's media for the relay. `config` is the call's own snapshot (`Call::config`): the
    /// leg's trunk there says who besides the SDP address may send its media (peer IP,
    /// `media_networks`).
    pub fn media(&self, config: &Config) -> MediaLeg {
        let sources = config
            .trunks
            .get(self.trunk)
            .map(|t| t.media_sources())
            .unwrap_or_default();
        MediaLeg {
            local_port: self.media_port.unwrap_or(0),
            remote_rtp: self.remote_rtp,
            remote_rtcp: self.remote_rtcp,
            rtcp_mux: self.rtcp_mux,
            sources,
        }
    }
}
