//! The io_uring backend (primary).
//!
//! It runs from Linux 5.15: [`UringBackend::new`] asks the kernel at start-up what it offers
//! and each feature missing has an older form (the fast path is the full-feature column):
//!
//! | feature (kernel) | full-feature path | where it is missing |
//! | --- | --- | --- |
//! | `submit_all` (5.18), `coop_taskrun` (5.19) | ring set-up flags | the ring is set up without them (retried on EINVAL) |
//! | `sparse_files` (5.19) | `register_files_sparse` | `register_files` with every slot -1 |
//! | `socket` (5.19), `bind` (6.11) | IORING_OP_SOCKET into a file slot, then IORING_OP_BIND on it | socket(2) + bind(2) (std), registered into the slot with `register_files_update`, then the process fd is closed |
//! | `buf_ring` (5.19), `multishot` (6.0; probed by a trial arm) | one multishot RECVMSG per socket drawing from a provided-buffer ring | one single-shot RECVMSG per media socket (16 on the SIP socket), each into its own buffer and msghdr, re-armed after each completion |
//! | `send_addr` (6.0) | IORING_OP_SEND with a destination address | IORING_OP_SENDMSG with a msghdr per send slot |
//! | `msg_ring` (5.18) | IORING_OP_MSG_RING to the peer's ring | the peer's eventfd (watched by its multishot POLL_ADD) |
//! | `sync_cancel` (6.0) | `register_sync_cancel(any)` at teardown | one IORING_OP_ASYNC_CANCEL per armed request, awaited |
//!
//! Without buffer rings, receives are single-shot into per-socket buffers rather than legacy
//! IORING_OP_PROVIDE_BUFFERS: a socket has at most one receive in flight, so its own buffer is
//! always exactly what that receive needs (no group to refill with an SQE per packet, no
//! ENOBUFS), at one MEDIA_BUF_LEN per open socket. `HANDOFF_URING_WITHOUT=socket,bind,...`
//! (or `all`) makes the probe report features as missing, so tests run every older form on a
//! new kernel.
//!
//! - Receive: one multishot RECVMSG per socket, drawing from a provided-buffer ring (one ring for
//!   SIP, one for media). A multishot that ends (no IORING_CQE_F_MORE, e.g. on ENOBUFS when the
//!   ring ran dry) is re-armed in the same turn, after its buffers went back to the ring.
//! - Send: IORING_OP_SEND with a destination address (no per-packet msghdr import, unlike
//!   SENDMSG), on registered files, one submission per flush for the whole batch.
//! - Files: the SIP socket is an ordinary descriptor, outside the registered-file table (whose
//!   every slot goes to media: see [`MEDIA_FILE_BASE`]). Media sockets are io_uring *direct
//!   descriptors*: IORING_OP_SOCKET into a slot of the registered-file table, then IORING_OP_BIND
//!   on that fixed slot (kernel >= 6.11). Every pair of the shard's port slice is opened once, at
//!   start-up ([`Backend::open_media_ports`]: 512 pairs per submission, receives armed), and kept
//!   until the backend drops; a call takes a pair from the [`PortTable`] and gives it back, with
//!   no SQE at all (the per-call open/close below remains for backends without a pool: tests,
//!   benches). They never enter the process fd table, so they do not
//!   count against RLIMIT_NOFILE (stuck at 20,000 on this host); the table itself is capped by
//!   that limit per ring, i.e. per shard. (The older form passes through the fd table for the
//!   time of one registration.)
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
    Backend, BackendError, BackendStats, Incoming, MediaPair, MediaPorts, Outbox, PortTable,
    ShardWaker, WakeTarget, note_failed_pair, note_peer_to_wake, open_rtp_and_rtcp,
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

/// Media sockets fill the registered-file table from slot 0. The SIP socket is not in it: the
/// kernel caps a ring's table at RLIMIT_NOFILE, and a slot of its own would cost the shard a
/// media socket (4,999 calls per shard instead of 5,000 at a limit of 20,000). It is used by its
/// descriptor instead, which costs the kernel a file reference per SIP operation.
const MEDIA_FILE_BASE: u32 = 0;

/// The file an SQE names: a registered slot (media) or an ordinary descriptor (SIP).
#[derive(Clone, Copy)]
enum SockFile {
    Fixed(u32),
    Fd(RawFd),
}

/// Builds `$entry` with `$f` bound to the file as the io_uring crate's `Fixed` or `Fd` (its
/// opcodes take either through a sealed trait, which code outside the crate cannot name).
macro_rules! on_file {
    ($file:expr, $f:ident => $entry:expr) => {
        match $file {
            SockFile::Fixed(slot) => {
                let $f = Fixed(slot);
                $entry
            }
            SockFile::Fd(fd) => {
                let $f = Fd(fd);
                $entry
            }
        }
    };
}

const SIP_BGID: u16 = 0;
const MEDIA_BGID: u16 = 1;
const SIP_BUFS: u16 = 64;
const SIP_BUF_LEN: usize = 16 * 1024;
/// Single-shot receives (the older form): how many are kept in flight on the SIP socket, so a
/// loop turn can take a burst of requests, as a multishot receive does.
const SIP_SINGLE_SHOTS: usize = 16;
const MEDIA_BUFS: u16 = 4096;

const OUTBOX_CAPACITY: usize = 1024;
/// Port pairs opened per submission at start-up ([`Backend::open_media_ports`]): 2 sockets
/// each, IORING_OP_SOCKET + IORING_OP_BIND per socket, so 2,048 SQEs (half the ring). The older
/// form passes this many sockets through the process fd table at once.
const PREOPEN_PAIRS: usize = 512;
const SIP_SEND_SLOTS: usize = 128;
const RING_ENTRIES: u32 = 4096;
const CQ_ENTRIES: u32 = 32768;

