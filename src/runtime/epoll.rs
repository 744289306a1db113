//! The epoll fallback backend: nonblocking UDP sockets, level-triggered epoll, recvmmsg and
//! sendmmsg batches, and an eventfd for wakeups. For hosts whose seccomp policy forbids io_uring.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::epoll::{EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::{Domain, Protocol, Socket, Type};

use super::backend::{
    Backend, BackendError, BackendStats, Incoming, MediaPair, MediaPorts, MediaSocket, Outbox,
    PortTable, ShardWaker, WakeTarget, note_failed_pair, note_peer_to_wake, open_rtp_and_rtcp,
};
use super::host::force_buffer_sizes;
use super::uring_sys::{self, MEDIA_BUF_LEN, RecvBatch, SendItem, SendScratch};

const TOKEN_WAKE: u64 = 0;
const TOKEN_SIP: u64 = 1;
const TOKEN_MEDIA_BASE: u64 = 2;

/// Datagrams per recvmmsg call.
const RECV_BATCH: usize = 64;
/// SIP datagrams can be much larger than RTP; 16 KiB covers any sane SIP-over-UDP message.
const SIP_BUF_LEN: usize = 16 * 1024;
/// recvmmsg calls per ready socket per turn, so one busy socket cannot starve the others.
const MAX_BATCHES_PER_SOCKET: usize = 4;
const OUTBOX_CAPACITY: usize = 1024;

/// The SIP socket's receive and send buffer, asked for at start-up (see
/// [`crate::runtime::host`] for what the host grants).
pub const SIP_SOCKET_BUFFER: usize = 4 << 20;

/// Creates the SIP socket shared by every shard on `listen` (SO_REUSEPORT: the kernel spreads
/// peers across the shards' sockets by 4-tuple hash).
pub(crate) fn sip_socket(listen: SocketAddr, nonblocking: bool) -> Result<UdpSocket, BackendError> {
    let to_err = |source| BackendError::SipBind {
        addr: listen,
        source,
    };
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(to_err)?;
    socket.set_reuse_port(true).map_err(to_err)?;
    socket.set_reuse_address(true).map_err(to_err)?;
    // Bursts of INVITEs must not be dropped by a small default buffer. Past net.core.rmem_max
    // only with CAP_NET_ADMIN (SO_RCVBUFFORCE); otherwise the kernel caps the ordinary request.
    if force_buffer_sizes(&socket, SIP_SOCKET_BUFFER).is_err() {
        let _ = socket.set_recv_buffer_size(SIP_SOCKET_BUFFER);
        let _ = socket.set_send_buffer_size(SIP_SOCKET_BUFFER);
    }
    socket.set_nonblocking(nonblocking).map_err(to_err)?;
    socket.bind(&listen.into()).map_err(to_err)?;
    Ok(socket.into())
}

pub(crate) fn media_socket(ip: IpAddr, port: u16) -> Result<UdpSocket, BackendError> {
    let to_err = |source| BackendError::MediaBind { ip, port, source };
    let addr = SocketAddr::new(ip, port);
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(to_err)?;
    socket.set_nonblocking(true).map_err(to_err)?;
    socket.bind(&addr.into()).map_err(to_err)?;
    Ok(socket.into())
}

/// Level-triggered epoll over nix: each registered descriptor is tagged with a token.
pub struct Epoll {
    epoll: nix::sys::epoll::Epoll,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        Ok(Epoll {
            epoll: nix::sys::epoll::Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
        })
    }

    /// Registers `fd` for level-triggered readability, tagged with `token`.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(self
            .epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))?)
    }

    pub fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(self.epoll.delete(fd)?)
    }

    /// Waits for readiness; returns the tokens of ready descriptors in `out`. `events` is the
    /// reusable room for the kernel's answer: as many events as its capacity.
    pub fn wait(
        &self,
        events: &mut Vec<EpollEvent>,
        timeout: Option<Duration>,
        out: &mut Vec<u64>,
    ) -> io::Result<()> {
        out.clear();
        let timeout = match timeout {
            None => EpollTimeout::NONE,
            // Round up so a 0.4 ms deadline does not spin.
            Some(d) => {
                EpollTimeout::try_from(d.as_micros().div_ceil(1000)).unwrap_or(EpollTimeout::MAX)
            }
        };
        // Within the capacity: no allocation.
        events.resize(events.capacity().max(1), EpollEvent::empty());
        match self.epoll.wait(events, timeout) {
            Ok(n) => out.extend(events.iter().take(n).map(EpollEvent::data)),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        Ok(())
    }
}

