//! The epoll backend's batched UDP path (nix's recvmmsg and sendmmsg into preallocated headers,
//! `uring_sys::RecvBatch` / `SendScratch`) allocates nothing per batch once built: the RTP
//! fast path must not allocate. Also: what was sent comes back with its source and payload, and
//! a burst longer than one system call's headers still goes out whole.

use std::alloc::System;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use handoff::runtime::uring_sys::{self, MAX_BATCH, RecvBatch, SendItem, SendScratch};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const BURST: usize = 100;

/// Receives until `want` datagrams came in (or a second passed); returns (count, payload bytes,
/// sources that were `to`'s peer).
fn receive(fd: i32, batch: &mut RecvBatch, want: usize, from: SocketAddr) -> (usize, usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let (mut count, mut bytes, mut sourced) = (0, 0, 0);
    while count < want && Instant::now() < deadline {
        let n = uring_sys::recvmmsg(fd, batch).expect("recvmmsg");
        for i in 0..n {
            let (source, payload, truncated) = batch.get(i).expect("received datagram");
            assert!(!truncated);
            count += 1;
            bytes += payload.len();
            sourced += usize::from(source == Some(from));
        }
    }
    (count, bytes, sourced)
}

#[test]
fn recvmmsg_and_sendmmsg_allocate_nothing_per_batch() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_nonblocking(true).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let from = tx.local_addr().unwrap();
    let payload = [0xd5u8; 172];
    let mut batch = RecvBatch::new(MAX_BATCH, 2048);
    let mut scratch = SendScratch::new(MAX_BATCH);
    let items: Vec<SendItem<'_>> = (0..BURST)
        .map(|_| SendItem {
            to,
            payload: &payload,
        })
        .collect();
    let mut errors = 0u64;
    // Warm up (lazy statics, first use of anything).
    let sent = uring_sys::sendmmsg(tx.as_raw_fd(), &items, &mut scratch, &mut errors);
    assert_eq!(sent, BURST);
    assert_eq!(
        receive(rx.as_raw_fd(), &mut batch, BURST, from),
        (BURST, BURST * 172, BURST)
    );

    let region = Region::new(GLOBAL);
    let mut total = (0, 0, 0);
    for _ in 0..5 {
        let sent = uring_sys::sendmmsg(tx.as_raw_fd(), &items, &mut scratch, &mut errors);
        assert_eq!(sent, BURST);
        let got = receive(rx.as_raw_fd(), &mut batch, BURST, from);
        total = (total.0 + got.0, total.1 + got.1, total.2 + got.2);
    }
    let stats = region.change();
    assert_eq!(errors, 0);
    assert_eq!(total, (5 * BURST, 5 * BURST * 172, 5 * BURST));
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "the batched UDP path allocated: {stats:?}"
    );
}

#[test]
fn an_ipv6_source_after_ipv4_ones_in_the_same_batch_is_read_whole() {
    // One batch shared by sockets of both families: nix leaves the last address length in each
    // header (nix-rust/nix#2813); the batch must never report a source cut short.
    let Ok(rx6) = UdpSocket::bind("[::1]:0") else {
        return; // No IPv6 loopback here.
    };
    rx6.set_nonblocking(true).unwrap();
    let rx4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx4.set_nonblocking(true).unwrap();
    let tx4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx6 = UdpSocket::bind("[::1]:0").unwrap();
    let mut batch = RecvBatch::new(4, 256);
    for round in 0..3 {
        tx4.send_to(b"v4", rx4.local_addr().unwrap()).unwrap();
        let (n, _, sourced) = receive(rx4.as_raw_fd(), &mut batch, 1, tx4.local_addr().unwrap());
        assert_eq!((n, sourced), (1, 1), "round {round}, IPv4");
        tx6.send_to(b"v6", rx6.local_addr().unwrap()).unwrap();
        let from6 = tx6.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut seen = None;
        while seen.is_none() && Instant::now() < deadline {
            if uring_sys::recvmmsg(rx6.as_raw_fd(), &mut batch).unwrap() > 0 {
                seen = batch
                    .get(0)
                    .map(|(source, payload, _)| (source, payload.to_vec()));
            }
        }
        let (source, payload) = seen.expect("the IPv6 datagram");
        assert_eq!(payload, b"v6");
        // Either the right source, or none (dropped by the callers): never a wrong one.
        assert!(
            source.is_none() || source == Some(from6),
            "round {round}: {source:?}"
        );
    }
    // The kernel wrote the full length back: the slot has room for IPv6 again.
    tx6.send_to(b"v6", rx6.local_addr().unwrap()).unwrap();
    let (n, _, sourced) = receive(rx6.as_raw_fd(), &mut batch, 1, tx6.local_addr().unwrap());
    assert_eq!((n, sourced), (1, 1));
}
