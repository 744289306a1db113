//! Attack, against the real binary on both backends: "RTP bleed" (issue 9, protection 5). An
//! attacker on another address (127.0.0.77: all of 127/8 is loopback on Linux, and it is neither
//! the trunks' peer IP, 127.0.0.1, nor the SDP's) sends RTP to the call's media ports: to leg B's
//! port before the call is answered (an unlatched port: it used to latch to the first source),
//! then to both ports while the call is up, as a steady stream with one SSRC (RFC 3550 section 3)
//! at 20 ms, the shape that would move a latch. The expectations:
//! - the platform's (and the carrier's) audio never reaches the attacker;
//! - the attacker's packets never reach the callee (nor the caller);
//! - "packets from elsewhere are dropped and counted": a log line names the source and the
//!   reason, and the call's `call_end` audit record counts them (`dropped_foreign_source`);
//! - the real parties keep talking through the attack.

mod runtime_support;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use runtime_support::call::{
    Endpoint, establish_with, exchange_rtp, hang_up_from_carrier, rtp_packet,
};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

const ATTACKER_SSRC: u32 = 0x0BAD_BEEF;
/// The real parties' SSRC (`rtp_packet`).
const REAL_SSRC: u32 = 0x1234_5678;

fn attack_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ATTACKER_SSRC.to_be_bytes());
    p.extend_from_slice(&[0x55; 160]);
    p
}

fn ssrc(packet: &[u8]) -> Option<u32> {
    packet
        .get(8..12)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// `count` packets to each of `to`, one SSRC, one every 20 ms: a steady stream, not a burst.
/// (The pause between packets is the attack's shape, not a wait for handoff.) Returns how many
/// datagrams were sent.
fn stream(attacker: &UdpSocket, to: &[SocketAddr], count: u16) -> u64 {
    let start = Instant::now();
    let mut sent = 0;
    for seq in 0..count {
        let due = start + Duration::from_millis(20 * u64::from(seq));
        if let Some(pause) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(pause);
        }
        for &dst in to {
            attacker.send_to(&attack_packet(seq), dst).unwrap();
            sent += 1;
        }
    }
    sent
}

/// Sends one real packet (`marker`) from `from` to handoff at `to` and reads `far` until it
/// arrives: handoff works through a socket's packets in order, so every packet it relayed from
/// the attacker on that path would have arrived before the marker. None did.
fn only_real_packets_arrive(
    from: &UdpSocket,
    to: SocketAddr,
    far: &UdpSocket,
    handoff_port: SocketAddr,
    marker: u16,
    what: &str,
) {
    from.send_to(&rtp_packet(marker), to).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    loop {
        assert!(
            Instant::now() < deadline,
            "{what}: marker {marker} never arrived"
        );
        far.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let Ok((n, source)) = far.recv_from(&mut buf) else {
            continue;
        };
        assert_ne!(
            ssrc(&buf[..n]),
            Some(ATTACKER_SSRC),
            "{what}: the attacker's packet reached the far party"
        );
        assert_eq!(ssrc(&buf[..n]), Some(REAL_SSRC), "{what}");
        assert_eq!(source, handoff_port, "{what}: relayed from handoff's port");
        if buf[..n] == rtp_packet(marker)[..] {
            return;
        }
    }
}

#[test]
fn a_foreign_source_never_latches_never_hears_and_is_never_heard() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 24000 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let attacker = UdpSocket::bind("127.0.0.77:0").expect("bind 127.0.0.77");
        let attacker_addr = attacker.local_addr().unwrap();

        // Before the call is answered: leg B's port is open and has heard nobody yet. 15
        // packets at 20 ms (280 ms, inside the INVITE's first retransmission interval).
        let mut attack_sent = 0;
        let mut call = establish_with(s.sip, &carrier, &platform, &format!("bleed-{io}"), |b| {
            attack_sent += stream(&attacker, &[b], 15);
        });
        // Dropped, and handoff says so with the source.
        handoff.wait_for_log(&format!("from={attacker_addr} reason=foreign_source"), WAIT);
        // The real parties latch and talk both ways.
        exchange_rtp(&call, &carrier, &platform, 0, 10);

        // While the call is up: a steady stream into both of handoff's ports.
        attack_sent += stream(
            &attacker,
            &[call.handoff_rtp_for_a, call.handoff_rtp_for_b],
            20,
        );
        only_real_packets_arrive(
            &carrier.rtp,
            call.handoff_rtp_for_a,
            &platform.rtp,
            call.handoff_rtp_for_b,
            100,
            "carrier -> platform",
        );
        only_real_packets_arrive(
            &platform.rtp,
            call.handoff_rtp_for_b,
            &carrier.rtp,
            call.handoff_rtp_for_a,
            101,
            "platform -> carrier",
        );
        // The latches did not move: the conversation goes on.
        exchange_rtp(&call, &carrier, &platform, 200, 10);

        // The attacker heard nothing: whatever handoff had sent it would be queued by now (the
        // packets relayed after its stream have all arrived).
        attacker.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        match attacker.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((n, from)) => panic!("{io}: the attacker received {n} bytes from {from}"),
            Err(e) => panic!("{io}: attacker socket: {e}"),
        }

        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        // Counted: the call_end record carries every packet the attacker sent.
        let deadline = Instant::now() + WAIT;
        let record = loop {
            let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"call_end\"")) {
                break serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
            assert!(Instant::now() < deadline, "{io}: no call_end record");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            record["media"]["dropped_foreign_source"].as_u64(),
            Some(attack_sent),
            "{io}: {record}"
        );
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