pub struct EpollBackend {
    epoll: Epoll,
    events: Vec<EpollEvent>,
    ready: Vec<u64>,
    sip: UdpSocket,
    waker: Arc<ShardWaker>,
    peers: Arc<[WakeTarget]>,
    peers_to_wake: Vec<usize>,
    media: Vec<Option<UdpSocket>>,
    free_media: Vec<MediaSocket>,
    max_media: usize,
    /// The pairs opened at start-up ([`Backend::open_media_ports`]).
    pool: PortTable,
    sip_batch: RecvBatch,
    media_batch: RecvBatch,
    sip_out: Vec<(SocketAddr, Vec<u8>)>,
    outbox: Outbox,
    scratch: SendScratch,
    stats: BackendStats,
}

impl EpollBackend {
    /// The SIP socket's descriptor: the server steers the shards' reuseport group through it
    /// (`runtime::steering`).
    pub fn sip_raw_fd(&self) -> std::os::fd::RawFd {
        self.sip.as_raw_fd()
    }

    /// `max_media` bounds the shard's media sockets (two per port pair of its slice).
    pub fn new(
        listen: SocketAddr,
        waker: Arc<ShardWaker>,
        max_media: usize,
    ) -> Result<EpollBackend, BackendError> {
        let epoll = Epoll::new().map_err(BackendError::io("epoll_create"))?;
        let sip = sip_socket(listen, true)?;
        epoll
            .add(&sip, TOKEN_SIP)
            .map_err(BackendError::io("epoll_ctl(sip)"))?;
        epoll
            .add(&*waker, TOKEN_WAKE)
            .map_err(BackendError::io("epoll_ctl(eventfd)"))?;
        Ok(EpollBackend {
            epoll,
            events: Vec::with_capacity(256),
            ready: Vec::with_capacity(256),
            sip,
            waker,
            peers: Arc::from(Vec::new()),
            peers_to_wake: Vec::new(),
            media: Vec::new(),
            free_media: Vec::new(),
            max_media,
            pool: PortTable::default(),
            sip_batch: RecvBatch::new(16, SIP_BUF_LEN),
            media_batch: RecvBatch::new(RECV_BATCH, MEDIA_BUF_LEN),
            sip_out: Vec::with_capacity(64),
            outbox: Outbox::new(OUTBOX_CAPACITY),
            scratch: SendScratch::new(OUTBOX_CAPACITY),
            stats: BackendStats::default(),
        })
    }

    pub fn set_peers(&mut self, peers: Arc<[WakeTarget]>) {
        self.peers = peers;
    }

    pub fn local_sip_addr(&self) -> Option<SocketAddr> {
        self.sip.local_addr().ok()
    }

    fn bind_one(&mut self, ip: IpAddr, port: u16) -> Result<MediaSocket, BackendError> {
        let socket = media_socket(ip, port)?;
        self.stats.media_sockets_created += 1;
        let index = match self.free_media.pop() {
            Some(i) => i,
            None if self.media.len() < self.max_media => {
                self.media.push(None);
                (self.media.len() - 1) as MediaSocket
            }
            None => return Err(BackendError::MediaTableFull(self.max_media)),
        };
        if let Err(e) = self.epoll.add(&socket, TOKEN_MEDIA_BASE + index as u64) {
            self.free_media.push(index);
            return Err(BackendError::Io {
                op: "epoll_ctl(media)",
                source: e,
            });
        }
        self.media[index as usize] = Some(socket);
        Ok(index)
    }