/// Room for the source address in a multishot recvmsg buffer (sockaddr_in6 covers both).
const NAME_LEN: u32 = mem::size_of::<libc::sockaddr_in6>() as u32;

/// The environment variable that makes the probe in [`UringBackend::new`] report features as
/// missing (comma-separated names from [`UringFeatures::NAMES`], or `all`): tests run the older
/// forms on a kernel that has everything.
pub const WITHOUT_ENV: &str = "HANDOFF_URING_WITHOUT";

/// What the running kernel's io_uring offers beyond the 5.15 baseline, probed at start-up
/// (opcode probe, set-up flags retried, a register call, a trial multishot arm), narrowed by
/// [`WITHOUT_ENV`]. Each missing feature has an older form (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringFeatures {
    /// IORING_OP_SOCKET (5.19).
    pub socket: bool,
    /// IORING_OP_BIND (6.11).
    pub bind: bool,
    /// Multishot IORING_OP_RECVMSG (6.0). Tried only where buffer rings work (a multishot
    /// receive draws from one); without them it is not reported missing.
    pub multishot: bool,
    /// Provided-buffer rings, IORING_REGISTER_PBUF_RING (5.19).
    pub buf_ring: bool,
    /// IORING_OP_SEND with a destination address (6.0).
    pub send_addr: bool,
    /// IORING_OP_MSG_RING (5.18).
    pub msg_ring: bool,
    /// IORING_SETUP_SUBMIT_ALL (5.18).
    pub submit_all: bool,
    /// IORING_SETUP_COOP_TASKRUN (5.19).
    pub coop_taskrun: bool,
    /// Sparse file registration, IORING_RSRC_REGISTER_SPARSE (5.19).
    pub sparse_files: bool,
    /// IORING_REGISTER_SYNC_CANCEL (6.0), used at teardown.
    pub sync_cancel: bool,
}

impl UringFeatures {
    /// The names [`WITHOUT_ENV`] accepts, in the order the log lists them.
    pub const NAMES: [&'static str; 10] = [
        "socket",
        "bind",
        "multishot",
        "buf_ring",
        "send_addr",
        "msg_ring",
        "submit_all",
        "coop_taskrun",
        "sparse_files",
        "sync_cancel",
    ];

    /// Every feature present (what the probe starts from).
    pub const ALL: UringFeatures = UringFeatures {
        socket: true,
        bind: true,
        multishot: true,
        buf_ring: true,
        send_addr: true,
        msg_ring: true,
        submit_all: true,
        coop_taskrun: true,
        sparse_files: true,
        sync_cancel: true,
    };

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "socket" => &mut self.socket,
            "bind" => &mut self.bind,
            "multishot" => &mut self.multishot,
            "buf_ring" => &mut self.buf_ring,
            "send_addr" => &mut self.send_addr,
            "msg_ring" => &mut self.msg_ring,
            "submit_all" => &mut self.submit_all,
            "coop_taskrun" => &mut self.coop_taskrun,
            "sparse_files" => &mut self.sparse_files,
            "sync_cancel" => &mut self.sync_cancel,
            _ => return None,
        })
    }

    /// The features a `without` list leaves (`ALL` minus those named; `all` names every one).
    /// Unknown names are returned apart, for the caller to report.
    pub fn without(list: &str) -> (UringFeatures, Vec<String>) {
        let mut features = UringFeatures::ALL;
        let mut unknown = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                for n in Self::NAMES {
                    if let Some(f) = features.flag(n) {
                        *f = false;
                    }
                }
            } else if let Some(f) = features.flag(name) {
                *f = false;
            } else {
                unknown.push(name.to_owned());
            }
        }
        (features, unknown)
    }

    /// The ceiling [`WITHOUT_ENV`] sets: what the probe may report at most.
    fn allowed_by_env() -> UringFeatures {
        let Ok(list) = std::env::var(WITHOUT_ENV) else {
            return UringFeatures::ALL;
        };
        let (features, unknown) = UringFeatures::without(&list);
        if !unknown.is_empty() {
            tracing::warn!(
                variable = WITHOUT_ENV,
                unknown = %unknown.join(","),
                known = %Self::NAMES.join(","),
                "unknown io_uring feature names ignored"
            );
        }
        features
    }

    /// The names of the missing features, in [`Self::NAMES`] order.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut this = *self;
        Self::NAMES
            .into_iter()
            .filter(|n| this.flag(n).is_some_and(|f| !*f))
            .collect()
    }

    /// Media sockets are created and bound inside the ring (direct descriptors).
    pub fn direct_sockets(&self) -> bool {
        self.socket && self.bind
    }

    /// Receives are multishot from buffer rings (else single-shot into per-socket buffers).
    pub fn multishot_receives(&self) -> bool {
        self.multishot && self.buf_ring
    }
}

impl std::fmt::Display for UringFeatures {
    /// "all features" or "without: bind, multishot".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let missing = self.missing();
        if missing.is_empty() {
            f.write_str("all features")
        } else {
            write!(f, "without: {}", missing.join(", "))
        }
    }
}

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

/// One socket of a start-up batch: whether a file now sits in its slot (to close if its pair
/// is not kept), and whether it is open and bound.
type Opened = (bool, Result<(), io::Error>);

#[derive(Clone, Copy, Default)]
struct MediaSlot {
    open: bool,
    generation: u32,
    /// Single-shot receives: one is in flight on this slot (its buffer is the kernel's).
    recv_in_flight: bool,
    /// Single-shot receives: the close completed while the receive was still in flight; the
    /// slot is free once that completion is reaped.
    closed: bool,
}

