//! ns per RTP header parse on the relay's transcoding path: rtp-rs's zero-copy `RtpReader` side by
//! side with handoff's hand-written `rtp_payload_range`, over the same mix of packets, alternating
//! rounds so a noisy machine slows both alike. Prints each and the ratio. (The issue asked to use
//! rtp-rs if it costs nothing; this is the measurement that decided against it.)
//!
//! `cargo bench --bench rtp_header`

use std::hint::black_box;
use std::time::{Duration, Instant};

use handoff::media::relay::rtp_payload_range;

/// The same answer through rtp-rs.
fn with_rtp_rs(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    let reader = rtp_rs::RtpReader::new(packet).ok()?;
    let start = reader.payload_offset();
    Some(start..start + reader.payload().len())
}

fn hand_written(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    rtp_payload_range(packet)
}

fn packets() -> Vec<Vec<u8>> {
    let mut plain = vec![0u8; 172]; // 20 ms of G.711
    plain[0] = 0x80;
    let mut csrc = vec![0u8; 180];
    csrc[0] = 0x82; // two CSRCs
    let mut extension = vec![0u8; 180];
    extension[0] = 0x90;
    extension[14] = 0;
    extension[15] = 1; // one extension word
    let mut padded = vec![0u8; 176];
    padded[0] = 0xA0;
    padded[175] = 4;
    let short = vec![0x80u8; 8];
    vec![
        plain.clone(),
        plain.clone(),
        plain,
        csrc,
        extension,
        padded,
        short,
    ]
}

fn time(
    parse: fn(&[u8]) -> Option<std::ops::Range<usize>>,
    packets: &[Vec<u8>],
    n: usize,
) -> Duration {
    let start = Instant::now();
    let mut sum = 0usize;
    for _ in 0..n {
        for p in packets {
            if let Some(r) = parse(black_box(p)) {
                sum += r.len();
            }
        }
    }
    black_box(sum);
    start.elapsed()
}

fn main() {
    let packets = packets();
    for p in &packets {
        // Same answers on every packet of the mix.
        assert_eq!(hand_written(p), with_rtp_rs(p), "packet {p:?}");
    }
    const N: usize = 200_000;
    let (mut ours, mut baseline) = (Duration::ZERO, Duration::ZERO);
    time(with_rtp_rs, &packets, N / 10);
    time(hand_written, &packets, N / 10);
    for _ in 0..10 {
        ours += time(with_rtp_rs, &packets, N);
        baseline += time(hand_written, &packets, N);
    }
    let parses = (10 * N * packets.len()) as f64;
    let ns_ours = ours.as_nanos() as f64 / parses;
    let ns_base = baseline.as_nanos() as f64 / parses;
    println!(
        "rtp_header: rtp-rs {ns_ours:.2} ns/packet, hand-written {ns_base:.2} ns/packet, ratio rtp-rs/hand-written {:.2}",
        ns_ours / ns_base
    );
}
