//! The socket side of the media relay: turns [`MediaCommand`]s into bound socket pairs and a
//! programmed [`RelayTable`], and runs the per-packet fast path (received packet -> table
//! decision -> staged in the outbox for the batched send). No allocation per packet: socket and
//! slot maps are plain `Vec`s indexed by number.
//!
//! Ringback: while a call plays ringback toward a leg, relayed RTP toward that leg is dropped
//! (muted) and [`MediaRelay::tick`] stages one 172-byte G.711 packet every 20 ms from that leg's
//! RTP socket to its latched address. The packets continue the SSRC, sequence and timestamp of
//! the stream the relay last sent toward that leg (every RTP packet forwarded is observed), so
//! the phone hears one stream. A leg that moves to new local ports (a transfer bridged the other
//! side to a new peer) keeps its slots: the new port's sockets are mapped, the old ones unmapped.
//! Sockets come from the backend's pool of pairs opened at start-up (`open_media_pair` takes one,
//! `close_media_pair` gives it back: no system call); a packet on an unmapped socket is dropped
//! and counted as [`RelayStats::unheld_port`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::backend::{Backend, BackendError, MediaPair, MediaSocket, Outbox};
use crate::core::{CallRef, MediaCommand, MediaCounters, MediaLeg, MediaSide, Time};
use crate::media::g711::G711Law;
use crate::media::relay::{DropReason, RelayDecision, RelayError, RelayTable, Side, SlotId};
use crate::media::ringback::{FRAME_SAMPLES, RingbackGenerator, RtpStreamContinuation};

const NO_SLOT: u32 = u32::MAX;
/// One ringback packet per 20 ms frame.
pub const RINGBACK_PERIOD_NS: u64 = 20_000_000;
/// A loop turn that ran late sends at most this many overdue ringback packets at once; beyond
/// that the schedule restarts from now (a burst would only fill the phone's jitter buffer).
const RINGBACK_CATCH_UP: u32 = 3;
const RINGBACK_PACKET_LEN: usize = 12 + FRAME_SAMPLES;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("call {call:?}: no media open for it (the core named a call the relay never opened)")]
    UnknownCall { call: CallRef },
    #[error("relay table refused the command: {0}")]
    Table(#[from] RelayError),
    #[error("media sockets for call {call:?} not opened: {source}")]
    Sockets {
        call: CallRef,
        #[source]
        source: BackendError,
    },
}

impl MediaError {
    /// The call whose sockets could not be opened (not a caller fault of the core).
    pub fn unopened_call(&self) -> Option<CallRef> {
        match self {
            MediaError::Sockets { call, .. } => Some(*call),
            MediaError::UnknownCall { .. } | MediaError::Table(_) => None,
        }
    }
}

struct CallMedia {
    a: MediaPair,
    b: MediaPair,
    a_port: u16,
    b_port: u16,
    /// Boxed: only a call in a transfer's ringback has one, and inline it took ~80 bytes of
    /// every call's entry in `MediaRelay::calls` (times the map's spare buckets).
    ringback: Option<Box<Ringback>>,
    /// The call's conversation id, for the log lines about its media (`name_call`).
    conversation: Box<str>,
}

impl CallMedia {
    fn pair(&self, side: MediaSide) -> MediaPair {
        match side {
            MediaSide::A => self.a,
            MediaSide::B => self.b,
        }
    }
}

struct Ringback {
    toward: MediaSide,
    generator: RingbackGenerator,
    /// The payload type the leg negotiated for the generator's law (RFC 3264).
    payload_type: u8,
    /// When the next packet is due; `None` until the first tick after the start.
    next_due: Option<Time>,
}

fn table_side(side: MediaSide) -> Side {
    match side {
        MediaSide::A => Side::A,
        MediaSide::B => Side::B,
    }
}

/// The seed of a stream the relay never saw a packet of: fixed per call and side, no randomness.
fn seeded_stream(call: CallRef, side: Side) -> RtpStreamContinuation {
    let mut x = call.seq ^ (u64::from(call.shard.0) << 48) ^ ((side == Side::B) as u64) << 63;
    // splitmix64 finaliser: spreads consecutive calls over the SSRC space.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    RtpStreamContinuation::new(x as u32, (x >> 32) as u16, (x >> 48) as u32 * 160)
}

