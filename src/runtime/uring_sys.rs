//! The raw-syscall boundary of the runtime: what no kept crate offers.
//!
//! House rule: `unsafe` lives only in the io_uring module tree (`src/runtime/uring*.rs`;
//! `deny(unsafe_code)` in lib.rs). epoll, eventfd, signalfd, rlimits and socket options go
//! through nix and socket2 where they are used. What stays here: the raw socket addresses the
//! io_uring ops read and write, the batch types over nix's recvmmsg/sendmmsg (nix's preallocated
//! headers are not `Send`; the backends must be), the eventfd write to a peer shard's raw
//! descriptor, and the reuseport CBPF setsockopt.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};

/// Largest datagram a media slot holds. RTP over UDP stays far below the Ethernet MTU.
pub const MEDIA_BUF_LEN: usize = 2048;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

// ---------------------------------------------------------------------------------------------
// Socket addresses

/// Writes `addr` into `storage`; returns the length to pass to the kernel.
pub fn write_sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe {
                std::ptr::write(
                    (storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                    sin,
                )
            };
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe {
                std::ptr::write(
                    (storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>(),
                    sin6,
                )
            };
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Reads a socket address the kernel wrote; `None` for families other than IPv4/IPv6.
pub fn read_sockaddr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    read_sockaddr_bytes(
        // SAFETY: sockaddr_storage is plain old data of exactly this size.
        unsafe {
            std::slice::from_raw_parts(
                (storage as *const libc::sockaddr_storage).cast::<u8>(),
                mem::size_of::<libc::sockaddr_storage>(),
            )
        },
        len as usize,
    )
}

/// Parses a raw sockaddr (as found in a multishot recvmsg buffer). Never panics.
pub fn read_sockaddr_bytes(bytes: &[u8], len: usize) -> Option<SocketAddr> {
    let bytes = bytes.get(..len.min(bytes.len()))?;
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    let port = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
    if family == libc::AF_INET as u16 {
        let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    } else if family == libc::AF_INET6 as u16 {
        let flowinfo = u32::from_ne_bytes(bytes.get(4..8)?.try_into().ok()?);
        let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
        let scope = u32::from_ne_bytes(bytes.get(24..28)?.try_into().ok()?);
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            flowinfo,
            scope,
        )))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Batched UDP receive / send (epoll backend), over nix's recvmmsg/sendmmsg

/// Most datagrams one [`recvmmsg`] or one `sendmmsg` system call moves: the I/O vectors of a
/// call live on the stack (no allocation per batch), so a batch is at most this long.
pub const MAX_BATCH: usize = 64;

/// What the kernel reported for one datagram of a receive.
#[derive(Copy, Clone)]
struct Received {
    from: Option<SocketAddr>,
    len: usize,
    truncated: bool,
}

/// Preallocated buffers for one `recvmmsg` call: `capacity` (at most [`MAX_BATCH`]) datagrams of
/// up to `buf_len` bytes.
pub struct RecvBatch {
    data: Box<[u8]>,
    buf_len: usize,
    headers: MultiHeaders<SockaddrStorage>,
    received: Box<[Received]>,
    /// Per slot, the address room its header carries into the next call. nix refills only the
    /// I/O vectors between calls, and the kernel leaves the length of the last address it wrote
    /// in `msg_namelen` (nix-rust/nix#2813): after an IPv4 source a slot holds 16 bytes, and an
    /// IPv6 source arriving there next would come back cut short. Such a datagram is reported
    /// without a source (dropped by the callers, as a non-IP source is); the kernel wrote the
    /// full length back, so the slot is whole again for the call after.
    room: Box<[usize]>,
    filled: usize,
}

// SAFETY: the raw pointers inside nix's preallocated headers point only into the headers' own
// boxed address slots (and, during one call, at the I/O vectors on that call's stack); nothing
// is shared with another thread, so moving the batch to another thread is fine.
unsafe impl Send for RecvBatch {}

const SOCKADDR_IN_LEN: usize = mem::size_of::<libc::sockaddr_in>();
const SOCKADDR_IN6_LEN: usize = mem::size_of::<libc::sockaddr_in6>();

impl RecvBatch {
    pub fn new(capacity: usize, buf_len: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_BATCH);
        let buf_len = buf_len.max(1);
        RecvBatch {
            data: vec![0u8; capacity * buf_len].into_boxed_slice(),
            buf_len,
            headers: MultiHeaders::preallocate(capacity, None),
            received: vec![
                Received {
                    from: None,
                    len: 0,
                    truncated: false
                };
                capacity
            ]
            .into_boxed_slice(),
            room: vec![mem::size_of::<libc::sockaddr_storage>(); capacity].into_boxed_slice(),
            filled: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.received.len()
    }

    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Datagram `i` of the last receive: source (None if not IP), payload, and whether the
    /// kernel truncated it to the buffer.
    pub fn get(&self, i: usize) -> Option<(Option<SocketAddr>, &[u8], bool)> {
        if i >= self.filled {
            return None;
        }
        let r = self.received.get(i)?;
        let start = i * self.buf_len;
        let payload = self.data.get(start..start + r.len.min(self.buf_len))?;
        Some((r.from, payload, r.truncated))
    }
}

