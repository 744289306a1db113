//! When the legs negotiated different G.711 laws, the relay's socket side sends the transcoded
//! packet (payload type and samples rewritten in the outbox copy); same laws pass unchanged.
//! Both backends.

#[path = "runtime_support/netns.rs"]
mod netns;
#[path = "runtime_support/pump.rs"]
mod pump;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSources, ShardId};
use handoff::media::g711::{G711Law, ULAW_TO_ALAW};
use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ulaw_packet() -> Vec<u8> {
    let mut p = vec![0x80, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    p.extend((0..160u32).map(|i| (i * 37 % 256) as u8));
    p
}

fn scenario<B: Backend>(mut backend: B, a_port: u16, b_port: u16) {
    let mut relay = MediaRelay::new(LOOPBACK);
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(pump::WAIT)).unwrap();
    let call = CallRef {
        shard: ShardId(0),
        seq: 9,
    };
    let leg = |port, s: &UdpSocket| MediaLeg {
        local_port: port,
        remote_rtp: Some(s.local_addr().unwrap()),
        remote_rtcp: None,
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
                a: leg(a_port, &a),
                b: leg(b_port, &b),
            },
        )
        .unwrap();
    relay
        .set_laws(call, Some(G711Law::Ulaw), Some(G711Law::Alaw))
        .unwrap();
    a.send_to(&ulaw_packet(), (LOOPBACK, a_port)).unwrap();
    pump::until(&mut backend, &mut relay, "the packet relayed", |relay| {
        relay.stats().relayed >= 1
    });
    let mut buf = [0u8; 2048];
    let (n, _) = b.recv_from(&mut buf).expect("relayed");
    let sent = ulaw_packet();
    assert_eq!(n, sent.len());
    assert_eq!(buf[1] & 0x7f, 8, "payload type rewritten to PCMA");
    assert_eq!(&buf[2..12], &sent[2..12], "seq, timestamp, SSRC untouched");
    let expected: Vec<u8> = sent[12..]
        .iter()
        .map(|&s| ULAW_TO_ALAW[s as usize])
        .collect();
    assert_eq!(&buf[12..n], &expected[..], "samples transcoded");
    relay.close(&mut backend, call);
}

#[test]
fn epoll_relay_transcodes_ulaw_to_alaw() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        EpollBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9680,
        9690,
    );
}

#[test]
fn uring_relay_transcodes_ulaw_to_alaw() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9700,
        9710,
    );
}