/// Per-shard relay counters (the per-call ones live in the table).
#[derive(Clone, Copy, Debug, Default)]
pub struct RelayStats {
    pub relayed: u64,
    pub dropped: u64,
    /// Relayed packets dropped because ringback plays toward their leg.
    pub muted: u64,
    /// Ringback packets staged.
    pub ringback_sent: u64,
    /// Forward decisions that could not be staged (outbox full).
    pub outbox_full: u64,
    /// Packets from outside their leg's allowed sources (strict media sources).
    pub foreign_source: u64,
    /// Packets from an allowed source that has not (yet) taken over the latch.
    pub unlatched_source: u64,
    /// Packets that were not RTP/RTCP.
    pub malformed: u64,
    /// Packets that arrived on a pre-opened port no call holds (a stale sender of an ended
    /// call, a scanner): dropped before any table lookup, so they reach no later call.
    pub unheld_port: u64,
}

/// Foreign-source drops logged per slot; beyond this they are only counted (an attacker cycling
/// through ports must not flood the log).
const FOREIGN_LOGS_PER_SLOT: u8 = 8;

pub struct MediaRelay {
    table: RelayTable,
    calls: HashMap<CallRef, CallMedia>,
    socket_slot: Vec<u32>,
    slot_socket: Vec<MediaSocket>,
    /// Per slot: the RTP stream last sent out of it (what ringback continues).
    slot_stream: Vec<RtpStreamContinuation>,
    /// Per slot: ringback plays toward it, relayed packets are dropped.
    slot_muted: Vec<bool>,
    /// Per slot: foreign sources logged so far (see [`FOREIGN_LOGS_PER_SLOT`]).
    slot_foreign_logged: Vec<u8>,
    /// Calls playing ringback (few; scanned every tick).
    ringing: Vec<CallRef>,
    /// Counters of calls whose media closed before their CallEnded event was seen.
    closed: HashMap<CallRef, MediaCounters>,
    advertise: IpAddr,
    stats: RelayStats,
}

impl MediaRelay {
    /// Media sockets are bound on `advertise` (the address the SDP announces).
    pub fn new(advertise: IpAddr) -> MediaRelay {
        MediaRelay {
            table: RelayTable::new(),
            calls: HashMap::new(),
            socket_slot: Vec::new(),
            slot_socket: Vec::new(),
            slot_stream: Vec::new(),
            slot_muted: Vec::new(),
            slot_foreign_logged: Vec::new(),
            ringing: Vec::new(),
            closed: HashMap::new(),
            advertise,
            stats: RelayStats::default(),
        }
    }

    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    fn map(&mut self, socket: MediaSocket, slot: SlotId) {
        let s = socket as usize;
        if self.socket_slot.len() <= s {
            self.socket_slot.resize(s + 1, NO_SLOT);
        }
        self.socket_slot[s] = slot.0;
        let k = slot.0 as usize;
        if self.slot_socket.len() <= k {
            self.slot_socket.resize(k + 1, MediaSocket::MAX);
        }
        self.slot_socket[k] = socket;
    }

    /// A slot (re)used by a call: its stream starts from the call's seed, unmuted.
    fn reset_slot(&mut self, slot: SlotId, call: CallRef, side: Side) {
        let k = slot.0 as usize;
        if self.slot_stream.len() <= k {
            self.slot_stream
                .resize(k + 1, RtpStreamContinuation::new(0, 0, 0));
            self.slot_muted.resize(k + 1, false);
            self.slot_foreign_logged.resize(k + 1, 0);
        }
        self.slot_stream[k] = seeded_stream(call, side);
        self.slot_muted[k] = false;
        self.slot_foreign_logged[k] = 0;
    }

    fn rtp_slot(&self, call: CallRef, side: MediaSide) -> Option<SlotId> {
        let slots = self.table.slots_of(call)?;
        Some(match side {
            MediaSide::A => slots.a_rtp,
            MediaSide::B => slots.b_rtp,
        })
    }

    fn set_muted(&mut self, slot: SlotId, muted: bool) {
        if let Some(m) = self.slot_muted.get_mut(slot.0 as usize) {
            *m = muted;
        }
    }

