//! The relay's per-packet decision table, shared by the io_uring and epoll backends.
//!
//! The backend binds one socket per slot (RTP on the leg's even port, RTCP on port + 1), keeps a
//! `Vec` from its socket index to [`SlotId`], and asks [`RelayTable::on_packet`] what to do with
//! every datagram. The table validates, latches, counts, and names the socket and address to send
//! from and to. It allocates nothing per packet and looks slots up by index.
//!
//! Strict sources (issue 9, protection 5): a leg's RTP and RTCP are accepted only from the IP
//! its SDP `c=` (or `a=rtcp`) names, its trunk's peer IP, or an address inside its trunk's
//! `media_networks` ([`crate::vocab::MediaSources`]). Anything else is dropped before it can touch the latch
//! ([`DropReason::ForeignSource`], counted per call in `dropped_foreign_source`). A `c=` that
//! names loopback, multicast, unspecified, broadcast or link-local space is not used as a
//! destination unless the trunk's peer or networks hold it ([`crate::vocab::MediaSources::accepts_connection`]).
//! The set is precomputed per leg when the call is programmed: the per-packet check is a few
//! compares and a mask per configured network, no allocation.
//!
//! Symmetric latching: a slot sends to the address from the SDP until the first packet from an
//! allowed source arrives on it; from then on it sends to that packet's source. Moving to a
//! different source (another allowed IP, or a new port: NAT rebinding) needs [`RELATCH_AFTER`]
//! packets in a row from it carrying the same SSRC (RFC 3550 section 3: the SSRC names the
//! stream), with none from the latched source in between, and spread over at least
//! [`RELATCH_MIN_SPREAD_MS`] of arrival time; until then its packets are dropped
//! ([`DropReason::UnlatchedSource`]). A NAT that moves a stream gives a steady run of packets
//! from the new address, so the switch costs about 200 ms of audio. A microsecond burst, a stray,
//! reordered or spoofed packet, a stream whose SSRC changes, or a second stream that interleaves
//! with the real one never moves the latch (the "RTP bleed" takeover). Time comes in as an input
//! (`now`), so the table stays sans-IO.
//!
//! Transcoding: when [`RelayTable::set_laws`] says the legs negotiated different G.711 laws, an
//! RTP packet whose payload type is the sender's law comes out of `on_packet` with a
//! [`Transcode`], which the backend applies in place before sending (payload type byte and
//! payload, by table). Other payload types (telephone-event, CN) and RTCP pass unchanged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use thiserror::Error;

use super::g711::G711Law;
use crate::vocab::{CallRef, IpNetwork, MediaCounters, MediaLeg, Time, canonical_ip};

/// Consecutive packets (same SSRC) from a new source before the latch moves to it.
pub const RELATCH_AFTER: u8 = 5;

/// The run of packets that moves the latch must span at least this much arrival time: a burst
/// sent in a microsecond never takes over a stream.
pub const RELATCH_MIN_SPREAD_MS: u64 = 200;

/// Index of one bound socket in the table. Stable while its call is open; reused after close.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(pub u32);

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SlotKind {
    Rtp,
    Rtcp,
}

/// The four slots of a call, as returned by [`RelayTable::open`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CallSlots {
    pub a_rtp: SlotId,
    pub a_rtcp: SlotId,
    pub b_rtp: SlotId,
    pub b_rtcp: SlotId,
}

impl CallSlots {
    pub fn all(&self) -> [SlotId; 4] {
        [self.a_rtp, self.a_rtcp, self.b_rtp, self.b_rtcp]
    }
}

/// What a backend needs to bind a slot's socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    pub call: CallRef,
    pub side: Side,
    pub kind: SlotKind,
    pub local_port: u16,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The slot is not open (closed call, stale socket).
    UnknownSlot,
    /// Too short, wrong version, or an RTCP packet type outside 192..=223.
    Malformed,
    /// From an IP that is neither the leg's SDP address, nor its trunk's peer, nor inside its
    /// trunk's `media_networks` (strict media sources).
    ForeignSource,
    /// A source other than the latched one, not yet confirmed by enough consecutive packets.
    UnlatchedSource,
    /// Neither an SDP address nor a latched source known for the other leg yet.
    NoDestination,
}

