//! A leg moved to new local ports by `MediaCommand::Update` (a transfer bridged the customer to
//! a new party C): the relay binds the new pair, relays customer <-> C through it, sends to C
//! from the new port, and closes the old pair (its port can be bound again). Both backends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::core::{CallRef, MediaCommand, MediaLeg, ShardId};
use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
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

fn pump<B: Backend>(backend: &mut B, relay: &mut MediaRelay, duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        backend.wait(Some(Duration::from_millis(5))).unwrap();
        backend
            .dispatch(&mut |incoming, outbox| {
                if let Incoming::Media {
                    socket,
                    from,
                    payload,
                } = incoming
                {
                    relay.on_packet(socket, from, payload, outbox);
                }
            })
            .unwrap();
        backend.flush().unwrap();
    }
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
    pump(&mut backend, &mut relay, Duration::from_millis(60));
    assert_eq!(received(&b), vec![(SocketAddr::new(LOOPBACK, b_port), 0xA)]);
    assert_eq!(
        received(&customer),
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
    pump(&mut backend, &mut relay, Duration::from_millis(60));
    assert_eq!(
        received(&c),
        vec![(SocketAddr::new(LOOPBACK, c_port), 0xA)],
        "the customer's media reaches C from the new port"
    );
    assert_eq!(
        received(&customer),
        vec![(SocketAddr::new(LOOPBACK, a_port), 0xC)],
        "C's media reaches the customer, and only C's"
    );
    assert!(received(&b).is_empty(), "B hears nothing more");
    for port in [b_port, b_port + 1] {
        UdpSocket::bind((LOOPBACK, port))
            .unwrap_or_else(|e| panic!("old port {port} still bound after the move: {e}"));
    }
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
    pump(&mut backend, &mut relay, Duration::from_millis(20));
    for port in [a_port, c_port] {
        UdpSocket::bind((LOOPBACK, port)).expect("closed with the call");
    }
}

#[test]
fn epoll_leg_moves_to_new_ports() {
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