    fn unmap(&mut self, socket: MediaSocket) {
        if let Some(s) = self.socket_slot.get_mut(socket as usize) {
            *s = NO_SLOT;
        }
    }

    /// Names `call`'s media by its conversation id (from `Event::CallStarted`), for the log
    /// lines about it. Nothing when its media is not open.
    pub fn name_call(&mut self, call: CallRef, conversation: &str) {
        if let Some(media) = self.calls.get_mut(&call) {
            media.conversation = conversation.into();
        }
    }

    /// Applies a command from the core. On error nothing stays half-open.
    pub fn command<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        command: MediaCommand,
    ) -> Result<(), MediaError> {
        match command {
            MediaCommand::Open { call, a, b } => {
                let (a_port, b_port) = (a.local_port, b.local_port);
                let slots = self.table.open(call, a, b)?;
                let a_pair = match backend.open_media_pair(self.advertise, a_port) {
                    Ok(p) => p,
                    Err(source) => {
                        let _ = self.table.close(call);
                        return Err(MediaError::Sockets { call, source });
                    }
                };
                let b_pair = match backend.open_media_pair(self.advertise, b_port) {
                    Ok(p) => p,
                    Err(source) => {
                        backend.close_media_pair(a_pair);
                        let _ = self.table.close(call);
                        return Err(MediaError::Sockets { call, source });
                    }
                };
                self.map(a_pair.rtp, slots.a_rtp);
                self.map(a_pair.rtcp, slots.a_rtcp);
                self.map(b_pair.rtp, slots.b_rtp);
                self.map(b_pair.rtcp, slots.b_rtcp);
                for (slot, side) in [
                    (slots.a_rtp, Side::A),
                    (slots.a_rtcp, Side::A),
                    (slots.b_rtp, Side::B),
                    (slots.b_rtcp, Side::B),
                ] {
                    self.reset_slot(slot, call, side);
                }
                self.calls.insert(
                    call,
                    CallMedia {
                        a: a_pair,
                        b: b_pair,
                        a_port,
                        b_port,
                        ringback: None,
                        conversation: Box::default(),
                    },
                );
                Ok(())
            }
            MediaCommand::Update { call, a, b } => self.update(backend, call, a, b),
            MediaCommand::Close { call } => {
                self.close(backend, call);
                Ok(())
            }
            MediaCommand::SetLaws { call, a, b } => self.set_laws(call, a, b),
            MediaCommand::StartRingback {
                call,
                toward,
                tone,
                law,
                payload_type,
            } => {
                let slot = self
                    .rtp_slot(call, toward)
                    .ok_or(MediaError::UnknownCall { call })?;
                let media = self
                    .calls
                    .get_mut(&call)
                    .ok_or(MediaError::UnknownCall { call })?;
                if let Some(previous) = media.ringback.take()
                    && let Some(old) = self.rtp_slot(call, previous.toward)
                {
                    self.set_muted(old, false);
                }
                let media = self
                    .calls
                    .get_mut(&call)
                    .ok_or(MediaError::UnknownCall { call })?;
                media.ringback = Some(Box::new(Ringback {
                    toward,
                    generator: RingbackGenerator::new(tone, law),
                    payload_type,
                    next_due: None,
                }));
                self.set_muted(slot, true);
                if !self.ringing.contains(&call) {
                    self.ringing.push(call);
                }
                Ok(())
            }
            MediaCommand::StopRingback { call } => {
                self.stop_ringback(call);
                Ok(())
            }
        }
    }

    fn stop_ringback(&mut self, call: CallRef) {
        self.ringing.retain(|&c| c != call);
        let toward = self
            .calls
            .get_mut(&call)
            .and_then(|m| m.ringback.take())
            .map(|r| r.toward);
        if let Some(side) = toward
            && let Some(slot) = self.rtp_slot(call, side)
        {
            self.set_muted(slot, false);
        }
    }

    /// New remote addresses, and legs whose local port changed move: the new pair is bound
    /// (both sides before anything changes, so a failed bind leaves the call as it was), mapped
    /// to the leg's slots, and the old pair closed.
    fn update<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        call: CallRef,
        a: MediaLeg,
        b: MediaLeg,
    ) -> Result<(), MediaError> {
        let (old_a_port, old_b_port) = match self.calls.get(&call) {
            Some(m) => (m.a_port, m.b_port),
            None => return Err(MediaError::UnknownCall { call }),
        };
        let slots = self
            .table
            .slots_of(call)
            .ok_or(MediaError::UnknownCall { call })?;
        let mut moved: [Option<(MediaSide, MediaPair, u16)>; 2] = [None, None];
        for (i, (side, old, new)) in [
            (MediaSide::A, old_a_port, a.local_port),
            (MediaSide::B, old_b_port, b.local_port),
        ]
        .into_iter()
        .enumerate()
        {
            if old == new {
                continue;
            }
            match backend.open_media_pair(self.advertise, new) {
                Ok(pair) => moved[i] = Some((side, pair, new)),
                Err(source) => {
                    for (_, pair, _) in moved.iter().flatten() {
                        backend.close_media_pair(*pair);
                    }
                    return Err(MediaError::Sockets { call, source });
                }
            }
        }
        if let Err(error) = self.table.update(call, a, b) {
            for (_, pair, _) in moved.iter().flatten() {
                backend.close_media_pair(*pair);
            }
            return Err(error.into());
        }
        for (side, pair, port) in moved.into_iter().flatten() {
            let (rtp_slot, rtcp_slot) = match side {
                MediaSide::A => (slots.a_rtp, slots.a_rtcp),
                MediaSide::B => (slots.b_rtp, slots.b_rtcp),
            };
            let Some(media) = self.calls.get_mut(&call) else {
                backend.close_media_pair(pair);
                continue;
            };
            let old = match side {
                MediaSide::A => {
                    media.a_port = port;
                    std::mem::replace(&mut media.a, pair)
                }
                MediaSide::B => {
                    media.b_port = port;
                    std::mem::replace(&mut media.b, pair)
                }
            };
            self.unmap(old.rtp);
            self.unmap(old.rtcp);
            backend.close_media_pair(old);
            self.map(pair.rtp, rtp_slot);
            self.map(pair.rtcp, rtcp_slot);
            self.table.move_leg(call, table_side(side), port)?;
        }
        Ok(())
    }

    /// Stages the ringback packets due by `now` in the backend's outbox. Returns when the next
    /// one is due (the loop sleeps no longer than that), `None` when no ringback plays.
    pub fn tick<B: Backend + ?Sized>(&mut self, now: Time, backend: &mut B) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut packet = [0u8; RINGBACK_PACKET_LEN];
        for &call in &self.ringing {
            let Some(media) = self.calls.get_mut(&call) else {
                continue;
            };
            let pair = media.pair(match &media.ringback {
                Some(r) => r.toward,
                None => continue,
            });
            let Some(ringback) = media.ringback.as_mut() else {
                continue;
            };
            let slots = self.table.slots_of(call);
            let slot = match (slots, ringback.toward) {
                (Some(s), MediaSide::A) => s.a_rtp,
                (Some(s), MediaSide::B) => s.b_rtp,
                (None, _) => continue,
            };
            let mut due = *ringback.next_due.get_or_insert(now);
            let mut sent = 0;
            while due <= now {
                if sent == RINGBACK_CATCH_UP {
                    due = Time(now.0 + RINGBACK_PERIOD_NS);
                    break;
                }
                let stream = self.slot_stream.get_mut(slot.0 as usize);
                let written = stream.and_then(|stream| {
                    stream.write_ringback_packet_as(
                        &mut ringback.generator,
                        ringback.payload_type,
                        &mut packet,
                    )
                });
                if let (Some(len), Some(dst)) = (written, self.table.destination(slot)) {
                    if backend.outbox().push(pair.rtp, dst, &packet[..len]) {
                        self.stats.ringback_sent += 1;
                    } else {
                        self.stats.outbox_full += 1;
                    }
                }
                due = Time(due.0 + RINGBACK_PERIOD_NS);
                sent += 1;
            }
            ringback.next_due = Some(due);
            next = Some(next.map_or(due, |n: Time| n.min(due)));
        }
        next
    }

    /// The G.711 law each leg negotiated; when they differ the relay transcodes (see
    /// [`RelayTable::set_laws`]).
    pub fn set_laws(
        &mut self,
        call: CallRef,
        a: Option<G711Law>,
        b: Option<G711Law>,
    ) -> Result<(), MediaError> {
        self.table.set_laws(call, a, b)?;
        Ok(())
    }

    /// Closes a call's sockets at once: from here on nothing of it is relayed.
    pub fn close<B: Backend + ?Sized>(&mut self, backend: &mut B, call: CallRef) {
        self.stop_ringback(call);
        let Some(media) = self.calls.remove(&call) else {
            return;
        };
        for pair in [media.a, media.b] {
            self.unmap(pair.rtp);
            self.unmap(pair.rtcp);
            backend.close_media_pair(pair);
        }
        if let Ok(counters) = self.table.close(call) {
            self.closed.insert(call, counters);
        }
    }

    /// The counters for a call that just ended: final if its media closed, a snapshot if not.
    /// A live call's counters so far (nothing is taken: see [`MediaRelay::counters_for`]).
    pub fn live_counters(&self, call: CallRef) -> Option<MediaCounters> {
        self.table.counters(call)
    }

    pub fn counters_for(&mut self, call: CallRef) -> Option<MediaCounters> {
        self.closed
            .remove(&call)
            .or_else(|| self.table.counters(call))
    }

    /// Session liveness: when call `call` last had media, as of `now`: the table's last accepted
    /// packet, or `now` while ringback plays toward one of its legs (ringback counts as media).
    pub fn last_activity(&self, call: CallRef, now: Time) -> Option<Time> {
        if self.ringing.contains(&call) {
            return Some(now);
        }
        self.table.last_packet(call)
    }

    /// The fast path for one received packet (arrived at `now`). True when it was staged for
    /// forwarding.
    #[inline]
    pub fn on_packet(
        &mut self,
        now: Time,
        socket: MediaSocket,
        from: SocketAddr,
        payload: &[u8],
        outbox: &mut Outbox,
    ) -> bool {
        let slot = self
            .socket_slot
            .get(socket as usize)
            .copied()
            .unwrap_or(NO_SLOT);
        if slot == NO_SLOT {
            self.stats.dropped += 1;
            self.stats.unheld_port += 1;
            return false;
        }
        match self.table.on_packet(now, SlotId(slot), from, payload) {
            RelayDecision::Forward {
                out_slot,
                dst,
                transcode,
            } => {
                let k = out_slot.0 as usize;
                if self.slot_muted.get(k).copied().unwrap_or(false) {
                    self.stats.muted += 1;
                    self.stats.dropped += 1;
                    return false;
                }
                match self.slot_socket.get(k) {
                    Some(&out) if outbox.push(out, dst, payload) => {
                        // RTP (not RTCP, which may share a muxed socket) sets the stream that
                        // ringback would continue.
                        if payload.get(1).is_some_and(|&b| !(192..=223).contains(&b))
                            && let Some(stream) = self.slot_stream.get_mut(k)
                        {
                            stream.observe(payload);
                        }
                        // Transcoding rewrites the outbox's own copy in place: no extra copy,
                        // no allocation, and nothing at all when the laws match.
                        if let Some(t) = transcode
                            && let Some(staged) = outbox.last_payload_mut()
                        {
                            t.apply(staged);
                        }
                        self.stats.relayed += 1;
                        true
                    }
                    _ => {
                        self.stats.outbox_full += 1;
                        self.stats.dropped += 1;
                        false
                    }
                }
            }
            RelayDecision::Drop(reason) => {
                self.stats.dropped += 1;
                match reason {
                    DropReason::ForeignSource => {
                        self.stats.foreign_source += 1;
                        self.log_foreign(SlotId(slot), from);
                    }
                    DropReason::UnlatchedSource => self.stats.unlatched_source += 1,
                    DropReason::Malformed => self.stats.malformed += 1,
                    DropReason::UnknownSlot | DropReason::NoDestination => {}
                }
                false
            }
        }
    }

    /// Logs a foreign-source drop (cold path), at most [`FOREIGN_LOGS_PER_SLOT`] per slot.
    #[cold]
    fn log_foreign(&mut self, slot: SlotId, from: SocketAddr) {
        let Some(logged) = self.slot_foreign_logged.get_mut(slot.0 as usize) else {
            return;
        };
        if *logged >= FOREIGN_LOGS_PER_SLOT {
            return;
        }
        *logged += 1;
        let last = *logged == FOREIGN_LOGS_PER_SLOT;
        if let Some(info) = self.table.slot_info(slot) {
            let conversation = self
                .calls
                .get(&info.call)
                .map(|c| &*c.conversation)
                .filter(|c| !c.is_empty());
            tracing::warn!(
                call = %info.call,
                conversation = conversation.map(tracing::field::display),
                side = ?info.side,
                local_port = info.local_port,
                %from,
                reason = %DropReason::ForeignSource.as_str(),
                further_only_counted = last,
                "media dropped"
            );
        }
    }
}

