//! The relay's socket side on both backends: RTP and RTCP from leg A's peer come out of leg B's
//! sockets to B's peer (and back), garbage is dropped and counted, and after close nothing more
//! is relayed and the call's counters are final.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::core::{CallRef, MediaCommand, MediaLeg, ShardId};
use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef]);
    p.extend_from_slice(&[0xff; 160]);
    p
}

fn rtcp_sender_report() -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&[0u8; 24]);
    p
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn pump<B: Backend>(backend: &mut B, relay: &mut MediaRelay, for_: Duration) {
    let until = Instant::now() + for_;
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

fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    s.recv_from(&mut buf)
        .ok()
        .map(|(n, from)| (buf[..n].to_vec(), from))
}

fn relay_scenario<B: Backend>(mut backend: B, a_port: u16, b_port: u16) {
    let mut relay = MediaRelay::new(LOOPBACK);
    let (a_rtp, a_rtcp, b_rtp, b_rtcp) = (peer(), peer(), peer(), peer());
    let call = CallRef {
        shard: ShardId(0),
        seq: 1,
    };
    let leg = |port, rtp: &UdpSocket, rtcp: &UdpSocket| MediaLeg {
        local_port: port,
        remote_rtp: Some(rtp.local_addr().unwrap()),
        remote_rtcp: Some(rtcp.local_addr().unwrap()),
        rtcp_mux: false,
    };
    relay
        .command(
            &mut backend,
            MediaCommand::Open {
                call,
                a: leg(a_port, &a_rtp, &a_rtcp),
                b: leg(b_port, &b_rtp, &b_rtcp),
            },
        )
        .unwrap();

    // A -> B, RTP.
    for seq in 0..10 {
        a_rtp.send_to(&rtp(seq), (LOOPBACK, a_port)).unwrap();
    }
    pump(&mut backend, &mut relay, Duration::from_millis(100));
    for seq in 0..10 {
        let (bytes, from) = recv(&b_rtp).expect("RTP relayed to B");
        assert_eq!(bytes, rtp(seq), "unchanged, in order");
        assert_eq!(
            from,
            SocketAddr::new(LOOPBACK, b_port),
            "from leg B's RTP socket"
        );
    }
    // B -> A, RTP, and RTCP both ways.
    b_rtp.send_to(&rtp(77), (LOOPBACK, b_port)).unwrap();
    a_rtcp
        .send_to(&rtcp_sender_report(), (LOOPBACK, a_port + 1))
        .unwrap();
    pump(&mut backend, &mut relay, Duration::from_millis(100));
    let (bytes, from) = recv(&a_rtp).expect("RTP relayed to A");
    assert_eq!((bytes, from), (rtp(77), SocketAddr::new(LOOPBACK, a_port)));
    let (bytes, from) = recv(&b_rtcp).expect("RTCP relayed to B");
    assert_eq!(
        (bytes, from),
        (rtcp_sender_report(), SocketAddr::new(LOOPBACK, b_port + 1))
    );

    // Garbage (RTP version 0) is dropped and counted.
    a_rtp.send_to(&[0u8; 20], (LOOPBACK, a_port)).unwrap();
    pump(&mut backend, &mut relay, Duration::from_millis(50));
    assert!(recv(&b_rtp).is_none(), "garbage is not relayed");

    // Close: counters final, ports released, nothing more relayed.
    relay
        .command(&mut backend, MediaCommand::Close { call })
        .unwrap();
    backend.flush().unwrap();
    let counters = relay
        .counters_for(call)
        .expect("counters of the closed call");
    assert_eq!(counters.a_to_b_packets, 11, "10 RTP + 1 RTCP: {counters:?}");
    assert_eq!(counters.b_to_a_packets, 1);
    assert_eq!(counters.a_to_b_bytes, 10 * rtp(0).len() as u64 + 28);
    assert_eq!(counters.dropped, 1);
    a_rtp.send_to(&rtp(99), (LOOPBACK, a_port)).unwrap();
    pump(&mut backend, &mut relay, Duration::from_millis(50));
    assert!(recv(&b_rtp).is_none(), "nothing relayed after close");
    assert_eq!(relay.open_calls(), 0);
    // The ports are free again.
    UdpSocket::bind((LOOPBACK, a_port)).expect("port released");
}

#[test]
fn epoll_relays_rtp_and_rtcp_between_legs() {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backend = EpollBackend::new(sip, ShardWaker::new().unwrap(), 16).unwrap();
    relay_scenario(backend, 9600, 9610);
}

#[test]
fn uring_relays_rtp_and_rtcp_between_legs() {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backend = UringBackend::new(sip, ShardWaker::new().unwrap(), 16).unwrap();
    relay_scenario(backend, 9620, 9630);
}