impl DropReason {
    /// The label used in logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownSlot => "unknown_slot",
            DropReason::Malformed => "malformed",
            DropReason::ForeignSource => "foreign_source",
            DropReason::UnlatchedSource => "unlatched_source",
            DropReason::NoDestination => "no_destination",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RelayDecision {
    /// Send the packet from `out_slot`'s socket to `dst`, unchanged unless `transcode` is set.
    Forward {
        out_slot: SlotId,
        dst: SocketAddr,
        transcode: Option<Transcode>,
    },
    Drop(DropReason),
}

/// μ-law <-> A-law conversion of one RTP packet, decided by the table, applied by the backend.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transcode {
    pub from: G711Law,
    pub to: G711Law,
}

impl Transcode {
    /// Rewrites the payload type and the payload in place (CSRCs, extension and padding are
    /// left alone). Returns false, changing nothing, if the packet is not a well-formed RTP
    /// packet of the `from` law.
    pub fn apply(self, packet: &mut [u8]) -> bool {
        let Some(range) = rtp_payload_range(packet) else {
            return false;
        };
        if packet[1] & 0x7F != self.from.payload_type() {
            return false;
        }
        packet[1] = (packet[1] & 0x80) | self.to.payload_type();
        if let Some(table) = self.from.transcode_table(self.to) {
            for byte in &mut packet[range] {
                *byte = table[usize::from(*byte)];
            }
        }
        true
    }
}

/// Where an RTP packet's payload lies: after the 12-byte header, CSRCs and header extension,
/// before any padding. `None` for a packet that is not RTP version 2 or is too short for what its
/// header announces. A padding count of 0 is invalid: the count includes its own octet (RFC 3550
/// section 5.1).
///
/// Hand-written rather than rtp-rs's `RtpReader`: `cargo bench --bench rtp_header` measured
/// rtp-rs at 5.5x the cost per packet on this path (perf/results/rtp-header-2026-12-05.md);
/// tests/media_rtp_header_matches_rtp_rs.rs checks that both give the same answer for any bytes.
pub fn rtp_payload_range(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    let first = *packet.first()?;
    if first >> 6 != 2 || packet.len() < 12 {
        return None;
    }
    let mut start = 12 + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let words = packet.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    if start > packet.len() {
        return None;
    }
    let padding = if first & 0x20 != 0 {
        match *packet.last()? {
            0 => return None,
            count => usize::from(count),
        }
    } else {
        0
    };
    let end = packet.len().checked_sub(padding)?;
    (start <= end).then_some(start..end)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayError {
    /// Caller fault: the core opened the same call twice.
    #[error("media for call {0:?} is already open")]
    AlreadyOpen(CallRef),
    /// Caller fault: update or close of a call that is not open.
    #[error("no media open for call {0:?}")]
    UnknownCall(CallRef),
}

/// A source that is not the latched one, and the run of packets it has sent so far.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    count: u8,
    /// Arrival of the run's first packet.
    since: Time,
}

/// Where a slot sends, and what it has learnt about its peer's real address.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Latch {
    /// From the SDP (RTCP: a=rtcp or RTP port + 1), when the leg's sources accept it.
    signalled: Option<SocketAddr>,
    /// Source of the packets received on this slot.
    latched: Option<SocketAddr>,
    /// A different source and its run of packets.
    candidate: Option<Candidate>,
}

impl Latch {
    fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }

    /// Returns whether a packet from `src` (an allowed source) with SSRC `ssrc` is accepted.
    fn observe(&mut self, now: Time, src: SocketAddr, ssrc: u32) -> bool {
        match self.latched {
            None => {
                // Nothing to take over yet: the first packet from an allowed source latches.
                self.latched = Some(src);
                true
            }
            Some(current) if current == src => {
                self.candidate = None;
                true
            }
            Some(_) => {
                let run = match self.candidate {
                    Some(c) if c.addr == src && c.ssrc == ssrc => Candidate {
                        count: c.count.saturating_add(1),
                        ..c
                    },
                    _ => Candidate {
                        addr: src,
                        ssrc,
                        count: 1,
                        since: now,
                    },
                };
                if run.count >= RELATCH_AFTER
                    && now.millis_since(run.since) >= RELATCH_MIN_SPREAD_MS
                {
                    self.latched = Some(src);
                    self.candidate = None;
                    true
                } else {
                    self.candidate = Some(run);
                    false
                }
            }
        }
    }
}

