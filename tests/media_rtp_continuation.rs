//! Injected ringback continues the SSRC, sequence and timestamp of the stream the phone got.

use handoff::config::RingbackTone;
use handoff::media::{G711Law, RingbackGenerator, RtpStreamContinuation};

fn packet(seq: u16, ts: u32, ssrc: u32, pt: u8, payload: usize) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.resize(12 + payload, 0xFF);
    p
}

#[test]
fn continues_after_the_last_observed_packet() {
    let mut stream = RtpStreamContinuation::new(1, 1, 1);
    assert!(stream.observe(&packet(65535, u32::MAX - 100, 0xABCD, 0, 160)));
    let mut generator = RingbackGenerator::new(RingbackTone::Us, G711Law::Ulaw);
    let mut buf = [0u8; 200];
    assert_eq!(
        stream.write_ringback_packet(&mut generator, &mut buf),
        Some(172)
    );
    assert_eq!(buf[0], 0x80);
    assert_eq!(buf[1], 0);
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 0);
    assert_eq!(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]), 59);
    assert_eq!(
        u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        0xABCD
    );
    stream.write_ringback_packet(&mut generator, &mut buf);
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1);
    assert_eq!(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]), 219);
}

#[test]
fn timestamp_step_follows_g711_payload_length() {
    let mut stream = RtpStreamContinuation::new(1, 1, 1);
    stream.observe(&packet(10, 1000, 7, 8, 240));
    assert_eq!((stream.next_seq, stream.next_ts), (11, 1240));
}

#[test]
fn older_packets_and_garbage_are_ignored() {
    let mut stream = RtpStreamContinuation::new(1, 1, 1);
    assert!(stream.observe(&packet(100, 16000, 7, 0, 160)));
    assert!(!stream.observe(&packet(99, 15840, 7, 0, 160)));
    assert!(!stream.observe(&[0x80, 0, 1]));
    assert!(
        !stream.observe(
            &packet(200, 0, 7, 0, 160)
                .into_iter()
                .map(|b| b & 0x3F)
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        (stream.ssrc, stream.next_seq, stream.next_ts),
        (7, 101, 16160)
    );
    // A new SSRC (re-INVITE, new source) is followed regardless of its sequence number.
    assert!(stream.observe(&packet(5, 50, 8, 0, 160)));
    assert_eq!((stream.ssrc, stream.next_seq, stream.next_ts), (8, 6, 210));
}

#[test]
fn short_buffer_is_refused() {
    let mut stream = RtpStreamContinuation::new(1, 2, 3);
    assert_eq!(stream.write_header(&mut [0u8; 11], 0, false, 160), None);
    assert_eq!((stream.next_seq, stream.next_ts), (2, 3));
}
