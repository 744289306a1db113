//! What a shard loop needs from an I/O backend, and the pieces both backends share.
//!
//! A loop turn is: `wait(timeout)` (sleep until I/O, a wakeup or the timeout), read the clock
//! once, `dispatch(handler)` (hand every received datagram to the handler, which may stage media
//! forwards in the [`Outbox`]), then queue SIP sends and `flush()` (one batched submission).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::uring_sys::MEDIA_BUF_LEN;

/// A media socket of one backend: an index into the backend's socket table (the ring's
/// registered-file table on io_uring). Reused after close, so the relay maps it per call.
pub type MediaSocket = u32;

/// The RTP (even port) and RTCP (port + 1) sockets of one leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaPair {
    pub rtp: MediaSocket,
    pub rtcp: MediaSocket,
}

/// A received datagram, borrowed from the backend's receive buffers for the handler's call.
#[derive(Debug)]
pub enum Incoming<'a> {
    Sip {
        from: SocketAddr,
        payload: &'a [u8],
    },
    Media {
        socket: MediaSocket,
        from: SocketAddr,
        payload: &'a [u8],
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "io_uring is not available on this host ({0}); the kernel or a seccomp policy refuses it. \
         Set `io = \"epoll\"` in [sbc] to use the epoll backend (or `io = \"auto\"`, the \
         default: io_uring where it works, else epoll)"
    )]
    UringUnavailable(io::Error),
    #[error("io_uring lacks a feature handoff needs: {0}")]
    UringFeatureMissing(&'static str),
    #[error("cannot bind the SIP socket on {addr}: {source}")]
    SipBind { addr: SocketAddr, source: io::Error },
    #[error("cannot bind media port {port} on {ip}: {source}")]
    MediaBind {
        ip: IpAddr,
        port: u16,
        source: io::Error,
    },
    #[error("the media socket table is full ({0} sockets per shard)")]
    MediaTableFull(usize),
    #[error("media port {0} is not one this shard opened at start-up, or it is already held")]
    MediaPortNotOpen(u16),
    #[error("I/O error in {op}: {source}")]
    Io { op: &'static str, source: io::Error },
}

impl BackendError {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> BackendError {
        move |source| BackendError::Io { op, source }
    }
}

/// Media packets staged for sending in this loop turn, in preallocated slots: staging a packet
/// copies it once and allocates nothing.
pub struct Outbox {
    data: Box<[[u8; MEDIA_BUF_LEN]]>,
    staged: Vec<Staged>,
    /// Packets refused because the outbox was full (the backend flushes well before that).
    pub overflow_drops: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Staged {
    pub socket: MediaSocket,
    pub to: SocketAddr,
    pub len: u16,
}

impl Outbox {
    pub fn new(capacity: usize) -> Outbox {
        let capacity = capacity.max(1);
        Outbox {
            data: vec![[0u8; MEDIA_BUF_LEN]; capacity].into_boxed_slice(),
            staged: Vec::with_capacity(capacity),
            overflow_drops: 0,
        }
    }

    /// Stages `payload` to be sent from `socket` to `to`. False (and counted) when full or when
    /// the payload is larger than a slot.
    pub fn push(&mut self, socket: MediaSocket, to: SocketAddr, payload: &[u8]) -> bool {
        let index = self.staged.len();
        if index >= self.data.len() || payload.len() > MEDIA_BUF_LEN {
            self.overflow_drops += 1;
            return false;
        }
        self.data[index][..payload.len()].copy_from_slice(payload);
        self.staged.push(Staged {
            socket,
            to,
            len: payload.len() as u16,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// The payload of the packet staged last, to rewrite in place (transcoding).
    pub fn last_payload_mut(&mut self) -> Option<&mut [u8]> {
        let index = self.staged.len().checked_sub(1)?;
        let len = self.staged[index].len as usize;
        Some(&mut self.data[index][..len])
    }

    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// More than half full: the backend flushes between receive batches at this point.
    pub fn wants_flush(&self) -> bool {
        self.staged.len() * 2 >= self.data.len()
    }

    pub fn staged(&self) -> &[Staged] {
        &self.staged
    }

    pub fn payload(&self, index: usize) -> &[u8] {
        match self.staged.get(index) {
            Some(s) => &self.data[index][..s.len as usize],
            None => &[],
        }
    }

    pub fn clear(&mut self) {
        self.staged.clear();
    }
}

/// How to wake shard `i` from anywhere: its eventfd (used by the control thread, and by the
/// epoll backend between shards) and, on io_uring, its ring fd for IORING_OP_MSG_RING.
#[derive(Clone, Copy, Debug)]
pub struct WakeTarget {
    pub eventfd: RawFd,
    pub ring_fd: Option<RawFd>,
}

/// Owns a shard's eventfd; cheap to share (`Arc`) with the control thread.
#[derive(Debug)]
pub struct ShardWaker {
    eventfd: EventFd,
}

impl ShardWaker {
    pub fn new() -> io::Result<Arc<ShardWaker>> {
        Ok(Arc::new(ShardWaker {
            eventfd: EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?,
        }))
    }

    /// EAGAIN (counter saturated) is fine: the reader is already due to wake.
    pub fn wake(&self) {
        let _ = self.eventfd.write(1);
    }

    pub fn raw_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Resets the counter (EAGAIN: it was already zero).
    pub(crate) fn clear(&self) {
        let _ = self.eventfd.read();
    }
}

impl AsFd for ShardWaker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.eventfd.as_fd()
    }
}

/// Counters a backend keeps about its own I/O.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendStats {
    pub sip_received: u64,
    pub media_received: u64,
    pub media_sent: u64,
    pub send_errors: u64,
    /// Datagrams larger than the receive buffer, dropped.
    pub truncated: u64,
    /// Multishot receives re-armed because the provided-buffer ring ran dry (io_uring).
    pub rearmed_enobufs: u64,
    /// Media sockets created (socket(2) or IORING_OP_SOCKET): at start-up for the pool, never
    /// per call once [`Backend::open_media_ports`] ran.
    pub media_sockets_created: u64,
    /// Media sockets closed (close(2) or IORING_OP_CLOSE) outside start-up and teardown.
    pub media_sockets_closed: u64,
    /// Pairs taken from the pre-opened pool by `open_media_pair` (and given back by close).
    pub pool_takes: u64,
    pub pool_returns: u64,
}

/// What [`Backend::open_media_pairs`] opened: the RTP ports of the pairs now open (each with
/// its RTCP port + 1), and the pairs it could not open.
#[derive(Debug, Default)]
pub struct MediaPorts {
    pub rtp_ports: Vec<u16>,
    /// Pairs left out because a bind failed for another reason than "in use", with the first
    /// error seen.
    pub refused: usize,
    pub first_error: Option<String>,
    /// RTP ports of the pairs not opened because a port was in use (EADDRINUSE): a handoff
    /// restarted at once may find ports its predecessor's exit is still releasing, so the
    /// caller tries these again later (`runtime::pool_open`). The first such error is kept in
    /// `busy_error`.
    pub busy: Vec<u16>,
    pub busy_error: Option<String>,
    /// Pairs left out because the descriptor budget (`max_sockets`) was reached.
    pub over_budget: usize,
}

/// The pre-opened pairs of one shard: which backend socket serves which port, and which pairs a
/// call holds. Taking and giving back a pair is bookkeeping only: no system call.
#[derive(Debug, Default)]
pub(crate) struct PortTable {
    start: u16,
    /// Per port offset `port - start`: its socket, [`MediaSocket::MAX`] when not open.
    sockets: Vec<MediaSocket>,
    /// Per port offset (RTP ports only): a call holds the pair.
    held: Vec<bool>,
    /// Per socket: its port offset + 1 (0: not a pooled socket).
    socket_port: Vec<u32>,
}

impl PortTable {
    pub(crate) fn new(start: u16, end: u16) -> PortTable {
        let len = usize::from(end.saturating_sub(start));
        PortTable {
            start,
            sockets: vec![MediaSocket::MAX; len],
            held: vec![false; len],
            socket_port: Vec::new(),
        }
    }

    /// Whether a pool was opened (the backend then never creates a socket per call).
    pub(crate) fn active(&self) -> bool {
        !self.sockets.is_empty()
    }

    /// Whether `[start, end)` lies inside this table's ports.
    pub(crate) fn covers(&self, start: u16, end: u16) -> bool {
        self.active() && start >= self.start && end <= self.start + self.sockets.len() as u16
    }

    /// The offset of `rtp_port` in this table, when its pair (`rtp_port`, `rtp_port + 1`)
    /// lies inside it.
    pub(crate) fn offset(&self, rtp_port: u16) -> Option<usize> {
        let offset = usize::from(rtp_port.checked_sub(self.start)?);
        (offset + 1 < self.sockets.len()).then_some(offset)
    }

    /// Whether `port` lies inside this table and its socket is open.
    pub(crate) fn is_open(&self, port: u16) -> bool {
        port.checked_sub(self.start)
            .and_then(|offset| self.sockets.get(usize::from(offset)))
            .is_some_and(|&socket| socket != MediaSocket::MAX)
    }

    pub(crate) fn insert(&mut self, port: u16, socket: MediaSocket) {
        let offset = usize::from(port - self.start);
        self.sockets[offset] = socket;
        let s = socket as usize;
        if self.socket_port.len() <= s {
            self.socket_port.resize(s + 1, 0);
        }
        self.socket_port[s] = offset as u32 + 1;
    }

    /// The open pair of `rtp_port`, now held; `None` when it is not open or already held.
    pub(crate) fn take(&mut self, rtp_port: u16) -> Option<MediaPair> {
        let offset = usize::from(rtp_port.checked_sub(self.start)?);
        let rtp = *self.sockets.get(offset)?;
        let rtcp = *self.sockets.get(offset + 1)?;
        if rtp == MediaSocket::MAX || rtcp == MediaSocket::MAX || self.held[offset] {
            return None;
        }
        self.held[offset] = true;
        Some(MediaPair { rtp, rtcp })
    }

    /// Gives a held pair back; false when `pair` is not a pooled pair (the caller closes it).
    pub(crate) fn give_back(&mut self, pair: MediaPair) -> bool {
        match self.socket_port.get(pair.rtp as usize) {
            Some(&p) if p > 0 => {
                self.held[p as usize - 1] = false;
                true
            }
            _ => false,
        }
    }
}

/// Whether a media bind failed because the port is in use (another socket holds it).
pub(crate) fn is_in_use(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::EADDRINUSE)
}

/// Notes a pair not opened: in use (retried later by the caller) or refused for good.
pub(crate) fn note_failed_pair(
    opened: &mut MediaPorts,
    rtp_port: u16,
    port: u16,
    error: &io::Error,
) {
    if is_in_use(error) {
        opened.busy.push(rtp_port);
        opened
            .busy_error
            .get_or_insert_with(|| format!("port {port}: {error}"));
    } else {
        opened.refused += 1;
        opened
            .first_error
            .get_or_insert_with(|| format!("port {port}: {error}"));
    }
}

/// Opens a leg's RTP socket (`which` 0) then its RTCP socket (`which` 1); if the RTCP socket
/// fails, closes the RTP one again so a failed open leaks nothing.
pub(crate) fn open_rtp_and_rtcp<B>(
    backend: &mut B,
    mut open: impl FnMut(&mut B, u16) -> Result<MediaSocket, BackendError>,
    close: impl FnOnce(&mut B, MediaSocket),
) -> Result<MediaPair, BackendError> {
    let rtp = open(backend, 0)?;
    let rtcp = match open(backend, 1) {
        Ok(s) => s,
        Err(e) => {
            close(backend, rtp);
            return Err(e);
        }
    };
    Ok(MediaPair { rtp, rtcp })
}

/// Notes that shard `peer` wants a wakeup at the next flush; one wakeup per peer and batch.
pub(crate) fn note_peer_to_wake(peers_to_wake: &mut Vec<usize>, peer: usize) {
    if !peers_to_wake.contains(&peer) {
        peers_to_wake.push(peer);
    }
}

/// The I/O a shard loop uses. Implemented by [`super::epoll::EpollBackend`] and
/// [`super::uring::UringBackend`]; a bare forwarder can drive the same trait without any SBC
/// logic (same sockets, same batching).
pub trait Backend: Send {
    fn name(&self) -> &'static str;

    /// Declares the shard's media port slice `[start, end)`: the pool of pairs that
    /// [`Backend::open_media_pairs`] then fills, none open yet. Once declared, `open_media_pair`
    /// only ever takes a pair from the pool (a port not open yet is an error).
    fn media_pool(&mut self, start: u16, end: u16);

    /// Opens and binds the RTP (even) / RTCP (odd) pairs of `rtp_ports` on `ip`, with their
    /// receives armed, for the backend's whole life, while the backend holds at most
    /// `max_sockets` media sockets; a pair already open is skipped. A shard calls it from its
    /// loop in chunks after it started serving (`runtime::pool_open`), never for a call: from
    /// then on `open_media_pair` only takes one of these pairs and `close_media_pair` gives it
    /// back, so no socket is created, bound or closed per call. Packets arriving on a pair no
    /// call holds are still received (so nothing stale waits in a socket buffer for the next
    /// call) and dropped by the relay.
    fn open_media_pairs(
        &mut self,
        ip: IpAddr,
        rtp_ports: &[u16],
        max_sockets: usize,
    ) -> Result<MediaPorts, BackendError>;

    /// [`Backend::media_pool`] on `[start, end)` and every pair of it opened at once
    /// (in-process benches and tests).
    fn open_media_ports(
        &mut self,
        ip: IpAddr,
        start: u16,
        end: u16,
        max_sockets: usize,
    ) -> Result<MediaPorts, BackendError> {
        self.media_pool(start, end);
        let rtp_ports: Vec<u16> = (start.div_ceil(2) * 2..end.saturating_sub(1))
            .step_by(2)
            .collect();
        self.open_media_pairs(ip, &rtp_ports, max_sockets)
    }

    /// Called by the shard thread as it stops, before it returns the backend: frees the SIP
    /// port at once and ends whatever this thread armed (io_uring requests belong to the task
    /// that submitted them; left to the kernel's task-exit path, thousands of armed receives
    /// take up to a second to cancel). Nothing is sent or received afterwards.
    fn shut_down(&mut self);

    /// The RTP (`rtp_port`, even) and RTCP (`rtp_port + 1`) sockets of one leg on `ip`: taken
    /// from the pool when `open_media_ports` ran (an error for a port outside it), else bound
    /// now (in-process tests and benches that drive a backend without a pool).
    fn open_media_pair(&mut self, ip: IpAddr, rtp_port: u16) -> Result<MediaPair, BackendError>;

    /// Gives a pooled pair back (no system call), or closes both sockets of an unpooled one;
    /// either way the relay no longer maps them, so nothing received on them is relayed.
    fn close_media_pair(&mut self, pair: MediaPair);

    /// Queues a SIP datagram from this shard's SIP socket; it leaves at the next `flush`.
    fn send_sip(&mut self, to: SocketAddr, payload: Vec<u8>);

    /// Media packets staged for the next `flush`.
    fn outbox(&mut self) -> &mut Outbox;

    /// Wakes shard `peer` (after pushing a batch of messages to it). One call per batch.
    fn wake_peer(&mut self, peer: usize);

    /// Sends everything queued, in as few syscalls/submissions as possible.
    fn flush(&mut self) -> Result<(), BackendError>;

    /// Sleeps until something is received, a wakeup arrives, or `timeout` passes.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), BackendError>;

    /// Hands every datagram received so far to `handler`, without blocking.
    fn dispatch(
        &mut self,
        handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox),
    ) -> Result<(), BackendError>;

    fn stats(&self) -> BackendStats;
}
