//! A bare forwarder: the baseline perf/relay measures handoff against. Same backends, same
//! sockets, same batching and outbox as the relay, and no SBC logic: no RTP validation, no
//! latching rules, no counters per call. A packet received on one socket of a pair leaves from
//! the other socket, toward the last source seen on that other socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::backend::{Backend, BackendError, Incoming, MediaPair, MediaSocket, Outbox};

#[derive(Default)]
pub struct BareForwarder {
    peer_of: Vec<MediaSocket>,
    last_source: Vec<Option<SocketAddr>>,
    pub forwarded: u64,
    pub dropped: u64,
}

impl BareForwarder {
    pub fn new() -> BareForwarder {
        BareForwarder::default()
    }

    fn set(&mut self, socket: MediaSocket, peer: MediaSocket) {
        let i = socket as usize;
        if self.peer_of.len() <= i {
            self.peer_of.resize(i + 1, MediaSocket::MAX);
            self.last_source.resize(i + 1, None);
        }
        self.peer_of[i] = peer;
        self.last_source[i] = None;
    }

    /// Binds `port_a` and `port_b` (each with its +1 RTCP socket, as the relay does) on `ip` and
    /// forwards between them.
    pub fn add_pair<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        ip: IpAddr,
        port_a: u16,
        port_b: u16,
    ) -> Result<(MediaPair, MediaPair), BackendError> {
        let a = backend.open_media_pair(ip, port_a)?;
        let b = match backend.open_media_pair(ip, port_b) {
            Ok(b) => b,
            Err(e) => {
                backend.close_media_pair(a);
                return Err(e);
            }
        };
        self.set(a.rtp, b.rtp);
        self.set(b.rtp, a.rtp);
        self.set(a.rtcp, b.rtcp);
        self.set(b.rtcp, a.rtcp);
        Ok((a, b))
    }

    #[inline]
    pub fn on_packet(
        &mut self,
        socket: MediaSocket,
        from: SocketAddr,
        payload: &[u8],
        outbox: &mut Outbox,
    ) {
        let i = socket as usize;
        let Some(&peer) = self.peer_of.get(i) else {
            self.dropped += 1;
            return;
        };
        self.last_source[i] = Some(from);
        match self.last_source.get(peer as usize).copied().flatten() {
            Some(dst) if outbox.push(peer, dst, payload) => self.forwarded += 1,
            _ => self.dropped += 1,
        }
    }
}

/// Runs `forwarder` over `backend` until `stop` is set (checked at least every 100 ms).
pub fn run_bare<B: Backend + ?Sized>(
    backend: &mut B,
    forwarder: &mut BareForwarder,
    stop: &AtomicBool,
) -> Result<(), BackendError> {
    while !stop.load(Ordering::Relaxed) {
        backend.wait(Some(Duration::from_millis(100)))?;
        backend.dispatch(&mut |incoming, outbox| {
            if let Incoming::Media {
                socket,
                from,
                payload,
            } = incoming
            {
                forwarder.on_packet(socket, from, payload, outbox);
            }
        })?;
        backend.flush()?;
    }
    Ok(())
}