/// Stable memory for in-flight sends: the kernel reads the destination address (and, for
/// SENDMSG, the msghdr and iovec) until the completion arrives, so each lives in a boxed slice
/// that never moves. (The payload stays in the outbox, or in `sip_inflight`, until then too.)
struct SendSlots {
    addrs: Box<[libc::sockaddr_storage]>,
    /// SENDMSG headers, one per slot; empty where IORING_OP_SEND takes the address itself.
    msgs: Box<[libc::msghdr]>,
    iovs: Box<[libc::iovec]>,
}

impl SendSlots {
    fn new(n: usize, send_addr: bool) -> SendSlots {
        let msgs = if send_addr { 0 } else { n };
        SendSlots {
            // SAFETY: all-zero is a valid sockaddr_storage.
            addrs: vec![unsafe { mem::zeroed::<libc::sockaddr_storage>() }; n].into_boxed_slice(),
            // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
            msgs: vec![unsafe { mem::zeroed::<libc::msghdr>() }; msgs].into_boxed_slice(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                msgs
            ]
            .into_boxed_slice(),
        }
    }

    /// IORING_OP_SEND with a destination address (kernel >= 6.0): unlike SENDMSG, the kernel
    /// imports no msghdr/iovec per packet. Before 6.0: SENDMSG with this slot's msghdr.
    #[inline]
    fn send(&mut self, i: usize, file: SockFile, to: &SocketAddr, payload: &[u8]) -> squeue::Entry {
        if !self.msgs.is_empty() {
            return self.send_msg(i, file, to, payload);
        }
        let name_len = uring_sys::write_sockaddr(to, &mut self.addrs[i]);
        let addr = &self.addrs[i] as *const libc::sockaddr_storage;
        on_file!(file, fd => opcode::Send::new(fd, payload.as_ptr(), payload.len() as u32)
            .dest_addr(addr.cast())
            .dest_addr_len(name_len)
            .build())
        .user_data(user_data(KIND_SEND, i as u64))
    }
}

impl SendSlots {
    /// The older form of [`SendSlots::send`]: SENDMSG with slot `i`'s msghdr and iovec.
    #[cold]
    #[inline(never)]
    fn send_msg(
        &mut self,
        i: usize,
        file: SockFile,
        to: &SocketAddr,
        payload: &[u8],
    ) -> squeue::Entry {
        let name_len = uring_sys::write_sockaddr(to, &mut self.addrs[i]);
        let addr = &mut self.addrs[i] as *mut libc::sockaddr_storage;
        let iov = &mut self.iovs[i];
        iov.iov_base = payload.as_ptr().cast_mut().cast();
        iov.iov_len = payload.len();
        let msg = &mut self.msgs[i];
        msg.msg_name = addr.cast();
        msg.msg_namelen = name_len;
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        on_file!(file, fd => opcode::SendMsg::new(fd, msg).build())
            .user_data(user_data(KIND_SEND, i as u64))
    }
}

/// One single-shot RECVMSG's memory (the older form, where multishot receives from buffer
/// rings are missing): the msghdr, its iovec, the source address and the data buffer. Boxed,
/// so the pointers the kernel holds while the receive is in flight stay valid.
struct RecvBuf {
    msg: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    data: Box<[u8]>,
}

