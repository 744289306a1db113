//! The relay's socket side on both backends: RTP and RTCP from leg A's peer come out of leg B's
//! sockets to B's peer (and back), garbage is dropped and counted, and after close nothing more
//! is relayed and the call's counters are final.
//!
//! The relay loop runs until the relay has handled what the test sent (its counters say so),
//! not for a fixed time; the peers then read with a generous timeout.

#[path = "runtime_support/netns.rs"]
mod netns;
#[path = "runtime_support/pump.rs"]
mod pump;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSources, ShardId};
use handoff::runtime::backend::{Backend, ShardWaker};
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
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// The next datagram on `s`, waiting up to `within`.
fn recv_within(s: &UdpSocket, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    s.set_read_timeout(Some(within)).unwrap();
    s.recv_from(&mut buf)
        .ok()
        .map(|(n, from)| (buf[..n].to_vec(), from))
}

/// A datagram the relay has already sent: it is on its way or there.
fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    recv_within(s, pump::WAIT)
}

/// Whether anything arrives on `s` within a short window (for "nothing is relayed" checks,
/// made after the relay counted the packet as dropped, or after its socket closed).
fn nothing_arrives(s: &UdpSocket) -> bool {
    recv_within(s, Duration::from_millis(300)).is_none()
}

fn relay_scenario<B: Backend>(mut backend: B, a_port: u16, b_port: u16) {
    let relayed = |n: u64| move |relay: &mut MediaRelay| relay.stats().relayed >= n;
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
        // The peers are on loopback: the trunk's peer IP (strict media sources).
        sources: MediaSources {
            peer: Some(LOOPBACK),
            ..Default::default()
        },
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
    pump::until(
        &mut backend,
        &mut relay,
        "10 RTP packets A -> B",
        relayed(10),
    );
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
    pump::until(&mut backend, &mut relay, "RTP B -> A and RTCP", relayed(12));
    let (bytes, from) = recv(&a_rtp).expect("RTP relayed to A");
    assert_eq!((bytes, from), (rtp(77), SocketAddr::new(LOOPBACK, a_port)));
    let (bytes, from) = recv(&b_rtcp).expect("RTCP relayed to B");
    assert_eq!(
        (bytes, from),
        (rtcp_sender_report(), SocketAddr::new(LOOPBACK, b_port + 1))
    );

    // Garbage (RTP version 0) is dropped and counted.
    a_rtp.send_to(&[0u8; 20], (LOOPBACK, a_port)).unwrap();
    pump::until(&mut backend, &mut relay, "garbage dropped", |relay| {
        relay.stats().dropped >= 1
    });
    assert!(nothing_arrives(&b_rtp), "garbage is not relayed");
    assert_eq!(relay.stats().relayed, 12, "garbage is not relayed");

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
    pump::window(&mut backend, &mut relay, Duration::from_millis(50));
    assert!(nothing_arrives(&b_rtp), "nothing relayed after close");
    assert_eq!(relay.stats().relayed, 12, "nothing relayed after close");
    assert_eq!(relay.open_calls(), 0);
    // The ports are free again (io_uring closes with its next submission).
    pump::until(&mut backend, &mut relay, "port released", |_| {
        UdpSocket::bind((LOOPBACK, a_port)).is_ok()
    });
}

#[test]
fn epoll_relays_rtp_and_rtcp_between_legs() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backend = EpollBackend::new(sip, ShardWaker::new().unwrap(), 16).unwrap();
    relay_scenario(backend, 9600, 9610);
}

#[test]
fn uring_relays_rtp_and_rtcp_between_legs() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backend = UringBackend::new(sip, ShardWaker::new().unwrap(), 16).unwrap();
    relay_scenario(backend, 9620, 9630);
}
