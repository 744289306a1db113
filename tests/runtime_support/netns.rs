//! A private network namespace per test, so that no other process (another test binary, SIPp,
//! another engineer's build running its own tests) can take a port a test has chosen.
//!
//! `enter()` moves the calling thread — the test's own thread: libtest runs every test on a
//! thread of its own — into a fresh network namespace (`unshare(CLONE_NEWNET)`, which Linux
//! allows in a multi-threaded process and which changes only the calling thread) and brings its
//! loopback interface up. Everything the test then creates inherits it: its sockets, the threads
//! it spawns, and the processes it starts (`handoff`, `sipp`). Inside, every port is the test's,
//! so tests use fixed ports ([`udp_addr`]) instead of "a port that was free a moment ago".
//!
//! This needs CAP_SYS_ADMIN (CI runs the suite as root). Without it, `enter()` says so on stderr
//! and the test runs in the shared namespace, where [`udp_addr`] falls back to asking the
//! kernel for a free port (racy against other processes, as before).
#![allow(dead_code)]

use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};

thread_local! {
    static PRIVATE: Cell<bool> = const { Cell::new(false) };
}

/// Moves the calling thread into a new network namespace with loopback up; returns whether it
/// did (false: not permitted here, the test shares the host's namespace).
pub fn enter() -> bool {
    // SAFETY: unshare(2) with CLONE_NEWNET only changes the calling thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
            eprintln!(
                "note: no private network namespace ({err}; run as root for one): this test \
                 uses the shared loopback, where another process can take its ports"
            );
            PRIVATE.with(|p| p.set(false));
            return false;
        }
        panic!("unshare(CLONE_NEWNET): {err}");
    }
    loopback_up();
    PRIVATE.with(|p| p.set(true));
    true
}

/// Whether the calling thread is in a namespace of its own (see [`enter`]).
pub fn is_private() -> bool {
    PRIVATE.with(Cell::get)
}

/// `ip link set lo up`, done with SIOCSIFFLAGS on a socket of the new namespace.
fn loopback_up() {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name is a NUL-terminated "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let rc = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req);
        assert!(
            rc == 0,
            "SIOCGIFFLAGS lo: {}",
            std::io::Error::last_os_error()
        );
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        let rc = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req);
        assert!(
            rc == 0,
            "SIOCSIFFLAGS lo: {}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

/// A loopback address for a process the test starts: `port` itself in a private namespace
/// (nothing else can hold it there), otherwise a port the kernel reported free a moment ago.
pub fn udp_addr(port: u16) -> SocketAddr {
    if is_private() {
        SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("bind an ephemeral loopback UDP port")
    }
}