impl RecvBuf {
    fn new(len: usize) -> Box<RecvBuf> {
        Box::new(RecvBuf {
            // SAFETY: all-zero is a valid msghdr and sockaddr_storage.
            msg: unsafe { mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            // SAFETY: as above.
            name: unsafe { mem::zeroed() },
            data: vec![0u8; len].into_boxed_slice(),
        })
    }

    /// A RECVMSG on `fd` into this buffer.
    fn recv(&mut self, file: SockFile, user_data: u64) -> squeue::Entry {
        self.iov.iov_base = self.data.as_mut_ptr().cast();
        self.iov.iov_len = self.data.len();
        self.msg.msg_name = (&mut self.name as *mut libc::sockaddr_storage).cast();
        self.msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_control = std::ptr::null_mut();
        self.msg.msg_controllen = 0;
        self.msg.msg_flags = 0;
        on_file!(file, fd => opcode::RecvMsg::new(fd, &mut self.msg).build()).user_data(user_data)
    }

    /// The datagram a completion of `result` bytes delivered: `None` when it was truncated or
    /// its source is not IPv4/IPv6.
    fn received(&self, result: i32) -> Option<(SocketAddr, &[u8])> {
        if self.msg.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let from = uring_sys::read_sockaddr(&self.name, self.msg.msg_namelen)?;
        Some((from, self.data.get(..result as usize)?))
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
    /// `None` once [`Backend::shut_down`] freed the SIP port.
    _sip: Option<UdpSocket>,
    /// [`Backend::shut_down`] ran: every request was cancelled by the shard thread.
    shut: bool,
    sip_addr: Option<SocketAddr>,
    features: UringFeatures,
    waker: Arc<ShardWaker>,
    peers: Arc<[WakeTarget]>,
    peers_to_wake: Vec<usize>,
    /// Multishot receives: the provided-buffer rings (`None` on the single-shot form).
    sip_bufs: Option<BufRing>,
    media_bufs: Option<BufRing>,
    /// Template for multishot RECVMSG: only msg_namelen/msg_controllen matter; kept alive.
    recv_msghdr: Box<libc::msghdr>,
    /// Single-shot receives: the SIP socket's buffers (each with its flag "in flight"), and one
    /// per media slot (grown with the slots, kept across reuse).
    sip_recv: Vec<(Box<RecvBuf>, bool)>,
    /// Boxed on purpose: the Vec grows while receives are in flight, and the kernel holds
    /// pointers into each `RecvBuf`, which must not move with the Vec's storage.
    #[allow(clippy::vec_box)]
    media_recv: Vec<Box<RecvBuf>>,
    media: Vec<MediaSlot>,
    /// Slots whose close completed, reused oldest first.
    free_media: VecDeque<u32>,
    /// Media socket closes queued or submitted whose completion has not been reaped: their
    /// ports may still be bound.
    closes_in_flight: u32,
    max_media: usize,
    /// The pairs opened at start-up ([`Backend::open_media_ports`]).
    pool: PortTable,
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

/// Sets up a ring with the set-up flags `allowed` permits, dropping the ones the kernel does
/// not know (EINVAL): COOP_TASKRUN (5.19) first, then SUBMIT_ALL (5.18).
fn setup_ring(allowed: &mut UringFeatures) -> Result<IoUring, BackendError> {
    loop {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(CQ_ENTRIES);
        if allowed.submit_all {
            builder.setup_submit_all();
        }
        if allowed.coop_taskrun {
            builder.setup_coop_taskrun();
        }
        match builder.build(RING_ENTRIES) {
            Ok(ring) => return Ok(ring),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && allowed.coop_taskrun => {
                allowed.coop_taskrun = false;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && allowed.submit_all => {
                allowed.submit_all = false;
            }
            Err(e) => return Err(BackendError::UringUnavailable(e)),
        }
    }
}

/// Whether multishot RECVMSG works (6.0): a trial arm on an unbound UDP socket, which a kernel
/// without it fails at once with EINVAL and a kernel with it leaves pending (then cancelled).
fn multishot_works(ring: &mut IoUring, msghdr: &libc::msghdr) -> io::Result<bool> {
    const TRIAL: u64 = (KIND_MISC << KIND_SHIFT) | 10;
    const TRIAL_CANCEL: u64 = (KIND_MISC << KIND_SHIFT) | 11;
    let trial = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    let entry = opcode::RecvMsgMulti::new(Fd(trial.as_raw_fd()), msghdr, SIP_BGID)
        .build()
        .user_data(TRIAL);
    // SAFETY: the msghdr and the trial socket outlive the request: it is cancelled and its
    // completion awaited below before either is dropped.
    unsafe { ring.submission().push(&entry) }.map_err(|_| io::Error::other("SQ full"))?;
    ring.submit()?;
    let mut works = None;
    let mut cancelled = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        for cqe in ring.completion() {
            if cqe.user_data() == TRIAL && !cqueue::more(cqe.flags()) {
                // Failed at once (EINVAL: no multishot), or ended by the cancel below.
                works.get_or_insert(cqe.result() != -libc::EINVAL);
                return Ok(works.unwrap_or(false));
            }
        }
        if !cancelled {
            // Still pending: multishot receives work. Cancel the trial and await its end.
            works = Some(true);
            let cancel = opcode::AsyncCancel::new(TRIAL)
                .build()
                .user_data(TRIAL_CANCEL);
            // SAFETY: the cancel entry carries no pointers.
            unsafe { ring.submission().push(&cancel) }.map_err(|_| io::Error::other("SQ full"))?;
            cancelled = true;
        }
        if std::time::Instant::now() >= deadline {
            return Err(io::Error::other("the trial multishot receive did not end"));
        }
        let ts = Timespec::new().nsec(50_000_000);
        match ring
            .submitter()
            .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
        {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
}

impl UringBackend {
    /// Sets up the ring, the buffer rings, the file table and the SIP socket, with the features
    /// the kernel offers ([`UringFeatures`]). An error names the cause; there is no silent
    /// fallback to epoll here (`io = "auto"` decides that in `Server::start`).
    pub fn new(
        listen: SocketAddr,
        waker: Arc<ShardWaker>,
        max_media: usize,
    ) -> Result<UringBackend, BackendError> {
        UringBackend::with_features(listen, waker, max_media, UringFeatures::allowed_by_env())
    }

    /// [`UringBackend::new`] using at most the features in `allowed` (what the kernel offers
    /// beyond them is left unused): tests drive each older form in-process.
    pub fn with_features(
        listen: SocketAddr,
        waker: Arc<ShardWaker>,
        max_media: usize,
        allowed: UringFeatures,
    ) -> Result<UringBackend, BackendError> {
        let mut features = allowed;
        let mut ring = setup_ring(&mut features)?;
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
            (opcode::SendMsg::CODE, "IORING_OP_SENDMSG"),
            (opcode::Close::CODE, "IORING_OP_CLOSE"),
            (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
        ] {
            if !probe.is_supported(code) {
                return Err(BackendError::UringFeatureMissing(name));
            }
        }
        features.socket &= probe.is_supported(opcode::Socket::CODE);
        features.bind &= probe.is_supported(opcode::Bind::CODE);
        features.msg_ring &= probe.is_supported(opcode::MsgRingData::CODE);
        // A destination address on IORING_OP_SEND came with SEND_ZC (6.0), which marks it.
        features.send_addr &=
            probe.is_supported(opcode::Send::CODE) && probe.is_supported(opcode::SendZc::CODE);
        if features.sync_cancel {
            // A kernel with it looks for the request and finds none (ENOENT); before 6.0: EINVAL.
            let answer = ring.submitter().register_sync_cancel(
                Some(Timespec::new()),
                CancelBuilder::user_data(user_data(KIND_MISC, 12)),
            );
            features.sync_cancel = !matches!(
                answer.map_err(|e| e.raw_os_error()),
                Err(Some(libc::EINVAL | libc::EOPNOTSUPP))
            );
        }
        // The registered-file table is capped by RLIMIT_NOFILE per ring (kernel rule), even
        // though direct descriptors do not count against the fd limit itself.
        // (At least one slot: the kernel refuses an empty table.)
        let table = (MEDIA_FILE_BASE as usize + max_media)
            .min(nofile_limit())
            .max(1);
        let max_media = table.saturating_sub(MEDIA_FILE_BASE as usize);
        let sparse = if features.sparse_files {
            ring.submitter().register_files_sparse(table as u32)
        } else {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        };
        match sparse {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Before 5.19: a table of empty (-1) slots.
                features.sparse_files = false;
                ring.submitter()
                    .register_files(&vec![-1; table])
                    .map_err(BackendError::io("io_uring_register(files)"))?;
            }
            Err(e) => return Err(BackendError::io("io_uring_register(files)")(e)),
        }
        let sip = sip_socket(listen, false)?;
        // SAFETY: all-zero is a valid msghdr.
        let mut recv_msghdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
        recv_msghdr.msg_namelen = NAME_LEN;
        let mut sip_bufs = None;
        if features.buf_ring {
            match BufRing::new(&ring, SIP_BUFS, SIP_BUF_LEN, SIP_BGID) {
                Ok(bufs) => sip_bufs = Some(bufs),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => features.buf_ring = false,
                Err(e) => return Err(BackendError::io("io_uring_register(pbuf_ring sip)")(e)),
            }
        }
        if sip_bufs.is_some() && features.multishot {
            features.multishot = multishot_works(&mut ring, &recv_msghdr)
                .map_err(BackendError::io("io_uring trial multishot recvmsg"))?;
        }
        let mut media_bufs = None;
        if features.multishot_receives() {
            media_bufs = Some(
                BufRing::new(&ring, MEDIA_BUFS, MEDIA_BUF_LEN, MEDIA_BGID)
                    .map_err(BackendError::io("io_uring_register(pbuf_ring media)"))?,
            );
        } else if sip_bufs.take().is_some() {
            // Single-shot receives use no buffer ring.
            let _ = ring.submitter().unregister_buf_ring(SIP_BGID);
        }
        let sip_recv = if features.multishot_receives() {
            Vec::new()
        } else {
            (0..SIP_SINGLE_SHOTS)
                .map(|_| (RecvBuf::new(SIP_BUF_LEN), false))
                .collect()
        };
        let sip_addr = sip.local_addr().ok();
        let mut backend = UringBackend {
            ring,
            _sip: Some(sip),
            shut: false,
            sip_addr,
            features,
            waker,
            peers: Arc::from(Vec::new()),
            peers_to_wake: Vec::new(),
            sip_bufs,
            media_bufs,
            recv_msghdr,
            sip_recv,
            media_recv: Vec::new(),
            media: Vec::new(),
            free_media: VecDeque::new(),
            closes_in_flight: 0,
            max_media,
            pool: PortTable::default(),
            // SAFETY: all-zero is a valid sockaddr_storage.
            bind_addrs: Box::new(unsafe { mem::zeroed() }),
            send_slots: SendSlots::new(OUTBOX_CAPACITY + SIP_SEND_SLOTS, features.send_addr),
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

    /// What the kernel offered (after [`WITHOUT_ENV`]), i.e. which forms this backend uses.
    pub fn features(&self) -> UringFeatures {
        self.features
    }

    /// The ring fd other shards post IORING_OP_MSG_RING to; `None` without MSG_RING (they
    /// write the eventfd instead).
    pub fn msg_ring_fd(&self) -> Option<RawFd> {
        self.features.msg_ring.then(|| self.ring.as_raw_fd())
    }

    pub fn set_peers(&mut self, peers: Arc<[WakeTarget]>) {
        self.peers = peers;
    }

    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// The SIP socket's descriptor (an ordinary one, in no registered-file table): the
    /// server steers the shards' reuseport group through it (`runtime::steering`).
    pub fn sip_raw_fd(&self) -> RawFd {
        // -1 once `shut_down` closed it.
        self._sip.as_ref().map_or(-1, |sip| sip.as_raw_fd())
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
        self.sip_armed = true;
        if self.sip_recv.is_empty() {
            let entry =
                opcode::RecvMsgMulti::new(Fd(self.sip_raw_fd()), &*self.recv_msghdr, SIP_BGID)
                    .build()
                    .user_data(user_data(KIND_SIP_RECV, 0));
            self.push(entry);
            return;
        }
        let sip = SockFile::Fd(self.sip_raw_fd());
        for i in 0..self.sip_recv.len() {
            let (buf, in_flight) = &mut self.sip_recv[i];
            if !*in_flight {
                *in_flight = true;
                let entry = buf.recv(sip, user_data(KIND_SIP_RECV, i as u64));
                self.push(entry);
            }
        }
    }

    fn arm_media(&mut self, index: u32) {
        let Some(slot) = self.media.get_mut(index as usize) else {
            return;
        };
        let ud = media_user_data(slot.generation, index);
        let file = Fixed(MEDIA_FILE_BASE + index);
        let entry = if self.media_bufs.is_some() {
            opcode::RecvMsgMulti::new(file, &*self.recv_msghdr, MEDIA_BGID)
                .build()
                .user_data(ud)
        } else {
            if slot.recv_in_flight {
                return;
            }
            slot.recv_in_flight = true;
            while self.media_recv.len() <= index as usize {
                self.media_recv.push(RecvBuf::new(MEDIA_BUF_LEN));
            }
            self.media_recv[index as usize].recv(SockFile::Fixed(MEDIA_FILE_BASE + index), ud)
        };
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
                // linked cancel, possibly later than SQEs submitted behind it). A single-shot
                // receive still in flight owns the slot's buffer: the slot is free when it ends.
                let index = (ud & 0xffff_ffff) as u32;
                match self.media.get_mut(index as usize) {
                    Some(slot) if slot.recv_in_flight => slot.closed = true,
                    _ => self.free_media.push_back(index),
                }
                self.closes_in_flight = self.closes_in_flight.saturating_sub(1);
                continue;
            }
            if ud >> KIND_SHIFT == KIND_MEDIA_RECV
                && self.media_bufs.is_none()
                && reaped_stale_single(&mut self.media, &mut self.free_media, ud)
            {
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
                SockFile::Fixed(MEDIA_FILE_BASE + staged.socket),
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
        if !self.features.direct_sockets() {
            return self.open_plain(addr, index);
        }
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
        if socket_result.is_some_and(|s| s >= 0) {
            self.stats.media_sockets_created += 1;
        }
        match (socket_result, bind_result) {
            (Some(s), Some(b)) if s >= 0 && b >= 0 => {
                self.opened(index);
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

    /// Opens `ports.len()` sockets into the consecutive new slots from `base`, bound on `ip`:
    /// IORING_OP_SOCKET linked to IORING_OP_BIND per socket, all submitted at once, then every
    /// completion awaited. Per socket: whether a file now sits in its slot, and the outcome.
    fn open_direct_batch(
        &mut self,
        ip: IpAddr,
        ports: &[u16],
        base: u32,
    ) -> Result<Vec<Opened>, BackendError> {
        let domain = if ip.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // The kernel reads each address when its bind runs: the Vec is not touched (nor moved)
        // until every completion of the batch is reaped.
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { mem::zeroed() }; ports.len()];
        for (i, &port) in ports.iter().enumerate() {
            let index = base + i as u32;
            let file = MEDIA_FILE_BASE + index;
            let Ok(dest) = DestinationSlot::try_from_slot_target(file) else {
                return Err(BackendError::MediaTableFull(self.max_media));
            };
            let name_len = uring_sys::write_sockaddr(&SocketAddr::new(ip, port), &mut addrs[i]);
            let bind_ptr = (&addrs[i] as *const libc::sockaddr_storage).cast();
            self.push(
                opcode::Socket::new(domain, libc::SOCK_DGRAM, libc::IPPROTO_UDP)
                    .file_index(Some(dest))
                    .build()
                    .flags(squeue::Flags::IO_LINK)
                    .user_data(user_data(KIND_SOCKET, index as u64)),
            );
            self.push(
                opcode::Bind::new(Fixed(file), bind_ptr, name_len)
                    .build()
                    .user_data(user_data(KIND_BIND, index as u64)),
            );
        }
        let n = ports.len();
        let mut socket_results: Vec<Option<i32>> = vec![None; n];
        let mut bind_results: Vec<Option<i32>> = vec![None; n];
        let mut missing = 2 * n;
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter(socket batch)"))?;
        loop {
            self.reap();
            self.cqes.retain(|c| {
                let kind = c.user_data >> KIND_SHIFT;
                let index = (c.user_data & 0xffff_ffff) as u32;
                let ours = (kind == KIND_SOCKET || kind == KIND_BIND)
                    && index >= base
                    && ((index - base) as usize) < n;
                if !ours {
                    return true;
                }
                let i = (index - base) as usize;
                let target = if kind == KIND_SOCKET {
                    &mut socket_results[i]
                } else {
                    &mut bind_results[i]
                };
                if target.replace(c.result).is_none() {
                    missing -= 1;
                }
                false
            });
            if missing == 0 {
                break;
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(BackendError::io("io_uring_enter(wait socket batch)")(e)),
            }
        }
        drop(addrs);
        let errno = |code: i32| io::Error::from_raw_os_error(-code);
        Ok(socket_results
            .into_iter()
            .zip(bind_results)
            .map(|(socket, bind)| {
                let socket = socket.unwrap_or(-libc::EIO);
                let bind = bind.unwrap_or(-libc::EIO);
                if socket < 0 {
                    (false, Err(errno(socket)))
                } else if bind < 0 {
                    (true, Err(errno(bind)))
                } else {
                    (true, Ok(()))
                }
            })
            .collect())
    }

    /// The older form of [`UringBackend::open_direct_batch`] (before 5.19 / 6.11): socket(2)
    /// and bind(2) per socket, the batch registered into its slots with one
    /// `register_files_update`, then the process fds closed (the ring holds its references).
    fn open_plain_batch(
        &mut self,
        ip: IpAddr,
        ports: &[u16],
        base: u32,
    ) -> Result<Vec<Opened>, BackendError> {
        let sockets: Vec<io::Result<UdpSocket>> = ports
            .iter()
            .map(|&port| UdpSocket::bind(SocketAddr::new(ip, port)))
            .collect();
        let fds: Vec<RawFd> = sockets
            .iter()
            .map(|s| s.as_ref().map_or(-1, |s| s.as_raw_fd()))
            .collect();
        self.ring
            .submitter()
            .register_files_update(MEDIA_FILE_BASE + base, &fds)
            .map_err(BackendError::io("io_uring_register(files_update batch)"))?;
        Ok(sockets
            .into_iter()
            .map(|s| match s {
                Ok(_) => (true, Ok(())),
                Err(e) => (false, Err(e)),
            })
            .collect())
    }

    /// Slot `index` holds a bound socket: it is open, under a new generation, receiving.
    fn opened(&mut self, index: u32) {
        let slot = &mut self.media[index as usize];
        slot.open = true;
        slot.closed = false;
        slot.generation = slot.generation.wrapping_add(1) & 0xff_ffff;
        self.arm_media(index);
    }

    /// The older form of IORING_OP_SOCKET + IORING_OP_BIND (before 5.19 / 6.11): socket(2) and
    /// bind(2), the socket registered into slot `index`, then its process fd closed (the ring
    /// holds its own reference).
    fn open_plain(&mut self, addr: SocketAddr, index: u32) -> Result<u32, BackendError> {
        let socket = match UdpSocket::bind(addr) {
            Ok(socket) => {
                self.stats.media_sockets_created += 1;
                socket
            }
            Err(source) => {
                self.free_media.push_back(index);
                return Err(BackendError::MediaBind {
                    ip: addr.ip(),
                    port: addr.port(),
                    source,
                });
            }
        };
        let registered = self
            .ring
            .submitter()
            .register_files_update(MEDIA_FILE_BASE + index, &[socket.as_raw_fd()]);
        drop(socket);
        if let Err(e) = registered {
            self.free_media.push_back(index);
            return Err(BackendError::io("io_uring_register(files_update)")(e));
        }
        self.opened(index);
        Ok(index)
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
        if !self.sip_recv.is_empty() {
            // Single-shot: this receive is over; `dispatch` re-arms it.
            let Some((buf, in_flight)) = self.sip_recv.get_mut((c.user_data & 0xffff) as usize)
            else {
                return;
            };
            *in_flight = false;
            self.sip_armed = false;
            if c.result >= 0 {
                match buf.received(c.result) {
                    Some((from, payload)) => {
                        self.stats.sip_received += 1;
                        handler(Incoming::Sip { from, payload }, &mut self.outbox);
                    }
                    None => self.stats.truncated += 1,
                }
            }
            return;
        }
        let Some(sip_bufs) = &mut self.sip_bufs else {
            return;
        };
        if c.result >= 0
            && let Some(bid) = cqueue::buffer_select(c.flags)
        {
            let buf = sip_bufs.buffer(bid, c.result as usize);
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
            sip_bufs.push(bid);
            sip_bufs.publish();
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
        if self.media_bufs.is_none() {
            return self.handle_media_single(c, index, live, handler);
        }
        let Some(media_bufs) = &mut self.media_bufs else {
            return;
        };
        if c.result >= 0
            && let Some(bid) = cqueue::buffer_select(c.flags)
        {
            if live {
                let buf = media_bufs.buffer(bid, c.result as usize);
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
            media_bufs.push(bid);
            media_bufs.publish();
        }
        if !cqueue::more(c.flags) && live {
            if c.result == -libc::ENOBUFS {
                self.stats.rearmed_enobufs += 1;
            }
            self.arm_media(index);
        }
    }

    /// A single-shot receive on media slot `index` ended: hand its datagram on, then re-arm it
    /// (open slot), or free the slot (its close already completed).
    #[cold]
    #[inline(never)]
    fn handle_media_single(
        &mut self,
        c: Cqe,
        index: u32,
        live: bool,
        handler: &mut dyn FnMut(Incoming<'_>, &mut Outbox),
    ) {
        let Some(slot) = self.media.get_mut(index as usize) else {
            return;
        };
        slot.recv_in_flight = false;
        if !live {
            if slot.closed {
                slot.closed = false;
                self.free_media.push_back(index);
            }
            return;
        }
        if c.result >= 0
            && let Some(buf) = self.media_recv.get(index as usize)
        {
            match buf.received(c.result) {
                Some((from, payload)) => {
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
                None => self.stats.truncated += 1,
            }
        }
        self.arm_media(index);
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        // Tear down synchronously, so the SIP port is free when the process exits. Left to the
        // kernel, ring teardown runs later in a worker that still holds the armed receives'
        // file references, and a handoff restarted at once finds its SIP port "already in use"
        // for up to a second. Cancel every in-flight request (each holds a file reference;
        // `shut_down` did it already from the shard thread), then drop the file table (not
        // after `shut_down`: see there).
        // Every request is cancelled by its own user_data first (a hash lookup each, all in one
        // batch): with the media ports opened at start-up there are thousands of armed receives,
        // and a synchronous cancel of "any" request finds them one by one in a scan of the poll
        // table (0.6 s for 10,000 on Linux 6.x). The synchronous cancel then sweeps what is left.
        if !self.shut {
            self.cancel_each();
        }
        if self.features.sync_cancel {
            let _ = self.ring.submitter().register_sync_cancel(
                Some(Timespec::new().nsec(200_000_000)),
                CancelBuilder::any(),
            );
        }
        // After `shut_down` the media sockets are left to the kernel's teardown of the ring
        // (see there); otherwise (a shard that failed, a backend driven in-process) they are
        // closed now.
        if !self.shut {
            let _ = self.ring.submitter().unregister_files();
        }
        // The buffer memory must not be freed while the kernel may still pick from it.
        if self.sip_bufs.is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(SIP_BGID);
        }
        if self.media_bufs.is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(MEDIA_BGID);
        }
    }
}

impl UringBackend {
    /// One IORING_OP_ASYNC_CANCEL per request still armed (the SIP and media receives, the
    /// wakeup poll), by user_data, and their completions awaited (at most 200 ms). The only way
    /// before Linux 6.0 (no synchronous cancel, nor IORING_ASYNC_CANCEL_ANY before 5.19), and
    /// the fast one for thousands of armed receives on any kernel.
    fn cancel_each(&mut self) {
        const CANCEL: u64 = (KIND_MISC << KIND_SHIFT) | 2;
        let mut armed: Vec<u64> = Vec::new();
        if self.sip_recv.is_empty() {
            armed.push(user_data(KIND_SIP_RECV, 0));
        }
        for (i, (_, in_flight)) in self.sip_recv.iter().enumerate() {
            if *in_flight {
                armed.push(user_data(KIND_SIP_RECV, i as u64));
            }
        }
        if self.wake_armed {
            armed.push(user_data(KIND_WAKE_POLL, 0));
        }
        for (index, slot) in self.media.iter().enumerate() {
            if slot.open || slot.recv_in_flight {
                armed.push(media_user_data(slot.generation, index as u32));
            }
        }
        for &target in &armed {
            self.push(opcode::AsyncCancel::new(target).build().user_data(CANCEL));
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        let mut done = 0;
        let mut seen = 0;
        while done < armed.len() && std::time::Instant::now() < deadline {
            let ts = Timespec::new().nsec(20_000_000);
            let _ = self
                .ring
                .submitter()
                .submit_with_args(1, &SubmitArgs::new().timespec(&ts));
            self.reap();
            done += self.cqes[seen..]
                .iter()
                .filter(|c| c.user_data == CANCEL)
                .count();
            seen = self.cqes.len();
        }
    }
}

/// A single-shot receive of a socket closed since (true: consumed here): its slot's buffer
/// is free now, and the slot too if its close completed (a reopen may be waiting for it,
/// outside `dispatch`).
#[cold]
#[inline(never)]
fn reaped_stale_single(media: &mut [MediaSlot], free_media: &mut VecDeque<u32>, ud: u64) -> bool {
    let index = (ud & 0xffff_ffff) as u32;
    let generation = ((ud >> 32) & 0xff_ffff) as u32;
    let Some(slot) = media.get_mut(index as usize) else {
        return false;
    };
    if slot.open && slot.generation == generation {
        return false;
    }
    slot.recv_in_flight = false;
    if slot.closed {
        slot.closed = false;
        free_media.push_back(index);
    }
    true
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
        // A pooled port's two sockets sit in the file slots of its offsets in the slice, so a
        // pair tried again later (in use the first time) takes the same slots; the close of a
        // socket that failed to bind there must be complete first.
        if self.closes_in_flight > 0 {
            self.wait_for_closes()?;
        }
        let budget = max_sockets.min(self.max_media);
        let mut todo = Vec::with_capacity(rtp_ports.len());
        for &port in rtp_ports {
            let Some(offset) = self.pool.offset(port) else {
                continue;
            };
            if self.pool.is_open(port) {
                continue;
            }
            if offset + 2 > budget {
                opened.over_budget += 1;
                continue;
            }
            todo.push(port);
        }
        // Runs of consecutive pairs, at most PREOPEN_PAIRS each: one submission per run.
        let mut i = 0;
        while i < todo.len() {
            let mut j = i + 1;
            while j < todo.len() && j - i < PREOPEN_PAIRS && todo[j] == todo[j - 1] + 2 {
                j += 1;
            }
            let chunk = &todo[i..j];
            i = j;
            let Some(first) = self.pool.offset(chunk[0]) else {
                continue;
            };
            let base = first as u32;
            let ports: Vec<u16> = chunk.iter().flat_map(|&p| [p, p + 1]).collect();
            let need = first + ports.len();
            if self.media.len() < need {
                self.media.resize(need, MediaSlot::default());
            }
            let results = if self.features.direct_sockets() {
                self.open_direct_batch(ip, &ports, base)?
            } else {
                self.open_plain_batch(ip, &ports, base)?
            };
            self.stats.media_sockets_created += results.iter().filter(|r| r.0).count() as u64;
            for (k, &rtp_port) in chunk.iter().enumerate() {
                let (rtp, rtcp) = (base + 2 * k as u32, base + 2 * k as u32 + 1);
                let (r, c) = (&results[2 * k], &results[2 * k + 1]);
                if r.1.is_ok() && c.1.is_ok() {
                    self.opened(rtp);
                    self.opened(rtcp);
                    self.pool.insert(rtp_port, rtp);
                    self.pool.insert(rtp_port + 1, rtcp);
                    opened.rtp_ports.push(rtp_port);
                    continue;
                }
                match (&r.1, &c.1) {
                    (Err(e), _) => note_failed_pair(&mut opened, rtp_port, rtp_port, e),
                    (_, Err(e)) => note_failed_pair(&mut opened, rtp_port, rtp_port + 1, e),
                    _ => {}
                }
                // Neither socket of a half-open pair is kept: the slots are closed.
                for (index, (has_file, _)) in [(rtp, r), (rtcp, c)] {
                    if *has_file {
                        self.push(
                            opcode::Close::new(Fixed(MEDIA_FILE_BASE + index))
                                .build()
                                .user_data(user_data(KIND_CLOSED, index as u64)),
                        );
                        self.closes_in_flight += 1;
                    }
                }
            }
        }
        self.ring
            .submit()
            .map_err(BackendError::io("io_uring_enter(arm media)"))?;
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
            |backend, which| {
                let addr = SocketAddr::new(ip, rtp_port.wrapping_add(which));
                backend.open_one(addr, usize::from(which))
            },
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
        let mut sip_out = mem::take(&mut self.sip_out);
        let sip = SockFile::Fd(self.sip_raw_fd());
        for chunk in sip_out.chunks_mut(SIP_SEND_SLOTS) {
            for (to, payload) in chunk.iter_mut() {
                let slot = OUTBOX_CAPACITY + self.sip_inflight.len();
                let owned = mem::take(payload);
                let entry = self.send_slots.send(slot, sip, to, &owned);
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
                if let Some(ring_fd) = self
                    .peers
                    .get(peer)
                    .and_then(|t| t.ring_fd)
                    .filter(|_| self.features.msg_ring)
                {
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

    fn shut_down(&mut self) {
        // From the thread that armed the receives (see the trait): each by its user_data.
        self.cancel_each();
        self.shut = true;
        // The SIP socket (in no file table; its receives cancelled above, so no request holds
        // it) leaves the process now: its port is free before the process exits, whatever the
        // kernel later does with the ring.
        self._sip = None;
        // The media sockets stay in the file table: closing 10,000 of them here takes ~50 ms
        // per shard, while the kernel closes them after the process exited, when it tears the
        // ring down. A handoff started at once serves meanwhile and tries the ports it finds
        // still held again (`runtime::pool_open`): stop -> serving 57 ms against 146 ms
        // (perf/results/restart-2026-12-05.md).
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
