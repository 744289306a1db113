//! The io_uring backend (primary).
//!
//! - Receive: one multishot RECVMSG per socket, drawing from a provided-buffer ring (one ring for
//!   SIP, one for media). A multishot that ends (no IORING_CQE_F_MORE, e.g. on ENOBUFS when the
//!   ring ran dry) is re-armed in the same turn, after its buffers went back to the ring.
//! - Send: IORING_OP_SEND with a destination address (no per-packet msghdr import, unlike
//!   SENDMSG), on registered files, one submission per flush for the whole batch.
//! - Files: the SIP socket is registered at slot 0. Media sockets are io_uring *direct
//!   descriptors*: IORING_OP_SOCKET into a slot of the registered-file table, then IORING_OP_BIND
//!   on that fixed slot (kernel >= 6.11). They never enter the process fd table, so they do not
//!   count against RLIMIT_NOFILE (stuck at 20,000 on this host); the table itself is capped by
//!   that limit per ring, i.e. per shard.
//! - Wakeups: another shard posts IORING_OP_MSG_RING to this ring (once per batch); the control
//!   thread writes the shard's eventfd, watched by a multishot POLL_ADD.
//!
//! This file and `uring_sys.rs` are the only places with `unsafe`.

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{
    BufRingEntry, CancelBuilder, DestinationSlot, Fd, Fixed, RecvMsgOut, SubmitArgs, Timespec,
};
use io_uring::{IoUring, Probe, cqueue, opcode, squeue};

use super::backend::{
    Backend, BackendError, BackendStats, Incoming, MediaPair, Outbox, ShardWaker, WakeTarget,
    note_peer_to_wake, open_rtp_and_rtcp,
};
use super::epoll::sip_socket;
use super::uring_sys::{self, MEDIA_BUF_LEN};

const KIND_SHIFT: u64 = 56;
const KIND_SIP_RECV: u64 = 1;
const KIND_MEDIA_RECV: u64 = 2;
const KIND_SEND: u64 = 3;
const KIND_WAKE_POLL: u64 = 4;
const KIND_MSG_RING: u64 = 5;
const KIND_SOCKET: u64 = 6;
const KIND_BIND: u64 = 7;
const KIND_MISC: u64 = 8;
/// The close of a media slot completed: only now may the slot be reused.
const KIND_CLOSED: u64 = 9;

const SIP_FILE: u32 = 0;
const MEDIA_FILE_BASE: u32 = 1;

const SIP_BGID: u16 = 0;
const MEDIA_BGID: u16 = 1;
const SIP_BUFS: u16 = 64;
const SIP_BUF_LEN: usize = 16 * 1024;
const MEDIA_BUFS: u16 = 4096;

const OUTBOX_CAPACITY: usize = 1024;
const SIP_SEND_SLOTS: usize = 128;
const RING_ENTRIES: u32 = 4096;
const CQ_ENTRIES: u32 = 32768;

/// Room for the source address in a multishot recvmsg buffer (sockaddr_in6 covers both).
const NAME_LEN: u32 = mem::size_of::<libc::sockaddr_in6>() as u32;

fn user_data(kind: u64, value: u64) -> u64 {
    (kind << KIND_SHIFT) | (value & ((1 << KIND_SHIFT) - 1))
}

fn media_user_data(generation: u32, index: u32) -> u64 {
    user_data(
        KIND_MEDIA_RECV,
        ((generation as u64 & 0xff_ffff) << 32) | index as u64,
    )
}