    fn close_one(&mut self, index: MediaSocket) {
        if let Some(slot) = self.media.get_mut(index as usize)
            && let Some(socket) = slot.take()
        {
            let _ = self.epoll.delete(&socket);
            self.free_media.push(index);
        }
    }

    fn flush_media(&mut self) {
        let staged_len = self.outbox.len();
        let mut start = 0;
        // Runs of packets leaving the same socket go out in one sendmmsg.
        while start < staged_len {
            let socket = self.outbox.staged()[start].socket;
            let mut end = start + 1;
            while end < staged_len && self.outbox.staged()[end].socket == socket {
                end += 1;
            }
            if let Some(Some(udp)) = self.media.get(socket as usize) {
                let fd = udp.as_raw_fd();
                let sent = send_run(
                    fd,
                    &self.outbox,
                    start,
                    end,
                    &mut self.scratch,
                    &mut self.stats.send_errors,
                );
                self.stats.media_sent += sent as u64;
            }
            start = end;
        }
        self.outbox.clear();
    }
}

/// Sends outbox entries `start..end` (all from `fd`) with sendmmsg, in chunks of 64 without
/// allocating.
fn send_run(
    fd: i32,
    outbox: &Outbox,
    start: usize,
    end: usize,
    scratch: &mut SendScratch,
    errors: &mut u64,
) -> usize {
    const CHUNK: usize = 64;
    let mut sent = 0;
    let mut i = start;
    while i < end {
        let stop = (i + CHUNK).min(end);
        let mut items: [SendItem<'_>; CHUNK] = std::array::from_fn(|_| SendItem {
            to: SocketAddr::from(([0, 0, 0, 0], 0)),
            payload: &[],
        });
        for (k, index) in (i..stop).enumerate() {
            items[k] = SendItem {
                to: outbox.staged()[index].to,
                payload: outbox.payload(index),
            };
        }
        sent += uring_sys::sendmmsg(fd, &items[..stop - i], scratch, errors);
        i = stop;
    }
    sent
}

impl Backend for EpollBackend {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn media_pool(&mut self, start: u16, end: u16) {
        self.pool = PortTable::new(start, end);
    }