/// Sockets a call's media holds: two legs, RTP and RTCP each (a local transfer's ringing leg C
/// adds two more while it rings).
pub const SOCKETS_PER_CALL: u64 = 4;

/// Descriptors a process keeps besides media: stdio, the audit file, the signalfd, the admin
/// API's connections, the REFER hook's and the OPTIONS prober's sockets... On epoll every media
/// socket is opened at start-up, up to the limit less this reserve: what runs later must fit in it.
const PROCESS_DESCRIPTORS: u64 = 64;
/// ...and per shard: its SIP socket, its ring or epoll instance, its wakeup eventfd.
const SHARD_DESCRIPTORS: u64 = 8;

/// How many concurrent calls one shard's media sockets allow, and what limits it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CallCapacity {
    /// By the shard's slice of `media_ports` (one socket per port).
    pub by_ports: u64,
    /// By the open-file limit (`nofile_soft`).
    pub by_descriptors: u64,
}

impl CallCapacity {
    /// The smaller of the two: the concurrent calls the shard can give media.
    pub fn calls(&self) -> u64 {
        self.by_ports.min(self.by_descriptors)
    }

    /// For a shard whose slice has `ports` media ports, out of `shards` shards, under a soft
    /// RLIMIT_NOFILE of `nofile_soft`. epoll: every media socket is a descriptor of the process,
    /// shared by all shards. io_uring: media sockets are direct descriptors, which do not count
    /// against the limit, but each ring's registered-file table is capped by it.
    pub fn of_shard(uring: bool, nofile_soft: u64, shards: u64, ports: u64) -> CallCapacity {
        CallCapacity {
            by_ports: ports / SOCKETS_PER_CALL,
            by_descriptors: media_socket_budget(uring, nofile_soft, shards) / SOCKETS_PER_CALL,
        }
    }
}

