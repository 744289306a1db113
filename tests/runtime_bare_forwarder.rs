//! The bare forwarder (perf baseline) moves packets between the two sockets of a pair on both
//! backends, toward the last source seen on the far socket.
//!
//! B must announce itself before A's packets can go anywhere: the test turns the loop itself
//! until the forwarder has seen B's packet (its drop counter says so), then hands it to
//! `run_bare` on a thread of its own for the rest, instead of sleeping and hoping.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::bare::{BareForwarder, run_bare};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn scenario<B: Backend + 'static>(mut backend: B, port_a: u16, port_b: u16) {
    let mut forwarder = BareForwarder::new();
    forwarder
        .add_pair(&mut backend, LOOPBACK, port_a, port_b)
        .unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    // B announces itself first (its packet has nowhere to go yet).
    b.send_to(b"hello", (LOOPBACK, port_b)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while forwarder.dropped == 0 {
        assert!(Instant::now() < deadline, "B's first packet never seen");
        backend.wait(Some(Duration::from_millis(5))).unwrap();
        backend
            .dispatch(&mut |incoming, outbox| {
                if let Incoming::Media {
                    socket,
                    from,
                    payload,
                } = incoming
                {
                    forwarder.on_packet(socket, from, payload, outbox);
                }
            })
            .unwrap();
        backend.flush().unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        run_bare(&mut backend, &mut forwarder, &stop2).unwrap();
        forwarder
    });
    a.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Now A's packets reach B.
    for i in 0..20u8 {
        a.send_to(&[i; 100], (LOOPBACK, port_a)).unwrap();
    }
    b.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 256];
    for i in 0..20u8 {
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 100]);
        assert_eq!(from.port(), port_b);
    }
    // And back: B's packets reach A, whose source is known now.
    b.send_to(b"back", (LOOPBACK, port_b)).unwrap();
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.port()), (&b"back"[..], port_a));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let forwarder = thread.join().unwrap();
    assert_eq!(forwarder.forwarded, 21);
    assert_eq!(
        forwarder.dropped, 1,
        "the first packet from B had no destination"
    );
}

#[test]
fn bare_forwarder_on_epoll() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        EpollBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9640,
        9650,
    );
}

#[test]
fn bare_forwarder_on_uring() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9660,
        9670,
    );
}
