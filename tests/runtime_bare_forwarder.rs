//! The bare forwarder (perf baseline) moves packets between the two sockets of a pair on both
//! backends, toward the last source seen on the far socket.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::bare::{BareForwarder, run_bare};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn scenario<B: Backend + 'static>(mut backend: B, port_a: u16, port_b: u16) {
    let mut forwarder = BareForwarder::new();
    forwarder
        .add_pair(&mut backend, LOOPBACK, port_a, port_b)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        run_bare(&mut backend, &mut forwarder, &stop2).unwrap();
        forwarder
    });
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // B announces itself first (its packet has nowhere to go yet), then A's packets reach B.
    b.send_to(b"hello", (LOOPBACK, port_b)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..20u8 {
        a.send_to(&[i; 100], (LOOPBACK, port_a)).unwrap();
    }
    b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
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
