//! Helpers shared by the tests/media_relay_*.rs tests.
#![allow(dead_code, unused_imports)]

pub use std::net::SocketAddr;

pub use handoff::core::{CallRef, MediaLeg, ShardId};
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

pub fn leg(port: u16, remote: Option<&str>, mux: bool) -> MediaLeg {
    MediaLeg {
        local_port: port,
        remote_rtp: remote.map(addr),
        remote_rtcp: None,
        rtcp_mux: mux,
    }
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
