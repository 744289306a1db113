//! The raw-syscall boundary of the runtime.
//!
//! House rule: `unsafe` lives only in the io_uring module tree (`src/runtime/uring*.rs`). The
//! epoll backend and the signal handling need a handful of raw syscalls too (recvmmsg, sendmmsg,
//! epoll_*, eventfd, signalfd, sigprocmask), so they are wrapped here, behind safe functions
//! whose arguments make misuse impossible (buffers are owned by the batch types below and
//! pointers are rebuilt right before each call, so nothing self-referential survives a move).

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

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
// Batched UDP receive / send (epoll backend)

/// Preallocated buffers for one `recvmmsg` call: `capacity` datagrams of up to `buf_len` bytes.
pub struct RecvBatch {
    data: Box<[u8]>,
    buf_len: usize,
    addrs: Box<[libc::sockaddr_storage]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    filled: usize,
}

// SAFETY: the raw pointers inside iovec/mmsghdr only ever point into this struct's own boxes and
// are rebuilt before each syscall; moving the batch to another thread is fine.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(capacity: usize, buf_len: usize) -> Self {
        let capacity = capacity.max(1);
        let buf_len = buf_len.max(1);
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let zero_hdr: libc::mmsghdr = unsafe { mem::zeroed() };
        RecvBatch {
            data: vec![0u8; capacity * buf_len].into_boxed_slice(),
            buf_len,
            addrs: vec![zero_addr; capacity].into_boxed_slice(),
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                capacity
            ]
            .into_boxed_slice(),
            headers: vec![zero_hdr; capacity].into_boxed_slice(),
            filled: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.headers.len()
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
        let hdr = &self.headers[i];
        let len = (hdr.msg_len as usize).min(self.buf_len);
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let from = read_sockaddr(&self.addrs[i], hdr.msg_hdr.msg_namelen);
        let start = i * self.buf_len;
        Some((from, &self.data[start..start + len], truncated))
    }
}

/// One nonblocking `recvmmsg` into `batch`. Returns the number received (0 = would block).
pub fn recvmmsg(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.filled = 0;
    let n = batch.headers.len();
    let buf_len = batch.buf_len;
    let base = batch.data.as_mut_ptr();
    for i in 0..n {
        batch.iovecs[i] = libc::iovec {
            // SAFETY: i * buf_len + buf_len <= data.len() by construction.
            iov_base: unsafe { base.add(i * buf_len) }.cast(),
            iov_len: buf_len,
        };
        let hdr = &mut batch.headers[i];
        hdr.msg_hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_hdr.msg_iov = &mut batch.iovecs[i];
        hdr.msg_hdr.msg_iovlen = 1;
        hdr.msg_hdr.msg_control = std::ptr::null_mut();
        hdr.msg_hdr.msg_controllen = 0;
        hdr.msg_hdr.msg_flags = 0;
        hdr.msg_len = 0;
    }
    // SAFETY: every header points at live buffers owned by `batch`, sized as declared; `n` is
    // the length of the header array.
    let ret = unsafe {
        libc::recvmmsg(
            fd,
            batch.headers.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            return Ok(0);
        }
        return Err(err);
    }
    batch.filled = ret as usize;
    Ok(batch.filled)
}

/// One datagram to send in a batch: payload bytes live in the caller's storage.
pub struct SendItem<'a> {
    pub to: SocketAddr,
    pub payload: &'a [u8],
}