fn ip_source(addr: &SockaddrStorage) -> Option<(SocketAddr, usize)> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some((SocketAddr::V4(SocketAddrV4::from(*v4)), SOCKADDR_IN_LEN))
    } else {
        addr.as_sockaddr_in6()
            .map(|v6| (SocketAddr::V6(SocketAddrV6::from(*v6)), SOCKADDR_IN6_LEN))
    }
}

/// One nonblocking `recvmmsg` into `batch`. Returns the number received (0 = would block).
pub fn recvmmsg(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.filled = 0;
    let n = batch.received.len();
    let mut chunks = batch.data.chunks_mut(batch.buf_len);
    let mut iovs: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or(&mut []))]);
    let results = match socket::recvmmsg(
        fd,
        &mut batch.headers,
        iovs[..n].iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) {
        Ok(results) => results,
        Err(Errno::EAGAIN) => return Ok(0),
        Err(errno) => return Err(io::Error::from(errno)),
    };
    let mut filled = 0;
    for (i, msg) in results.enumerate() {
        let (Some(r), Some(room)) = (batch.received.get_mut(i), batch.room.get_mut(i)) else {
            break;
        };
        let source = msg.address.as_ref().and_then(ip_source);
        r.from = match source {
            Some((from, need)) => {
                let whole = need <= *room;
                *room = need;
                whole.then_some(from)
            }
            None => None,
        };
        r.len = msg.bytes;
        r.truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
        filled = i + 1;
    }
    batch.filled = filled;
    Ok(filled)
}

/// One datagram to send in a batch: payload bytes live in the caller's storage.
pub struct SendItem<'a> {
    pub to: SocketAddr,
    pub payload: &'a [u8],
}

/// Reusable scratch for `sendmmsg`: nix's preallocated headers and the destination addresses
/// of one call.
pub struct SendScratch {
    headers: MultiHeaders<SockaddrStorage>,
    addrs: Vec<Option<SockaddrStorage>>,
    /// Datagrams per system call: the headers preallocated.
    room: usize,
}

// SAFETY: as for `RecvBatch`: the headers' raw pointers are set during one `sendmmsg` call, to
// this scratch's own addresses and that call's I/O vectors, and are not used after it.
unsafe impl Send for SendScratch {}

impl SendScratch {
    /// Room for `capacity` datagrams per system call (at most [`MAX_BATCH`]); longer runs go
    /// out in several calls.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_BATCH);
        SendScratch {
            headers: MultiHeaders::preallocate(capacity, None),
            addrs: Vec::with_capacity(capacity),
            room: capacity,
        }
    }
}

