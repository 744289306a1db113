//! ns per `RelayTable::on_packet` decision at realistic fan-in.
//!
//! `cargo bench --bench relay_table` — opens CALLS calls (4 slots each), latches every leg, then
//! feeds 172-byte RTP packets round-robin over all RTP slots (so consecutive packets touch
//! different slots, as on a busy shard) and reports the mean cost per decision.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use handoff::core::{CallRef, MediaLeg, ShardId, Time};
use handoff::media::relay::{RelayDecision, RelayTable, SlotId};

const CALLS: u64 = 2_000;
const ROUNDS: usize = 500;

fn remote(call: u64, side: u8) -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::new(10, side, (call >> 8) as u8, call as u8));
    SocketAddr::new(ip, 40_000 + (call % 1000) as u16 * 2)
}

fn main() {
    let mut table = RelayTable::new();
    let mut inputs: Vec<(SlotId, SocketAddr)> = Vec::new();
    for call in 0..CALLS {
        let leg = |side: u8, port: u16| MediaLeg {
            local_port: port,
            remote_rtp: Some(remote(call, side)),
            remote_rtcp: None,
            rtcp_mux: false,
            sources: Default::default(),
        };
        let id = CallRef {
            shard: ShardId(0),
            seq: call,
        };
        let slots = table
            .open(
                id,
                leg(1, 20_000 + call as u16 * 4),
                leg(2, 20_002 + call as u16 * 4),
            )
            .expect("fresh call");
        inputs.push((slots.a_rtp, remote(call, 1)));
        inputs.push((slots.b_rtp, remote(call, 2)));
    }
    let mut packet = vec![0u8; 172];
    packet[0] = 0x80;

    let mut forwarded = 0u64;
    let mut run = |table: &mut RelayTable, rounds: usize| {
        for round in 0..rounds {
            packet[3] = round as u8;
            for &(slot, src) in &inputs {
                if let RelayDecision::Forward {
                    out_slot,
                    dst,
                    transcode,
                } = table.on_packet(Time::ZERO, slot, src, black_box(&packet))
                {
                    black_box((out_slot, dst, transcode));
                    forwarded += 1;
                }
            }
        }
    };
    run(&mut table, 20); // warm-up: latches every slot, warms caches
    let decisions = (ROUNDS * inputs.len()) as f64;
    let start = Instant::now();
    run(&mut table, ROUNDS);
    let elapsed = start.elapsed();
    let ns = elapsed.as_nanos() as f64 / decisions;
    println!(
        "relay_table: {CALLS} calls, {} slots fed, {decisions} decisions in {:.1} ms: {ns:.1} ns/decision ({:.1} M decisions/s), forwarded {forwarded}",
        inputs.len(),
        elapsed.as_secs_f64() * 1e3,
        1e3 / ns
    );
}