/// The addresses one leg's media may come from, precomputed when the call is programmed.
#[derive(Clone, Debug, Default)]
struct Allowed {
    /// The SDP's RTP and RTCP IPs (when accepted) and the trunk's peer IP, canonical.
    ips: [Option<IpAddr>; 3],
    /// The trunk's `media_networks`.
    networks: Arc<[IpNetwork]>,
}

impl Allowed {
    fn of(leg: &MediaLeg) -> Allowed {
        let sdp_ip = |addr: Option<SocketAddr>| {
            addr.map(|a| canonical_ip(a.ip()))
                .filter(|&ip| leg.sources.accepts_connection(ip))
        };
        Allowed {
            ips: [
                sdp_ip(leg.remote_rtp),
                sdp_ip(leg.remote_rtcp),
                leg.sources.peer.map(canonical_ip),
            ],
            networks: leg.sources.networks.clone(),
        }
    }

    #[inline]
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.ips.contains(&Some(ip)) || self.networks.iter().any(|n| n.contains(ip))
    }
}

/// The SSRC of an RTP packet (octets 8..12 of the fixed header, RFC 3550 section 5.1), or the
/// sender's SSRC of an RTCP packet (octets 4..8, section 6.4). 0 if the packet is too short for
/// it (`classify` already checked the minimum lengths).
fn ssrc_of(kind: SlotKind, packet: &[u8]) -> u32 {
    let at = match kind {
        SlotKind::Rtp => 8,
        SlotKind::Rtcp => 4,
    };
    match packet.get(at..at + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

#[derive(Copy, Clone, Debug)]
struct Slot {
    call_index: u32,
    side: Side,
    kind: SlotKind,
    local_port: u16,
    latch: Latch,
}

#[derive(Clone, Debug)]
struct CallEntry {
    call: CallRef,
    slots: CallSlots,
    a_mux: bool,
    b_mux: bool,
    /// The G.711 law each leg negotiated, when known (for transcoding).
    a_law: Option<G711Law>,
    b_law: Option<G711Law>,
    /// Who may send each leg's media.
    a_allowed: Allowed,
    b_allowed: Allowed,
    counters: MediaCounters,
    /// Arrival of the last packet accepted from either leg (session liveness).
    last_packet: Option<Time>,
}

impl CallEntry {
    fn mux(&self, side: Side) -> bool {
        match side {
            Side::A => self.a_mux,
            Side::B => self.b_mux,
        }
    }

    fn allowed(&self, side: Side) -> &Allowed {
        match side {
            Side::A => &self.a_allowed,
            Side::B => &self.b_allowed,
        }
    }

    fn law(&self, side: Side) -> Option<G711Law> {
        match side {
            Side::A => self.a_law,
            Side::B => self.b_law,
        }
    }

    fn slot(&self, side: Side, kind: SlotKind) -> SlotId {
        match (side, kind) {
            (Side::A, SlotKind::Rtp) => self.slots.a_rtp,
            (Side::A, SlotKind::Rtcp) => self.slots.a_rtcp,
            (Side::B, SlotKind::Rtp) => self.slots.b_rtp,
            (Side::B, SlotKind::Rtcp) => self.slots.b_rtcp,
        }
    }
}

/// One shard's relay decisions. See the module documentation.
#[derive(Debug, Default)]
pub struct RelayTable {
    slots: Vec<Option<Slot>>,
    free_slots: Vec<u32>,
    calls: Vec<Option<CallEntry>>,
    free_calls: Vec<u32>,
    by_call: HashMap<CallRef, u32>,
    /// Packets that arrived on a slot that is not open.
    unknown_slot_drops: u64,
}

impl RelayTable {
    pub fn new() -> RelayTable {
        RelayTable::default()
    }

    /// Opens the four slots of a call. The backend binds `a.local_port`, `a.local_port + 1`,
    /// `b.local_port`, `b.local_port + 1` for them.
    pub fn open(
        &mut self,
        call: CallRef,
        a: MediaLeg,
        b: MediaLeg,
    ) -> Result<CallSlots, RelayError> {
        if self.by_call.contains_key(&call) {
            return Err(RelayError::AlreadyOpen(call));
        }
        let call_index = match self.free_calls.pop() {
            Some(index) => index,
            None => {
                self.calls.push(None);
                (self.calls.len() - 1) as u32
            }
        };
        let mut new_slot = |side: Side, kind: SlotKind, leg: &MediaLeg| {
            let slot = Slot {
                call_index,
                side,
                kind,
                local_port: match kind {
                    SlotKind::Rtp => leg.local_port,
                    SlotKind::Rtcp => leg.local_port.wrapping_add(1),
                },
                latch: Latch {
                    signalled: accepted_signalled(leg, kind),
                    ..Latch::default()
                },
            };
            match self.free_slots.pop() {
                Some(index) => {
                    self.slots[index as usize] = Some(slot);
                    SlotId(index)
                }
                None => {
                    self.slots.push(Some(slot));
                    SlotId((self.slots.len() - 1) as u32)
                }
            }
        };
        let slots = CallSlots {
            a_rtp: new_slot(Side::A, SlotKind::Rtp, &a),
            a_rtcp: new_slot(Side::A, SlotKind::Rtcp, &a),
            b_rtp: new_slot(Side::B, SlotKind::Rtp, &b),
            b_rtcp: new_slot(Side::B, SlotKind::Rtcp, &b),
        };
        self.calls[call_index as usize] = Some(CallEntry {
            call,
            slots,
            a_mux: a.rtcp_mux,
            b_mux: b.rtcp_mux,
            a_law: None,
            b_law: None,
            a_allowed: Allowed::of(&a),
            b_allowed: Allowed::of(&b),
            counters: MediaCounters::default(),
            last_packet: None,
        });
        self.by_call.insert(call, call_index);
        Ok(slots)
    }

    /// New remote addresses or mux flags (answer, re-INVITE). A leg whose signalled address
    /// changed forgets its latch: the media now comes from somewhere else. Local ports never
    /// change here; a leg moving to new ports is [`RelayTable::move_leg`].
    pub fn update(
        &mut self,
        call: CallRef,
        a: MediaLeg,
        b: MediaLeg,
    ) -> Result<CallSlots, RelayError> {
        let entry = self.entry_mut(call)?;
        entry.a_mux = a.rtcp_mux;
        entry.b_mux = b.rtcp_mux;
        entry.a_allowed = Allowed::of(&a);
        entry.b_allowed = Allowed::of(&b);
        let slots = entry.slots;
        for (side, leg) in [(Side::A, &a), (Side::B, &b)] {
            for kind in [SlotKind::Rtp, SlotKind::Rtcp] {
                let id = match (side, kind) {
                    (Side::A, SlotKind::Rtp) => slots.a_rtp,
                    (Side::A, SlotKind::Rtcp) => slots.a_rtcp,
                    (Side::B, SlotKind::Rtp) => slots.b_rtp,
                    (Side::B, SlotKind::Rtcp) => slots.b_rtcp,
                };
                if let Some(Some(slot)) = self.slots.get_mut(id.0 as usize) {
                    let signalled = accepted_signalled(leg, kind);
                    if signalled != slot.latch.signalled {
                        slot.latch = Latch {
                            signalled,
                            ..Latch::default()
                        };
                    }
                }
            }
        }
        Ok(slots)
    }

    /// A leg moved to new local ports (a transfer bridged the other leg to a new peer): its
    /// slots keep their ids, counters and latches; only the port they stand for changes. The
    /// backend rebinds the sockets and maps them to the same slots.
    pub fn move_leg(
        &mut self,
        call: CallRef,
        side: Side,
        local_port: u16,
    ) -> Result<(), RelayError> {
        let entry = self.entry(call)?;
        let (rtp, rtcp) = (
            entry.slot(side, SlotKind::Rtp),
            entry.slot(side, SlotKind::Rtcp),
        );
        for (id, port) in [(rtp, local_port), (rtcp, local_port.wrapping_add(1))] {
            if let Some(Some(slot)) = self.slots.get_mut(id.0 as usize) {
                slot.local_port = port;
            }
        }
        Ok(())
    }

    /// The G.711 law each leg negotiated (`None`: not G.711 or unknown). When both are known
    /// and differ, RTP of the sender's law is transcoded to the receiver's.
    pub fn set_laws(
        &mut self,
        call: CallRef,
        a: Option<G711Law>,
        b: Option<G711Law>,
    ) -> Result<(), RelayError> {
        let entry = self.entry_mut(call)?;
        entry.a_law = a;
        entry.b_law = b;
        Ok(())
    }

    /// Closes the call's slots and returns its counters. The slots' ids may be reused by the
    /// next `open`, so the backend must drop its sockets for them first.
    pub fn close(&mut self, call: CallRef) -> Result<MediaCounters, RelayError> {
        let index = self
            .by_call
            .remove(&call)
            .ok_or(RelayError::UnknownCall(call))?;
        let entry = self.calls[index as usize]
            .take()
            .ok_or(RelayError::UnknownCall(call))?;
        for id in entry.slots.all() {
            if let Some(slot) = self.slots.get_mut(id.0 as usize) {
                *slot = None;
                self.free_slots.push(id.0);
            }
        }
        self.free_calls.push(index);
        Ok(entry.counters)
    }

    /// The per-packet decision. `now` is the packet's arrival (the driver's clock), `src` the
    /// datagram's source, `packet` its payload.
    pub fn on_packet(
        &mut self,
        now: Time,
        slot_id: SlotId,
        src: SocketAddr,
        packet: &[u8],
    ) -> RelayDecision {
        let Some(Some(slot)) = self.slots.get(slot_id.0 as usize) else {
            self.unknown_slot_drops += 1;
            return RelayDecision::Drop(DropReason::UnknownSlot);
        };
        let (side, kind, call_index) = (slot.side, slot.kind, slot.call_index);
        let Some(Some(entry)) = self.calls.get_mut(call_index as usize) else {
            self.unknown_slot_drops += 1;
            return RelayDecision::Drop(DropReason::UnknownSlot);
        };

        if !entry.allowed(side).contains(src.ip()) {
            entry.counters.dropped += 1;
            entry.counters.dropped_foreign_source += 1;
            return RelayDecision::Drop(DropReason::ForeignSource);
        }
        let out_kind = match classify(kind, entry.mux(side), packet) {
            Some(kind) => kind,
            None => {
                entry.counters.dropped += 1;
                return RelayDecision::Drop(DropReason::Malformed);
            }
        };
        // The other leg's RTCP goes to its RTP socket when that leg is muxed.
        let peer = side.other();
        let out_slot = if out_kind == SlotKind::Rtcp && entry.mux(peer) {
            entry.slot(peer, SlotKind::Rtp)
        } else {
            entry.slot(peer, out_kind)
        };

        let accepted = match self.slots.get_mut(slot_id.0 as usize) {
            Some(Some(slot)) => slot.latch.observe(now, src, ssrc_of(out_kind, packet)),
            _ => false,
        };
        if !accepted {
            entry.counters.dropped += 1;
            return RelayDecision::Drop(DropReason::UnlatchedSource);
        }
        // A packet from the leg's peer, valid and latched: the session is alive (one store; the
        // core asks for it once per media timeout, see `core/liveness.rs`).
        entry.last_packet = Some(now);
        let destination = match self.slots.get(out_slot.0 as usize) {
            Some(Some(out)) => out.latch.destination(),
            _ => None,
        };
        let Some(dst) = destination else {
            entry.counters.dropped += 1;
            return RelayDecision::Drop(DropReason::NoDestination);
        };
        let bytes = packet.len() as u64;
        match side {
            Side::A => {
                entry.counters.a_to_b_packets += 1;
                entry.counters.a_to_b_bytes += bytes;
            }
            Side::B => {
                entry.counters.b_to_a_packets += 1;
                entry.counters.b_to_a_bytes += bytes;
            }
        }
        let transcode = match (out_kind, entry.law(side), entry.law(peer)) {
            (SlotKind::Rtp, Some(from), Some(to))
                if from != to
                    && packet.get(1).map(|b| b & 0x7F) == Some(from.payload_type())
                    && rtp_payload_range(packet).is_some() =>
            {
                Some(Transcode { from, to })
            }
            _ => None,
        };
        RelayDecision::Forward {
            out_slot,
            dst,
            transcode,
        }
    }

    /// The open call `call`.
    fn entry(&self, call: CallRef) -> Result<&CallEntry, RelayError> {
        let index = *self
            .by_call
            .get(&call)
            .ok_or(RelayError::UnknownCall(call))?;
        self.calls[index as usize]
            .as_ref()
            .ok_or(RelayError::UnknownCall(call))
    }

    /// The open call `call`, to change.
    fn entry_mut(&mut self, call: CallRef) -> Result<&mut CallEntry, RelayError> {
        let index = *self
            .by_call
            .get(&call)
            .ok_or(RelayError::UnknownCall(call))?;
        self.calls[index as usize]
            .as_mut()
            .ok_or(RelayError::UnknownCall(call))
    }

    /// Counters of an open call, without closing it.
    pub fn counters(&self, call: CallRef) -> Option<MediaCounters> {
        let index = *self.by_call.get(&call)?;
        self.calls[index as usize].as_ref().map(|e| e.counters)
    }

    /// Arrival of the last packet accepted from either leg of an open call (`None`: none yet).
    pub fn last_packet(&self, call: CallRef) -> Option<Time> {
        let index = *self.by_call.get(&call)?;
        self.calls[index as usize].as_ref()?.last_packet
    }

    pub fn slots_of(&self, call: CallRef) -> Option<CallSlots> {
        let index = *self.by_call.get(&call)?;
        self.calls[index as usize].as_ref().map(|e| e.slots)
    }

    pub fn slot_info(&self, slot: SlotId) -> Option<SlotInfo> {
        let slot = self.slots.get(slot.0 as usize)?.as_ref()?;
        let entry = self.calls.get(slot.call_index as usize)?.as_ref()?;
        Some(SlotInfo {
            call: entry.call,
            side: slot.side,
            kind: slot.kind,
            local_port: slot.local_port,
        })
    }

    /// Where the slot currently sends (latched source, else the SDP address).
    pub fn destination(&self, slot: SlotId) -> Option<SocketAddr> {
        self.slots
            .get(slot.0 as usize)?
            .as_ref()?
            .latch
            .destination()
    }

    /// Number of open calls.
    pub fn open_calls(&self) -> usize {
        self.by_call.len()
    }

    /// Packets dropped because their slot was not open (they belong to no call).
    pub fn unknown_slot_drops(&self) -> u64 {
        self.unknown_slot_drops
    }
}

/// The SDP address a slot sends to before it latches, if the leg's sources accept it (a `c=` on
/// loopback or multicast outside the trunk's peer and networks is never a destination).
fn accepted_signalled(leg: &MediaLeg, kind: SlotKind) -> Option<SocketAddr> {
    signalled_address(leg, kind).filter(|a| leg.sources.accepts_connection(a.ip()))
}

fn signalled_address(leg: &MediaLeg, kind: SlotKind) -> Option<SocketAddr> {
    match kind {
        SlotKind::Rtp => leg.remote_rtp,
        SlotKind::Rtcp if leg.rtcp_mux => None,
        SlotKind::Rtcp => leg.remote_rtcp.or_else(|| {
            leg.remote_rtp.and_then(|rtp| {
                let port = rtp.port().checked_add(1)?;
                Some(SocketAddr::new(rtp.ip(), port))
            })
        }),
    }
}

/// RTCP packet types (second octet) are 192..=223 (RFC 5761 section 4); SR=200 .. XR=207 in use.
fn is_rtcp_type(second_octet: u8) -> bool {
    (192..=223).contains(&second_octet)
}

/// Validates a packet for the slot it arrived on and says whether it is RTP or RTCP.
fn classify(slot_kind: SlotKind, muxed: bool, packet: &[u8]) -> Option<SlotKind> {
    let (&first, &second) = (packet.first()?, packet.get(1)?);
    if first >> 6 != 2 {
        return None;
    }
    match slot_kind {
        SlotKind::Rtcp => (packet.len() >= 8 && is_rtcp_type(second)).then_some(SlotKind::Rtcp),
        SlotKind::Rtp if muxed && is_rtcp_type(second) => {
            (packet.len() >= 8).then_some(SlotKind::Rtcp)
        }
        SlotKind::Rtp => (packet.len() >= 12).then_some(SlotKind::Rtp),
    }
}