/// How many media sockets one shard may open at start-up (`Backend::open_media_ports`).
/// epoll: every media socket is a descriptor of the process, so the soft RLIMIT_NOFILE, less a
/// reserve for the process and each shard, is shared by all shards. io_uring: direct
/// descriptors do not count against the limit, but each ring's registered-file table is capped
/// by it.
pub fn media_socket_budget(uring: bool, nofile_soft: u64, shards: u64) -> u64 {
    let shards = shards.max(1);
    if uring {
        nofile_soft
    } else {
        nofile_soft.saturating_sub(PROCESS_DESCRIPTORS + SHARD_DESCRIPTORS * shards) / shards
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::CallCapacity;

    #[test]
    fn epoll_shares_the_limit_between_shards() {
        // 1024 descriptors, 2 shards: (1024 - 64 - 16) / 2 = 472 each, 118 calls of 4 sockets.
        let c = CallCapacity::of_shard(false, 1024, 2, 10_000);
        assert_eq!((c.by_ports, c.by_descriptors, c.calls()), (2500, 118, 118));
    }

    #[test]
    fn uring_caps_each_ring_by_the_limit() {
        // The SIP socket is not in the table: all 1024 slots are media, 256 calls.
        let c = CallCapacity::of_shard(true, 1024, 2, 10_000);
        assert_eq!((c.by_descriptors, c.calls()), (256, 256));
        let c = CallCapacity::of_shard(true, 1 << 20, 2, 100);
        assert_eq!(c.calls(), 25, "the port slice is the limit");
    }
}