/// Reusable scratch for `sendmmsg`.
pub struct SendScratch {
    addrs: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers are only valid during one `sendmmsg` call and rebuilt each time.
unsafe impl Send for SendScratch {}

impl SendScratch {
    pub fn new(capacity: usize) -> Self {
        SendScratch {
            addrs: Vec::with_capacity(capacity),
            iovecs: Vec::with_capacity(capacity),
            headers: Vec::with_capacity(capacity),
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
    let n = items.len();
    if n == 0 {
        return 0;
    }
    scratch.addrs.clear();
    scratch.iovecs.clear();
    scratch.headers.clear();
    // SAFETY: all-zero is a valid sockaddr_storage / mmsghdr.
    let zero_addr: libc::sockaddr_storage = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let zero_hdr: libc::mmsghdr = unsafe { mem::zeroed() };
    scratch.addrs.resize(n, zero_addr);
    scratch.headers.resize(n, zero_hdr);
    for (i, item) in items.iter().enumerate() {
        let len = write_sockaddr(&item.to, &mut scratch.addrs[i]);
        scratch.iovecs.push(libc::iovec {
            iov_base: item.payload.as_ptr() as *mut libc::c_void,
            iov_len: item.payload.len(),
        });
        scratch.headers[i].msg_hdr.msg_namelen = len;
    }
    for i in 0..n {
        let hdr = &mut scratch.headers[i].msg_hdr;
        hdr.msg_name = (&mut scratch.addrs[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_iov = &mut scratch.iovecs[i];
        hdr.msg_iovlen = 1;
    }
    let mut sent = 0usize;
    let mut start = 0usize;
    while start < n {
        // SAFETY: headers[start..n] point at live addresses/iovecs in `scratch`, whose iovecs
        // point at the payload slices borrowed for the duration of this call.
        let ret = unsafe {
            libc::sendmmsg(
                fd,
                scratch.headers.as_mut_ptr().add(start),
                (n - start) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if ret <= 0 {
            if stop_when_blocked
                && ret < 0
                && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
            {
                break;
            }
            // The datagram at `start` failed (full buffer, unreachable...): skip it.
            *errors += 1;
            start += 1;
        } else {
            sent += ret as usize;
            start += ret as usize;
        }
    }
    sent
}

// ---------------------------------------------------------------------------------------------
// epoll

pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the returned fd is owned by us from here on.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Registers `fd` for level-triggered readability, tagged with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits for readiness; returns the tokens of ready descriptors in `out`.
    pub fn wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        timeout: Option<Duration>,
        out: &mut Vec<u64>,
    ) -> io::Result<()> {
        out.clear();
        let timeout_ms: libc::c_int = match timeout {
            None => -1,
            // Round up so a 0.4 ms deadline does not spin.
            Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int,
        };
        let cap = events.capacity().max(1);
        events.clear();
        // SAFETY: the kernel writes at most `cap` events into the vector's spare capacity; we
        // set the length to what it reports.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                cap as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err);
        }
        // SAFETY: the kernel initialised the first `n` (<= cap) entries.
        unsafe { events.set_len(n as usize) };
        out.extend(events.iter().map(|e| e.u64));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// eventfd

/// A nonblocking eventfd used to wake a sleeping shard.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to the eventfd counter (wakes its poller). EAGAIN (counter saturated) is fine: the
/// reader is already due to wake.
pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Resets the eventfd counter.
pub fn eventfd_clear(fd: RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64.
    let _ = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
}

// ---------------------------------------------------------------------------------------------
// Signals

/// Blocks `signals` for the calling thread (and the threads it spawns afterwards), so that
/// they are delivered only through a signalfd.
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    let set = sigset(signals);
    // SAFETY: `set` is an initialised sigset_t.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset only touches the initialised set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        set.assume_init()
    }
}

/// A signalfd receiving `signals` (which must be blocked first, see [`block_signals`]).
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: valid sigset; -1 asks for a new fd, owned from here on.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocks until a signal arrives on `fd` or `timeout` passes; returns the signal number.
pub fn read_signal(fd: RawFd, timeout: Duration) -> io::Result<Option<libc::c_int>> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(None);
        }
        return Err(err);
    }
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: all-zero is a valid signalfd_siginfo.
    let mut info: libc::signalfd_siginfo = unsafe { mem::zeroed() };
    let size = mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most `size` bytes into `info`.
    let r = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
    if r as usize != size {
        return Ok(None);
    }
    Ok(Some(info.ssi_signo as libc::c_int))
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
// Resource limits

/// The process's RLIMIT_NOFILE before and after [`raise_nofile_limit`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit found at start-up.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit means the kernel's
/// `fs.nr_open`, the most a process may hold). Every media port is a socket: the default soft
/// limit (often 1024) would cap a shard at a few hundred calls.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    // SAFETY: all-zero is a valid rlimit.
    let mut limit: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: getrlimit writes into the live rlimit it is given.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    let before = limit.rlim_cur;
    let mut target = limit.rlim_max;
    if target == libc::RLIM_INFINITY {
        target = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if target > before {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit it is given; raising the soft limit up to the
        // hard one needs no privilege.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) })?;
        limit.rlim_cur = target;
    }
    Ok(NofileLimit {
        before,
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

// ---------------------------------------------------------------------------------------------
// Process facts (for the admin API's process metrics)

/// The page size (statm counts pages) and the clock tick (stat counts CPU time in ticks).
pub fn page_size_and_clock_ticks() -> (u64, u64) {
    // SAFETY: sysconf reads a constant of the system; it has no memory arguments.
    let (page, ticks) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    (
        u64::try_from(page).unwrap_or(4096),
        u64::try_from(ticks).unwrap_or(100),
    )
}

// ---------------------------------------------------------------------------------------------
// Socket buffers beyond net.core.rmem_max / wmem_max

/// Sets a socket's receive and send buffers to `bytes` with SO_RCVBUFFORCE / SO_SNDBUFFORCE,
/// which may exceed net.core.rmem_max / wmem_max but need CAP_NET_ADMIN. Errors (EPERM without
/// the capability) leave the buffers as they were; the caller then asks the ordinary way.
pub fn force_buffer_sizes(fd: RawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: setsockopt reads exactly size_of::<c_int>() bytes from the live `value`.
        cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
    }
    Ok(())
}

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
