//! Helpers shared by the tests/media_relay_*.rs tests.
#![allow(dead_code, unused_imports)]

pub use std::net::SocketAddr;

pub use handoff::core::{CallRef, IpNetwork, MediaLeg, MediaSources, ShardId, Time};
pub use handoff::media::relay::{CallSlots, DropReason, RelayDecision, RelayTable, SlotId};

pub fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub fn call(seq: u64) -> CallRef {
    CallRef {
        shard: ShardId(0),
        seq,
    }
}

/// The arrival time of packets in tests that are not about timing.
pub const T0: Time = Time(0);

pub fn at_ms(ms: u64) -> Time {
    Time::from_millis(ms)
}

/// A leg whose trunk allows media from anywhere (`media_networks = ["0.0.0.0/0", "::/0"]`):
/// for the tests about latching, validation, RTCP and transcoding, which are not about sources.
/// The strict-source tests build their legs with [`strict_leg`].
pub fn leg(port: u16, remote: Option<&str>, mux: bool) -> MediaLeg {
    MediaLeg {
        local_port: port,
        remote_rtp: remote.map(addr),
        remote_rtcp: None,
        rtcp_mux: mux,
        sources: MediaSources {
            peer: None,
            networks: vec![
                IpNetwork::new("0.0.0.0".parse().unwrap(), 0),
                IpNetwork::new("::".parse().unwrap(), 0),
            ]
            .into(),
        },
    }
}

/// A leg of a trunk whose peer is `peer` (an IP) and whose `media_networks` are `networks`.
pub fn strict_leg(port: u16, remote: Option<&str>, peer: &str, networks: &[&str]) -> MediaLeg {
    MediaLeg {
        local_port: port,
        remote_rtp: remote.map(addr),
        remote_rtcp: None,
        rtcp_mux: false,
        sources: MediaSources {
            peer: Some(peer.parse().unwrap()),
            networks: networks
                .iter()
                .map(|n| {
                    let (ip, prefix) = n.split_once('/').unwrap();
                    IpNetwork::new(ip.parse().unwrap(), prefix.parse().unwrap())
                })
                .collect::<Vec<_>>()
                .into(),
        },
    }
}

/// An RTP packet of stream `ssrc` (RFC 3550 section 5.1: octets 8..12 of the fixed header).
pub fn rtp_ssrc(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = rtp(seq);
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

pub fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[0xFF; 160]);
    p
}

pub fn rtcp_rr() -> Vec<u8> {
    vec![0x80, 201, 0, 1, 0, 0, 0, 7]
}

pub fn open(table: &mut RelayTable, a_remote: Option<&str>, b_remote: Option<&str>) -> CallSlots {
    table
        .open(
            call(1),
            leg(30000, a_remote, false),
            leg(30002, b_remote, false),
        )
        .unwrap()
}

pub fn forward(out_slot: handoff::media::relay::SlotId, dst: &str) -> RelayDecision {
    RelayDecision::Forward {
        out_slot,
        dst: addr(dst),
        transcode: None,
    }
}
