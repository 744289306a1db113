//! A leg that moves to new ports and straight back (a transfer target in early media, then
//! cancelled because the carrier accepted the REFER after all) gets its old port again, on both
//! backends. io_uring closes a socket asynchronously, so the port can still be bound when the
//! relay asks for it again; since a media failure now fails the call (issue 9, protection 6), the
//! backend must wait for that close instead of reporting the port busy. Found by
//! `border_carrier_timing::a_late_carrier_202_cancels_the_local_fallback` on a loaded machine.

#[path = "runtime_support/netns.rs"]
mod netns;
#[path = "runtime_support/pump.rs"]
mod pump;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSources, ShardId};
use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

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

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend(seq.to_be_bytes());
    p.extend([0u8; 8]);
    p.extend([0xD5u8; 160]);
    p
}

fn scenario<B: Backend>(mut backend: B, a_port: u16, b_port: u16, c_port: u16) {
    let mut relay = MediaRelay::new(LOOPBACK);
    let customer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_nonblocking(true).unwrap();
    let call = CallRef {
        shard: ShardId(0),
        seq: 9,
    };
    let open = MediaCommand::Open {
        call,
        a: leg(a_port, &customer),
        b: leg(b_port, &b),
    };
    relay.command(&mut backend, open).unwrap();
    // To C's ports and straight back, with no loop turn in between.
    for (port, peer) in [(c_port, &c), (b_port, &b)] {
        let update = MediaCommand::Update {
            call,
            a: leg(a_port, &customer),
            b: leg(port, peer),
        };
        relay
            .command(&mut backend, update)
            .unwrap_or_else(|e| panic!("{}: move to {port}: {e}", backend.name()));
    }
    // And B's media flows through its port again.
    customer.send_to(&rtp(1), (LOOPBACK, a_port)).unwrap();
    pump::until(&mut backend, &mut relay, "customer -> B", |relay| {
        relay.stats().relayed >= 1
    });
    let mut buf = [0u8; 2048];
    let deadline = std::time::Instant::now() + pump::WAIT;
    let from = loop {
        if let Ok((_, from)) = b.recv_from(&mut buf) {
            break from;
        }
        assert!(std::time::Instant::now() < deadline, "nothing reached B");
        pump::turn(&mut backend, &mut relay);
    };
    assert_eq!(from, SocketAddr::new(LOOPBACK, b_port));
    relay.close(&mut backend, call);
}

#[test]
fn epoll_leg_moves_away_and_back() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        EpollBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        24600,
        24610,
        24620,
    );
}

#[test]
fn uring_leg_moves_away_and_back() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        24630,
        24640,
        24650,
    );
}