/// A provided-buffer ring: `entries` buffers of `buf_len` bytes the kernel picks from.
struct BufRing {
    ring: *mut BufRingEntry,
    ring_bytes: usize,
    buffers: Box<[u8]>,
    buf_len: usize,
    entries: u16,
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring, entries: u16, buf_len: usize, bgid: u16) -> io::Result<BufRing> {
        let ring_bytes = entries as usize * mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous private mapping, page aligned as the kernel requires; checked below.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = BufRing {
            ring: mem.cast(),
            ring_bytes,
            buffers: vec![0u8; entries as usize * buf_len].into_boxed_slice(),
            buf_len,
            entries,
            tail: 0,
        };
        // SAFETY: the mapping lives until `Drop`, which runs after the backend unregistered the
        // group (see `UringBackend::drop`); `entries` is a power of two.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(mem as u64, entries, bgid, 0)?;
        }
        for bid in 0..entries {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Puts buffer `bid` back at the tail (visible to the kernel after `publish`).
    fn push(&mut self, bid: u16) {
        let index = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: index < entries, inside the mapping; the kernel only reads entries between its
        // head and the published tail, and this one is beyond the published tail.
        let entry = unsafe { &mut *self.ring.add(index) };
        let start = bid as usize * self.buf_len;
        entry.set_addr(self.buffers[start..].as_ptr() as u64);
        entry.set_len(self.buf_len as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays entry 0's `resv` inside the live mapping; the kernel
        // reads it with acquire semantics, so a release store publishes the entries written.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.buf_len;
        let len = len.min(self.buf_len);
        self.buffers.get(start..start + len).unwrap_or(&[])
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`, after the group was unregistered.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_bytes);
        }
    }
}

#[derive(Clone, Copy, Default)]
struct MediaSlot {
    open: bool,
    generation: u32,
}

/// Stable memory for in-flight sends: the kernel reads the destination address until the
/// completion arrives, so each lives in a boxed slice that never moves. (The payload stays in
/// the outbox, or in `sip_inflight`, until then too.)
struct SendSlots {
    addrs: Box<[libc::sockaddr_storage]>,
}

impl SendSlots {
    fn new(n: usize) -> SendSlots {
        SendSlots {
            // SAFETY: all-zero is a valid sockaddr_storage.
            addrs: vec![unsafe { mem::zeroed::<libc::sockaddr_storage>() }; n].into_boxed_slice(),
        }
    }

    /// IORING_OP_SEND with a destination address (kernel >= 6.0): unlike SENDMSG, the kernel
    /// imports no msghdr/iovec per packet.
    fn send(&mut self, i: usize, fd: Fixed, to: &SocketAddr, payload: &[u8]) -> squeue::Entry {
        let name_len = uring_sys::write_sockaddr(to, &mut self.addrs[i]);
        opcode::Send::new(fd, payload.as_ptr(), payload.len() as u32)
            .dest_addr((&self.addrs[i] as *const libc::sockaddr_storage).cast())
            .dest_addr_len(name_len)
            .build()
            .user_data(user_data(KIND_SEND, i as u64))
    }
}

#[derive(Clone, Copy)]
struct Cqe {
    user_data: u64,
    result: i32,
    flags: u32,
}

pub struct UringBackend {
    ring: IoUring,
    _sip: UdpSocket,
    sip_addr: Option<SocketAddr>,
    waker: Arc<ShardWaker>,
    peers: Arc<[WakeTarget]>,
    peers_to_wake: Vec<usize>,
    sip_bufs: BufRing,
    media_bufs: BufRing,
    /// Template for multishot RECVMSG: only msg_namelen/msg_controllen matter; kept alive.
    recv_msghdr: Box<libc::msghdr>,
    media: Vec<MediaSlot>,
    /// Slots whose close completed, reused oldest first.
    free_media: VecDeque<u32>,
    /// Media socket closes queued or submitted whose completion has not been reaped: their
    /// ports may still be bound.
    closes_in_flight: u32,
    max_media: usize,
    bind_addrs: Box<[libc::sockaddr_storage; 2]>,
    send_slots: SendSlots,
    sip_out: Vec<(SocketAddr, Vec<u8>)>,
    sip_inflight: Vec<Vec<u8>>,
    outbox: Outbox,
    inflight_sends: usize,
    cqes: Vec<Cqe>,
    cursor: usize,
    sip_armed: bool,
    wake_armed: bool,
    stats: BackendStats,
}

// SAFETY: the raw pointers (buffer ring mapping, msghdr templates) point into memory owned by
// this struct; the backend is built on one thread and then used by exactly one shard thread.
unsafe impl Send for UringBackend {}

impl UringBackend {
    /// Sets up the ring, the buffer rings, the file table and the SIP socket. Any failure is an
    /// error naming the cause; there is no silent fallback to epoll.
    pub fn new(
        listen: SocketAddr,
        waker: Arc<ShardWaker>,
        max_media: usize,
    ) -> Result<UringBackend, BackendError> {
        let ring = IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .setup_submit_all()
            .setup_coop_taskrun()
            .build(RING_ENTRIES)
            .map_err(BackendError::UringUnavailable)?;
        if !ring.params().is_feature_ext_arg() {
            return Err(BackendError::UringFeatureMissing(
                "IORING_FEAT_EXT_ARG (kernel >= 5.11)",
            ));
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(BackendError::UringUnavailable)?;
        for (code, name) in [
            (opcode::RecvMsg::CODE, "IORING_OP_RECVMSG"),
            (opcode::Send::CODE, "IORING_OP_SEND"),
            (opcode::Socket::CODE, "IORING_OP_SOCKET (kernel >= 5.19)"),
            (opcode::Bind::CODE, "IORING_OP_BIND (kernel >= 6.11)"),
            (
                opcode::MsgRingData::CODE,
                "IORING_OP_MSG_RING (kernel >= 5.18)",
            ),
            (opcode::Close::CODE, "IORING_OP_CLOSE"),
        ] {
            if !probe.is_supported(code) {
                return Err(BackendError::UringFeatureMissing(name));
            }
        }
        // The registered-file table is capped by RLIMIT_NOFILE per ring (kernel rule), even
        // though direct descriptors do not count against the fd limit itself.
        let table = (MEDIA_FILE_BASE as usize + max_media).min(nofile_limit());
        let max_media = table.saturating_sub(MEDIA_FILE_BASE as usize);
        ring.submitter()
            .register_files_sparse(table as u32)
            .map_err(BackendError::io("io_uring_register(files)"))?;
        let sip = sip_socket(listen, false)?;
        ring.submitter()
            .register_files_update(SIP_FILE, &[sip.as_raw_fd()])
            .map_err(BackendError::io("io_uring_register(files_update)"))?;
        let sip_bufs = BufRing::new(&ring, SIP_BUFS, SIP_BUF_LEN, SIP_BGID)
            .map_err(BackendError::io("io_uring_register(pbuf_ring sip)"))?;
        let media_bufs = BufRing::new(&ring, MEDIA_BUFS, MEDIA_BUF_LEN, MEDIA_BGID)
            .map_err(BackendError::io("io_uring_register(pbuf_ring media)"))?;
        // SAFETY: all-zero is a valid msghdr.
        let mut recv_msghdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
        recv_msghdr.msg_namelen = NAME_LEN;
        let sip_addr = sip.local_addr().ok();
        let mut backend = UringBackend {
            ring,
            _sip: sip,
            sip_addr,
            waker,
            peers: Arc::from(Vec::new()),
            peers_to_wake: Vec::new(),
            sip_bufs,
            media_bufs,
            recv_msghdr,
            media: Vec::new(),
            free_media: VecDeque::new(),
            closes_in_flight: 0,
            max_media,
            // SAFETY: all-zero is a valid sockaddr_storage.
            bind_addrs: Box::new(unsafe { mem::zeroed() }),
            send_slots: SendSlots::new(OUTBOX_CAPACITY + SIP_SEND_SLOTS),
            sip_out: Vec::with_capacity(SIP_SEND_SLOTS),
            sip_inflight: Vec::with_capacity(SIP_SEND_SLOTS),
            outbox: Outbox::new(OUTBOX_CAPACITY),
            inflight_sends: 0,
            cqes: Vec::with_capacity(CQ_ENTRIES as usize),
            cursor: 0,
            sip_armed: false,
            wake_armed: false,
            stats: BackendStats::default(),
        };
        backend.arm_sip();
        backend.arm_wake();
        backend
            .ring
            .submit()
            .map_err(BackendError::io("io_uring_enter"))?;
        Ok(backend)
    }

    pub fn set_peers(&mut self, peers: Arc<[WakeTarget]>) {
        self.peers = peers;
    }

    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    pub fn local_sip_addr(&self) -> Option<SocketAddr> {
        self.sip_addr
    }

    /// Pushes one SQE, submitting first if the queue is full (and reaping if the completion
    /// queue is what holds the kernel back).
    fn push(&mut self, entry: squeue::Entry) {
        for _ in 0..64 {
            // SAFETY: every pointer an entry carries (msghdr, iovec, address, buffers) points
            // into memory owned by `self` that stays put until the matching completion.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    self.reap()
                }
                Err(e) => {
                    tracing::error!(error = %e, "io_uring submit failed while the queue was full");
                    return;
                }
            }
        }
        tracing::error!("io_uring submission queue stayed full; operation dropped");
    }

    fn arm_sip(&mut self) {
        let entry = opcode::RecvMsgMulti::new(Fixed(SIP_FILE), &*self.recv_msghdr, SIP_BGID)
            .build()
            .user_data(user_data(KIND_SIP_RECV, 0));
        self.push(entry);
        self.sip_armed = true;
    }

    fn arm_media(&mut self, index: u32) {
        let Some(slot) = self.media.get(index as usize).copied() else {
            return;
        };
        let entry = opcode::RecvMsgMulti::new(
            Fixed(MEDIA_FILE_BASE + index),
            &*self.recv_msghdr,
            MEDIA_BGID,
        )
        .build()
        .user_data(media_user_data(slot.generation, index));
        self.push(entry);
    }

    fn arm_wake(&mut self) {
        let entry = opcode::PollAdd::new(Fd(self.waker.raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data(KIND_WAKE_POLL, 0));
        self.push(entry);
        self.wake_armed = true;
    }

    /// Moves every available completion into `self.cqes` (processed by `dispatch`), counting
    /// finished sends on the way.
    fn reap(&mut self) {
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let ud = cqe.user_data();
            if ud >> KIND_SHIFT == KIND_CLOSED {
                // Reusing the slot before this point would race the close (it runs after the
                // linked cancel, possibly later than SQEs submitted behind it).
                self.free_media.push_back((ud & 0xffff_ffff) as u32);
                self.closes_in_flight = self.closes_in_flight.saturating_sub(1);
                continue;
            }
            if ud >> KIND_SHIFT == KIND_SEND {
                self.inflight_sends = self.inflight_sends.saturating_sub(1);
                if cqe.result() < 0 {
                    self.stats.send_errors += 1;
                } else if (ud & 0xffff_ffff) < OUTBOX_CAPACITY as u64 {
                    self.stats.media_sent += 1;
                }
                continue;
            }
            self.cqes.push(Cqe {
                user_data: ud,
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }

    /// Submits the queued sends and waits until the kernel is done with their memory.
    fn submit_sends(&mut self) -> Result<(), BackendError> {
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter(send)"))?;
        self.reap();
        while self.inflight_sends > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(BackendError::io("io_uring_enter(wait send)")(e)),
            }
            self.reap();
        }
        Ok(())
    }

    fn stage_media_sends(&mut self) {
        for i in 0..self.outbox.len() {
            let staged = self.outbox.staged()[i];
            if !self
                .media
                .get(staged.socket as usize)
                .is_some_and(|s| s.open)
            {
                continue;
            }
            let payload = self.outbox.payload(i);
            let entry = self.send_slots.send(
                i,
                Fixed(MEDIA_FILE_BASE + staged.socket),
                &staged.to,
                payload,
            );
            self.push(entry);
            self.inflight_sends += 1;
        }
    }

    fn flush_media(&mut self) -> Result<(), BackendError> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        self.stage_media_sends();
        let result = self.submit_sends();
        self.outbox.clear();
        result
    }

    /// Opens one direct-descriptor UDP socket bound on `addr`, with its multishot receive armed.
    /// A port whose previous socket is still being closed (a leg moved away and straight back,
    /// e.g. a cancelled transfer target) is busy until that close completes: on EADDRINUSE with
    /// closes in flight, they are waited for and the bind is tried once more.
    fn open_one(&mut self, addr: SocketAddr, which: usize) -> Result<u32, BackendError> {
        match self.try_open_one(addr, which) {
            Err(BackendError::MediaBind { source, .. })
                if source.raw_os_error() == Some(libc::EADDRINUSE) && self.closes_in_flight > 0 =>
            {
                self.wait_for_closes()?;
                self.try_open_one(addr, which)
            }
            other => other,
        }
    }

    /// Submits the queued closes and waits until every close in flight has completed.
    fn wait_for_closes(&mut self) -> Result<(), BackendError> {
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter(close)"))?;
        self.reap();
        while self.closes_in_flight > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(BackendError::io("io_uring_enter(wait close)")(e)),
            }
            self.reap();
        }
        Ok(())
    }

    fn try_open_one(&mut self, addr: SocketAddr, which: usize) -> Result<u32, BackendError> {
        if self.free_media.is_empty() && self.media.len() >= self.max_media {
            // Closes may have completed since the last turn.
            let _ = self.ring.submit();
            self.reap();
        }
        let index = match self.free_media.pop_front() {
            Some(i) => i,
            None if self.media.len() < self.max_media => {
                self.media.push(MediaSlot::default());
                (self.media.len() - 1) as u32
            }
            None => return Err(BackendError::MediaTableFull(self.max_media)),
        };
        let file = MEDIA_FILE_BASE + index;
        let Ok(dest) = DestinationSlot::try_from_slot_target(file) else {
            self.free_media.push_back(index);
            return Err(BackendError::MediaTableFull(self.max_media));
        };
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let name_len = uring_sys::write_sockaddr(&addr, &mut self.bind_addrs[which]);
        let bind_ptr = (&self.bind_addrs[which] as *const libc::sockaddr_storage).cast();
        let socket = opcode::Socket::new(domain, libc::SOCK_DGRAM, libc::IPPROTO_UDP)
            .file_index(Some(dest))
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(user_data(KIND_SOCKET, index as u64));
        let bind = opcode::Bind::new(Fixed(file), bind_ptr, name_len)
            .build()
            .user_data(user_data(KIND_BIND, index as u64));
        self.push(socket);
        self.push(bind);
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter(socket)"))?;
        // Wait for both completions (they are usually posted inline by the submit).
        let mut socket_result = None;
        let mut bind_result = None;
        let already = self.cqes.len();
        while socket_result.is_none() || bind_result.is_none() {
            self.reap();
            let mut i = already;
            while i < self.cqes.len() {
                let c = self.cqes[i];
                let kind = c.user_data >> KIND_SHIFT;
                let ours = (c.user_data & 0xffff_ffff) == index as u64;
                if ours && kind == KIND_SOCKET {
                    socket_result = Some(c.result);
                    self.cqes.remove(i);
                } else if ours && kind == KIND_BIND {
                    bind_result = Some(c.result);
                    self.cqes.remove(i);
                } else {
                    i += 1;
                }
            }
            if socket_result.is_none() || bind_result.is_none() {
                match self.ring.submit_and_wait(1) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                    Err(e) => return Err(BackendError::io("io_uring_enter(wait socket)")(e)),
                }
            }
        }
        let fail = |code: i32| BackendError::MediaBind {
            ip: addr.ip(),
            port: addr.port(),
            source: io::Error::from_raw_os_error(-code),
        };
        match (socket_result, bind_result) {
            (Some(s), Some(b)) if s >= 0 && b >= 0 => {
                let slot = &mut self.media[index as usize];
                slot.open = true;
                slot.generation = slot.generation.wrapping_add(1) & 0xff_ffff;
                self.arm_media(index);
                Ok(index)
            }
            (Some(s), _) if s < 0 => {
                self.free_media.push_back(index);
                Err(fail(s))
            }
            (_, b) => {
                // The socket exists in the slot but could not bind: close it.
                self.push(
                    opcode::Close::new(Fixed(file))
                        .build()
                        .user_data(user_data(KIND_CLOSED, index as u64)),
                );
                self.closes_in_flight += 1;
                Err(fail(b.unwrap_or(-libc::EIO)))
            }
        }
    }

    fn close_one(&mut self, index: u32) {
        let Some(slot) = self.media.get_mut(index as usize) else {
            return;
        };
        if !slot.open {
            return;
        }
        slot.open = false;
        let armed = media_user_data(slot.generation, index);
        // Bump the generation so completions still queued for the old socket are ignored.
        slot.generation = slot.generation.wrapping_add(1) & 0xff_ffff;
        // Cancel the multishot (it holds its own file reference), then drop the slot. Hard
        // link: close even if the receive had already ended and the cancel finds nothing.
        self.push(
            opcode::AsyncCancel::new(armed)
                .build()
                .flags(squeue::Flags::IO_HARDLINK)
                .user_data(user_data(KIND_MISC, 1)),
        );
        self.push(
            opcode::Close::new(Fixed(MEDIA_FILE_BASE + index))
                .build()
                .user_data(user_data(KIND_CLOSED, index as u64)),
        );
        self.closes_in_flight += 1;
    }

    fn handle_sip_cqe(&mut self, c: Cqe, handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox)) {
        if c.result >= 0
            && let Some(bid) = cqueue::buffer_select(c.flags)
        {
            let buf = self.sip_bufs.buffer(bid, c.result as usize);
            match RecvMsgOut::parse(buf, &self.recv_msghdr) {
                Ok(msg) if !msg.is_payload_truncated() => {
                    let name = msg.name_data();
                    if let Some(from) = uring_sys::read_sockaddr_bytes(name, name.len()) {
                        self.stats.sip_received += 1;
                        handler(
                            Incoming::Sip {
                                from,
                                payload: msg.payload_data(),
                            },
                            &mut self.outbox,
                        );
                    }
                }
                _ => self.stats.truncated += 1,
            }
            self.sip_bufs.push(bid);
            self.sip_bufs.publish();
        }
        if !cqueue::more(c.flags) {
            if c.result == -libc::ENOBUFS {
                self.stats.rearmed_enobufs += 1;
            }
            self.sip_armed = false;
        }
    }

    fn handle_media_cqe(&mut self, c: Cqe, handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox)) {
        let index = (c.user_data & 0xffff_ffff) as u32;
        let generation = ((c.user_data >> 32) & 0xff_ffff) as u32;
        let live = self
            .media
            .get(index as usize)
            .is_some_and(|s| s.open && s.generation == generation);
        if c.result >= 0
            && let Some(bid) = cqueue::buffer_select(c.flags)
        {
            if live {
                let buf = self.media_bufs.buffer(bid, c.result as usize);
                match RecvMsgOut::parse(buf, &self.recv_msghdr) {
                    Ok(msg) if !msg.is_payload_truncated() => {
                        let name = msg.name_data();
                        if let Some(from) = uring_sys::read_sockaddr_bytes(name, name.len()) {
                            self.stats.media_received += 1;
                            handler(
                                Incoming::Media {
                                    socket: index,
                                    from,
                                    payload: msg.payload_data(),
                                },
                                &mut self.outbox,
                            );
                        }
                    }
                    _ => self.stats.truncated += 1,
                }
            }
            self.media_bufs.push(bid);
            self.media_bufs.publish();
        }
        if !cqueue::more(c.flags) && live {
            if c.result == -libc::ENOBUFS {
                self.stats.rearmed_enobufs += 1;
            }
            self.arm_media(index);
        }
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        // Tear down synchronously, so the SIP and media ports are free when the process exits.
        // Left to the kernel, ring teardown runs later in a worker that still holds the armed
        // receives' file references, and a handoff restarted at once finds its SIP port "already
        // in use" for up to a second. Cancel every in-flight request (each holds a file
        // reference), then drop the file table.
        let cancelled = self.ring.submitter().register_sync_cancel(
            Some(Timespec::new().nsec(200_000_000)),
            CancelBuilder::any(),
        );
        if cancelled.is_err() {
            // Before Linux 6.0: the asynchronous form, and wait for its completion.
            self.push(
                opcode::AsyncCancel2::new(CancelBuilder::any())
                    .build()
                    .user_data(user_data(KIND_MISC, 2)),
            );
            let _ = self.ring.submit_and_wait(1);
        }
        let _ = self.ring.submitter().unregister_files();
        // The buffer memory must not be freed while the kernel may still pick from it.
        let _ = self.ring.submitter().unregister_buf_ring(SIP_BGID);
        let _ = self.ring.submitter().unregister_buf_ring(MEDIA_BGID);
    }
}

fn nofile_limit() -> usize {
    // SAFETY: all-zero is a valid rlimit; getrlimit writes into it.
    let mut lim: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: valid pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur.min(1 << 20) as usize
}

impl Backend for UringBackend {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn open_media_pair(&mut self, ip: IpAddr, rtp_port: u16) -> Result<MediaPair, BackendError> {
        open_rtp_and_rtcp(
            self,
            |backend, which| {
                let addr = SocketAddr::new(ip, rtp_port.wrapping_add(which));
                backend.open_one(addr, usize::from(which))
            },
            Self::close_one,
        )
    }

    fn close_media_pair(&mut self, pair: MediaPair) {
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
        let mut sip_out = mem::take(&mut self.sip_out);
        for chunk in sip_out.chunks_mut(SIP_SEND_SLOTS) {
            for (to, payload) in chunk.iter_mut() {
                let slot = OUTBOX_CAPACITY + self.sip_inflight.len();
                let owned = mem::take(payload);
                let entry = self.send_slots.send(slot, Fixed(SIP_FILE), to, &owned);
                // The Vec's heap buffer does not move when the Vec does.
                self.sip_inflight.push(owned);
                self.push(entry);
                self.inflight_sends += 1;
            }
            self.stage_media_sends();
            self.outbox.clear();
            self.submit_sends()?;
            self.sip_inflight.clear();
        }
        sip_out.clear();
        self.sip_out = sip_out;
        self.flush_media()?;
        if !self.peers_to_wake.is_empty() {
            for i in 0..self.peers_to_wake.len() {
                let peer = self.peers_to_wake[i];
                if let Some(ring_fd) = self.peers.get(peer).and_then(|t| t.ring_fd) {
                    let entry =
                        opcode::MsgRingData::new(Fd(ring_fd), 0, user_data(KIND_MSG_RING, 0), None)
                            .build()
                            .flags(squeue::Flags::SKIP_SUCCESS)
                            .user_data(user_data(KIND_MISC, 3));
                    self.push(entry);
                } else if let Some(target) = self.peers.get(peer) {
                    uring_sys::eventfd_signal(target.eventfd);
                }
            }
            self.peers_to_wake.clear();
        }
        if !self.sip_armed {
            self.arm_sip();
        }
        if !self.wake_armed {
            self.arm_wake();
        }
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter"))?;
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), BackendError> {
        self.reap();
        if self.cursor < self.cqes.len() {
            return Ok(());
        }
        let result = match timeout {
            Some(d) => {
                let ts = Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos());
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(BackendError::io("io_uring_enter(wait)")(e)),
        }
        self.reap();
        Ok(())
    }

    fn dispatch(
        &mut self,
        handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox),
    ) -> Result<(), BackendError> {
        self.reap();
        while self.cursor < self.cqes.len() {
            let c = self.cqes[self.cursor];
            self.cursor += 1;
            match c.user_data >> KIND_SHIFT {
                KIND_SIP_RECV => self.handle_sip_cqe(c, handler),
                KIND_MEDIA_RECV => {
                    self.handle_media_cqe(c, handler);
                    if self.outbox.wants_flush() {
                        self.flush_media()?;
                    }
                }
                KIND_WAKE_POLL => {
                    self.waker.clear();
                    if !cqueue::more(c.flags) {
                        self.wake_armed = false;
                    }
                }
                KIND_MISC if c.result < 0 && c.result != -libc::ENOENT => {
                    tracing::debug!(result = c.result, ud = c.user_data, "io_uring op failed");
                }
                // MSG_RING arrivals only exist to wake us; sockets/binds are awaited inline.
                _ => {}
            }
        }
        self.cqes.clear();
        self.cursor = 0;
        if !self.sip_armed {
            self.arm_sip();
        }
        if !self.wake_armed {
            self.arm_wake();
        }
        Ok(())
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
