//! The socket side of the media relay: turns [`MediaCommand`]s into bound socket pairs and a
//! programmed [`RelayTable`], and runs the per-packet fast path (received packet -> table
//! decision -> staged in the outbox for the batched send). No allocation per packet: socket and
//! slot maps are plain `Vec`s indexed by number.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::backend::{Backend, BackendError, MediaPair, MediaSocket, Outbox};
use crate::core::{CallRef, MediaCommand, MediaCounters};
use crate::media::g711::G711Law;
use crate::media::relay::{RelayDecision, RelayError, RelayTable, SlotId};

const NO_SLOT: u32 = u32::MAX;
/// G.711 packets are 172 bytes; a longer packet is passed on untouched rather than transcoded.

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("call {call:?}: this relay cannot play ringback yet")]
    RingbackUnavailable { call: CallRef },
    #[error("relay table refused the command: {0}")]
    Table(#[from] RelayError),
    #[error("media sockets for call {call:?} not opened: {source}")]
    Sockets {
        call: CallRef,
        #[source]
        source: BackendError,
    },
}

struct CallMedia {
    a: MediaPair,
    b: MediaPair,
}

/// Per-shard relay counters (the per-call ones live in the table).
#[derive(Clone, Copy, Debug, Default)]
pub struct RelayStats {
    pub relayed: u64,
    pub dropped: u64,
    /// Forward decisions that could not be staged (outbox full).
    pub outbox_full: u64,
}

pub struct MediaRelay {
    table: RelayTable,
    calls: HashMap<CallRef, CallMedia>,
    socket_slot: Vec<u32>,
    slot_socket: Vec<MediaSocket>,
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

    fn unmap(&mut self, socket: MediaSocket) {
        if let Some(s) = self.socket_slot.get_mut(socket as usize) {
            *s = NO_SLOT;
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
                let slots = self.table.open(call, a, b)?;
                let a_pair = match backend.open_media_pair(self.advertise, a.local_port) {
                    Ok(p) => p,
                    Err(source) => {
                        let _ = self.table.close(call);
                        return Err(MediaError::Sockets { call, source });
                    }
                };
                let b_pair = match backend.open_media_pair(self.advertise, b.local_port) {
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
                self.calls.insert(
                    call,
                    CallMedia {
                        a: a_pair,
                        b: b_pair,
                    },
                );
                Ok(())
            }
            MediaCommand::Update { call, a, b } => {
                self.table.update(call, a, b)?;
                Ok(())
            }
            MediaCommand::Close { call } => {
                self.close(backend, call);
                Ok(())
            }
            MediaCommand::SetLaws { call, a, b } => self.set_laws(call, a, b),
            MediaCommand::StartRingback { call, .. } | MediaCommand::StopRingback { call } => {
                Err(MediaError::RingbackUnavailable { call })
            }
        }
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
    pub fn counters_for(&mut self, call: CallRef) -> Option<MediaCounters> {
        self.closed
            .remove(&call)
            .or_else(|| self.table.counters(call))
    }

    /// The fast path for one received packet. True when it was staged for forwarding.
    #[inline]
    pub fn on_packet(
        &mut self,
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
            return false;
        }
        match self.table.on_packet(SlotId(slot), from, payload) {
            RelayDecision::Forward {
                out_slot,
                dst,
                transcode,
            } => {
                match self.slot_socket.get(out_slot.0 as usize) {
                    Some(&out) if outbox.push(out, dst, payload) => {
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
            RelayDecision::Drop(_) => {
                self.stats.dropped += 1;
                false
            }
        }
    }
}