/// Sends `items` from `fd` with as few `sendmmsg` calls as the kernel allows. Returns how many
/// were sent; a datagram the kernel refuses (e.g. ENOBUFS, unreachable) is skipped, reported in
/// `errors`, and the rest still go out.
pub fn sendmmsg(
    fd: RawFd,
    items: &[SendItem<'_>],
    scratch: &mut SendScratch,
    errors: &mut u64,
) -> usize {
    send_batch(fd, items, scratch, errors, false)
}

/// As [`sendmmsg`], but stops at the first datagram the socket would block on (EAGAIN): the
/// rest are not tried (a full send buffer stays full for the moment), and are not counted in
/// `errors`. For best-effort copies (HEP) where the caller counts what was not sent.
pub fn sendmmsg_until_blocked(
    fd: RawFd,
    items: &[SendItem<'_>],
    scratch: &mut SendScratch,
    errors: &mut u64,
) -> usize {
    send_batch(fd, items, scratch, errors, true)
}

fn send_batch(
    fd: RawFd,
    items: &[SendItem<'_>],
    scratch: &mut SendScratch,
    errors: &mut u64,
    stop_when_blocked: bool,
) -> usize {
    let mut sent = 0usize;
    for chunk in items.chunks(scratch.room) {
        let (chunk_sent, blocked) = send_chunk(fd, chunk, scratch, errors, stop_when_blocked);
        sent += chunk_sent;
        if blocked {
            break;
        }
    }
    sent
}

/// Sends up to [`MAX_BATCH`] datagrams; returns how many went out and whether the socket
/// would block (only looked for with `stop_when_blocked`).
fn send_chunk(
    fd: RawFd,
    chunk: &[SendItem<'_>],
    scratch: &mut SendScratch,
    errors: &mut u64,
    stop_when_blocked: bool,
) -> (usize, bool) {
    let n = chunk.len().min(MAX_BATCH);
    scratch.addrs.clear();
    scratch.addrs.extend(
        chunk[..n]
            .iter()
            .map(|item| Some(SockaddrStorage::from(item.to))),
    );
    let mut payloads = chunk.iter().map(|item| item.payload);
    let iovs: [[IoSlice<'_>; 1]; MAX_BATCH] =
        std::array::from_fn(|_| [IoSlice::new(payloads.next().unwrap_or(&[]))]);
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let mut sent = 0usize;
    let mut start = 0usize;
    while start < n {
        match socket::sendmmsg(
            fd,
            &mut scratch.headers,
            iovs[start..n].iter(),
            &scratch.addrs[start..n],
            no_cmsgs,
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(results) => {
                let count = results.count();
                if count == 0 {
                    *errors += 1;
                    start += 1;
                } else {
                    sent += count;
                    start += count;
                }
            }
            Err(Errno::EAGAIN) if stop_when_blocked => return (sent, true),
            // The datagram at `start` failed (full buffer, unreachable...): skip it.
            Err(_) => {
                *errors += 1;
                start += 1;
            }
        }
    }
    (sent, false)
}
// ---------------------------------------------------------------------------------------------
// eventfd

/// Adds 1 to the eventfd counter (wakes its poller). EAGAIN (counter saturated) is fine: the
/// reader is already due to wake.
///
/// Kept hand-written: the wake targets of the other shards are raw descriptors (`WakeTarget`,
/// copied across threads; the server keeps every shard's eventfd open while any shard runs),
/// and no crate writes to a raw descriptor without the same unsafe borrow as here.
pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

// ---------------------------------------------------------------------------------------------
// The allocator

/// mimalloc (v3) option numbers (`mi_option_e` in its mimalloc.h; libmimalloc-sys names only
/// some of them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Tunes mimalloc for a long-running server whose memory is mostly many small long-lived objects
/// (calls) interleaved with short-lived ones (transactions, messages).
///
/// `arena_eager_commit = 0`: by default (2 on Linux, where memory overcommits) mimalloc commits
/// its 1 GiB arenas eagerly, and the pages it frees there stayed resident: measured with
/// perf/relay (perf/results/relay-2026-12-05.md), handoff held 14 KiB of RSS per established
/// call at 2,000 calls with it and 8.9 KiB without it (the core's live heap is ~4 KiB per call).
/// `purge_delay` stays at its default (purging at once saved another 0.1 KiB per call, for a
/// madvise per freed page).
///
/// The option is read when mimalloc reserves its first arena, which happens on the first
/// allocation, before `main` (the Rust runtime allocates while it starts): so this runs as an
/// ELF constructor ([`TUNE_ALLOCATOR`]), before the runtime's start-up code. An
/// `MIMALLOC_ARENA_EAGER_COMMIT` in the environment still wins.
extern "C" fn tune_allocator() {
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
        // SAFETY: mi_option_set writes one slot of mimalloc's option table; the option number
        // is in range for the linked mimalloc (v3); constructors run on one thread.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
}

/// Runs [`tune_allocator`] at load time, before `main` and before the first allocation of the
/// Rust runtime (glibc runs `.init_array` entries before calling `main`).
// SAFETY: a `.init_array` entry must be a function pointer taking no arguments (glibc passes
// argc/argv/envp, which an `extern "C" fn()` ignores); `#[used]` keeps the linker from dropping it.
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

// ---------------------------------------------------------------------------------------------
// Steering SIP datagrams between the SO_REUSEPORT sockets (runtime::steering)

/// Attaches the classic BPF `program` to the SO_REUSEPORT group of the socket `fd`
/// (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5): from then on it picks, per datagram, the index of the
/// group's socket that receives it (an index the group lacks: the kernel's hash).
pub fn attach_reuseport_cbpf(fd: RawFd, program: &mut [libc::sock_filter]) -> io::Result<()> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: setsockopt reads exactly size_of::<sock_fprog>() bytes from the live `fprog`,
    // whose `filter` points at `len` initialised instructions that outlive the call (the kernel
    // copies the program before it returns).
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips_v4_and_v6() {
        for addr in [
            "127.0.0.1:5060".parse::<SocketAddr>().unwrap(),
            "[::1]:40000".parse().unwrap(),
        ] {
            // SAFETY: test only: zeroed storage.
            let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
            let len = write_sockaddr(&addr, &mut storage);
            assert_eq!(read_sockaddr(&storage, len), Some(addr));
        }
    }

    #[test]
    fn garbage_sockaddr_bytes_are_refused() {
        assert_eq!(read_sockaddr_bytes(&[], 0), None);
        assert_eq!(read_sockaddr_bytes(&[2, 0, 1], 3), None);
        assert_eq!(read_sockaddr_bytes(&[99, 0, 0, 0, 0, 0, 0, 0], 8), None);
    }
}
