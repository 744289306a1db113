//! A shard asleep in `wait` wakes promptly when another shard flushes a batch with
//! `wake_peer` (MSG_RING on io_uring, eventfd on epoll), and when the control thread writes its
//! eventfd.

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

/// Puts `sleeper` to sleep for up to 10 s in another thread, then runs `wake`; the sleeper must
/// be back within 1 s.
fn assert_wakes<B: Backend + 'static>(mut sleeper: B, wake: impl FnOnce()) -> B {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        tx.send(()).unwrap();
        let started = Instant::now();
        sleeper.wait(Some(Duration::from_secs(10))).unwrap();
        sleeper.dispatch(&mut |_, _| {}).unwrap();
        sleeper.flush().unwrap();
        (sleeper, started.elapsed())
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    wake();
    let (sleeper, slept) = handle.join().unwrap();
    assert!(slept < Duration::from_secs(1), "slept {slept:?}");
    sleeper
}

#[test]
fn uring_shard_wakes_on_msg_ring_and_on_eventfd() {
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
