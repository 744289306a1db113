//! A leg moved to new local ports by `MediaCommand::Update` (a transfer bridged the customer to
//! a new party C): the relay binds the new pair, relays customer <-> C through it, sends to C
//! from the new port, and closes the old pair (its port can be bound again). Both backends.

#[path = "runtime_support/netns.rs"]
mod netns;
#[path = "runtime_support/pump.rs"]
mod pump;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSources, ShardId};
use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend(seq.to_be_bytes());
    p.extend((u32::from(seq) * 160).to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend([0xD5u8; 160]);
    p
}

/// The first `count` datagrams on (non-blocking) `socket`, waiting up to [`pump::WAIT`] for
/// them: (source, SSRC).
fn collect(socket: &UdpSocket, count: usize) -> Vec<(SocketAddr, u32)> {
    let deadline = Instant::now() + pump::WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        out.extend(received(socket));
        assert!(
            Instant::now() < deadline,
            "only {out:?} arrived within {:?}",
            pump::WAIT
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    out.extend(received(socket));
    out
}

/// Every datagram waiting on `socket`: (source, SSRC).
fn received(socket: &UdpSocket) -> Vec<(SocketAddr, u32)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        if n >= 12 {
            out.push((from, u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])));
        }
    }
    out
}

fn leg(port: u16, peer: &UdpSocket) -> MediaLeg {
    MediaLeg {
        local_port: port,
        remote_rtp: Some(peer.local_addr().unwrap()),
        remote_rtcp: None,
        rtcp_mux: false,
        // The peers are on loopback: the trunk's peer IP (strict media sources).
        sources: MediaSources {
            peer: Some(LOOPBACK),
            ..Default::default()
        },
    }
}

fn scenario<B: Backend>(mut backend: B, a_port: u16, b_port: u16, c_port: u16) {
    let mut relay = MediaRelay::new(LOOPBACK);
    let customer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&customer, &b, &c] {
        s.set_nonblocking(true).unwrap();
    }
    let call = CallRef {
        shard: ShardId(0),
        seq: 5,
    };
    relay
        .command(
            &mut backend,
            MediaCommand::Open {
                call,
                a: leg(a_port, &customer),
                b: leg(b_port, &b),
            },
        )
        .unwrap();
    customer.send_to(&rtp(0xA, 1), (LOOPBACK, a_port)).unwrap();
    b.send_to(&rtp(0xB, 1), (LOOPBACK, b_port)).unwrap();
    pump::until(&mut backend, &mut relay, "A -> B and B -> A", |relay| {
        relay.stats().relayed >= 2
    });
    assert_eq!(
        collect(&b, 1),
        vec![(SocketAddr::new(LOOPBACK, b_port), 0xA)]
    );
    assert_eq!(
        collect(&customer, 1),
        vec![(SocketAddr::new(LOOPBACK, a_port), 0xB)]
    );

    // Leg B moves to C on new ports.
    relay
        .command(
            &mut backend,
            MediaCommand::Update {
                call,
                a: leg(a_port, &customer),
                b: leg(c_port, &c),
            },
        )
        .unwrap();
    customer.send_to(&rtp(0xA, 2), (LOOPBACK, a_port)).unwrap();
    c.send_to(&rtp(0xC, 1), (LOOPBACK, c_port)).unwrap();
    // Late packets from B toward the old port reach nobody.
    let _ = b.send_to(&rtp(0xB, 2), (LOOPBACK, b_port));
    pump::until(&mut backend, &mut relay, "customer <-> C", |relay| {
        relay.stats().relayed >= 4
    });
    assert_eq!(
        collect(&c, 1),
        vec![(SocketAddr::new(LOOPBACK, c_port), 0xA)],
        "the customer's media reaches C from the new port"
    );
    assert_eq!(
        collect(&customer, 1),
        vec![(SocketAddr::new(LOOPBACK, a_port), 0xC)],
        "C's media reaches the customer, and only C's"
    );
    assert!(received(&b).is_empty(), "B hears nothing more");
    // (io_uring closes the old pair with a later submission.)
    pump::until(
        &mut backend,
        &mut relay,
        "old ports released after the move",
        |_| {
            [b_port, b_port + 1]
                .iter()
                .all(|&port| UdpSocket::bind((LOOPBACK, port)).is_ok())
        },
    );
    for port in [c_port, c_port + 1] {
        assert!(
            UdpSocket::bind((LOOPBACK, port)).is_err(),
            "new port {port} is bound by the relay"
        );
    }
    let counters = relay.counters_for(call).expect("call still open");
    assert_eq!(counters.a_to_b_packets, 2, "counters survive the move");
    assert_eq!(counters.b_to_a_packets, 2);

    relay.close(&mut backend, call);
    // io_uring releases closed sockets with the next submission.
    pump::until(
        &mut backend,
        &mut relay,
        "ports closed with the call",
        |_| {
            [a_port, c_port]
                .iter()
                .all(|&port| UdpSocket::bind((LOOPBACK, port)).is_ok())
        },
    );
}

#[test]
fn epoll_leg_moves_to_new_ports() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        EpollBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9900,
        9910,
        9920,
    );
}

#[test]
fn uring_leg_moves_to_new_ports() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9930,
        9940,
        9950,
    );
}
