//! A shard asleep in `wait` wakes promptly when another shard flushes a batch with
//! `wake_peer` (MSG_RING on io_uring, eventfd on epoll), and when the control thread writes its
//! eventfd.
//!
//! No stopwatch: the sleeper waits for up to an hour, the wake is sent once it is blocked in
//! the backend's wait syscall (seen in /proc), and the test waits a generous 30 s for it to come
//! back; a wake that does not work leaves it asleep far beyond that.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff::runtime::backend::{Backend, ShardWaker, WakeTarget};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::uring::UringBackend;

fn sip() -> std::net::SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// How long the sleeper may sleep when nothing wakes it.
const SLEEP: Duration = Duration::from_secs(3600);
/// How long the test waits for the woken sleeper: generous, for busy machines.
const WAIT: Duration = Duration::from_secs(30);

/// The wait syscalls of the two backends (epoll_wait may be implemented as epoll_pwait).
fn wait_syscalls() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_io_uring_enter,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.push(libc::SYS_epoll_wait);
    calls
}

/// Waits until thread `tid` of this process is blocked in a backend's wait syscall.
fn until_blocked_in_wait(tid: i32) {
    let path = format!("/proc/self/task/{tid}/syscall");
    let waits = wait_syscalls();
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let number = text.split_whitespace().next().and_then(|n| n.parse().ok());
        if number.is_some_and(|n: i64| waits.contains(&n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sleeper never blocked in its wait ({path}: {text:?})"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Puts `sleeper` to sleep for up to [`SLEEP`] in another thread, then, once it is blocked in
/// its wait, runs `wake`; the sleeper must come back (long before [`SLEEP`] is over).
fn assert_wakes<B: Backend + 'static>(mut sleeper: B, wake: impl FnOnce()) -> B {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        sleeper.wait(Some(SLEEP)).unwrap();
        sleeper.dispatch(&mut |_, _| {}).unwrap();
        sleeper.flush().unwrap();
        let _ = done_tx.send(sleeper);
    });
    until_blocked_in_wait(tid_rx.recv().unwrap());
    wake();
    done_rx
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("the sleeper was not woken (still asleep {WAIT:?} later)"))
}

#[test]
fn uring_shard_wakes_on_msg_ring_and_on_eventfd() {
    netns::enter();
    let wakers = [ShardWaker::new().unwrap(), ShardWaker::new().unwrap()];
    let mut a = UringBackend::new(sip(), wakers[0].clone(), 4).unwrap();
    let mut b = UringBackend::new(sip(), wakers[1].clone(), 4).unwrap();
    let peers: Arc<[WakeTarget]> = Arc::from(vec![
        WakeTarget {
            eventfd: wakers[0].raw_fd(),
            ring_fd: Some(a.ring_fd()),
        },
        WakeTarget {
            eventfd: wakers[1].raw_fd(),
            ring_fd: Some(b.ring_fd()),
        },
    ]);
    a.set_peers(peers.clone());
    b.set_peers(peers);
    let b = assert_wakes(b, || {
        a.wake_peer(1);
        a.flush().unwrap();
    });
    let waker = wakers[1].clone();
    let _b = assert_wakes(b, move || waker.wake());
}

#[test]
fn epoll_shard_wakes_on_eventfd_from_a_peer_and_from_control() {
    netns::enter();
    let wakers = [ShardWaker::new().unwrap(), ShardWaker::new().unwrap()];
    let mut a = EpollBackend::new(sip(), wakers[0].clone(), 4).unwrap();
    let mut b = EpollBackend::new(sip(), wakers[1].clone(), 4).unwrap();
    let peers: Arc<[WakeTarget]> = wakers
        .iter()
        .map(|w| WakeTarget {
            eventfd: w.raw_fd(),
            ring_fd: None,
        })
        .collect();
    a.set_peers(peers.clone());
    b.set_peers(peers);
    let b = assert_wakes(b, || {
        a.wake_peer(1);
        a.flush().unwrap();
    });
    let waker = wakers[1].clone();
    let _b = assert_wakes(b, move || waker.wake());
}