    fn open_media_pairs(
        &mut self,
        ip: IpAddr,
        rtp_ports: &[u16],
        max_sockets: usize,
    ) -> Result<MediaPorts, BackendError> {
        let mut opened = MediaPorts::default();
        let budget = max_sockets.min(self.max_media);
        for &port in rtp_ports {
            if !self.pool.covers(port, port.saturating_add(2)) || self.pool.is_open(port) {
                continue;
            }
            if self.media.len() - self.free_media.len() + 2 > budget {
                opened.over_budget += 1;
                continue;
            }
            match open_rtp_and_rtcp(
                self,
                |backend, which| backend.bind_one(ip, port + which),
                Self::close_one,
            ) {
                Ok(pair) => {
                    self.pool.insert(port, pair.rtp);
                    self.pool.insert(port + 1, pair.rtcp);
                    opened.rtp_ports.push(port);
                }
                Err(BackendError::MediaBind {
                    port: failed,
                    source,
                    ..
                }) => note_failed_pair(&mut opened, port, failed, &source),
                Err(error) => {
                    opened.refused += 1;
                    opened.first_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        Ok(opened)
    }

    fn open_media_pair(&mut self, ip: IpAddr, rtp_port: u16) -> Result<MediaPair, BackendError> {
        if self.pool.active() {
            let pair = self
                .pool
                .take(rtp_port)
                .ok_or(BackendError::MediaPortNotOpen(rtp_port))?;
            self.stats.pool_takes += 1;
            return Ok(pair);
        }
        open_rtp_and_rtcp(
            self,
            |backend, which| backend.bind_one(ip, rtp_port.wrapping_add(which)),
            Self::close_one,
        )
    }

    fn close_media_pair(&mut self, pair: MediaPair) {
        if self.pool.give_back(pair) {
            self.stats.pool_returns += 1;
            return;
        }
        self.stats.media_sockets_closed += 2;
        self.close_one(pair.rtp);
        self.close_one(pair.rtcp);
    }

    fn send_sip(&mut self, to: SocketAddr, payload: Vec<u8>) {
        self.sip_out.push((to, payload));
    }

    fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    fn wake_peer(&mut self, peer: usize) {
        note_peer_to_wake(&mut self.peers_to_wake, peer);
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if !self.sip_out.is_empty() {
            let fd = self.sip.as_raw_fd();
            for chunk in self.sip_out.chunks(64) {
                let items: Vec<SendItem<'_>> = chunk
                    .iter()
                    .map(|(to, p)| SendItem {
                        to: *to,
                        payload: p,
                    })
                    .collect();
                uring_sys::sendmmsg(fd, &items, &mut self.scratch, &mut self.stats.send_errors);
            }
            self.sip_out.clear();
        }
        self.flush_media();
        for peer in self.peers_to_wake.drain(..) {
            if let Some(target) = self.peers.get(peer) {
                uring_sys::eventfd_signal(target.eventfd);
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), BackendError> {
        self.epoll
            .wait(&mut self.events, timeout, &mut self.ready)
            .map_err(BackendError::io("epoll_wait"))
    }

    fn dispatch(
        &mut self,
        handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox),
    ) -> Result<(), BackendError> {
        let ready = std::mem::take(&mut self.ready);
        for &token in &ready {
            match token {
                TOKEN_WAKE => self.waker.clear(),
                TOKEN_SIP => {
                    for _ in 0..MAX_BATCHES_PER_SOCKET {
                        let n = match uring_sys::recvmmsg(self.sip.as_raw_fd(), &mut self.sip_batch)
                        {
                            Ok(n) => n,
                            // A pending socket error (e.g. ICMP-reported) is not fatal.
                            Err(error) => {
                                tracing::debug!(%error, "recvmmsg on the SIP socket");
                                break;
                            }
                        };
                        for i in 0..n {
                            if let Some((Some(from), payload, truncated)) = self.sip_batch.get(i) {
                                if truncated {
                                    self.stats.truncated += 1;
                                    continue;
                                }
                                self.stats.sip_received += 1;
                                handler(Incoming::Sip { from, payload }, &mut self.outbox);
                            }
                        }
                        if n < self.sip_batch.capacity() {
                            break;
                        }
                    }
                }
                media_token => {
                    let index = (media_token - TOKEN_MEDIA_BASE) as MediaSocket;
                    for _ in 0..MAX_BATCHES_PER_SOCKET {
                        // Closed earlier in this very turn: its packets are not relayed.
                        let Some(Some(udp)) = self.media.get(index as usize) else {
                            break;
                        };
                        let n = match uring_sys::recvmmsg(udp.as_raw_fd(), &mut self.media_batch) {
                            Ok(n) => n,
                            // ICMP errors surface here (ECONNREFUSED...): not fatal.
                            Err(_) => break,
                        };
                        for i in 0..n {
                            if let Some((Some(from), payload, truncated)) = self.media_batch.get(i)
                            {
                                if truncated {
                                    self.stats.truncated += 1;
                                    continue;
                                }
                                self.stats.media_received += 1;
                                handler(
                                    Incoming::Media {
                                        socket: index,
                                        from,
                                        payload,
                                    },
                                    &mut self.outbox,
                                );
                            }
                        }
                        if self.outbox.wants_flush() {
                            self.flush_media();
                        }
                        if n < self.media_batch.capacity() {
                            break;
                        }
                    }
                }
            }
        }
        self.ready = ready;
        self.ready.clear();
        Ok(())
    }

    fn shut_down(&mut self) {
        // The media sockets are closed here, in the shard's thread (shards in parallel),
        // rather than one after another when the process drops its backends.
        // (A closed descriptor leaves the epoll set by itself.)
        self.media.clear();
        self.free_media.clear();
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
