//! Ringback during a local fallback, verified on the customer's RTP (real binary, both
//! backends): while the target rings, the customer receives 172-byte PCMU packets continuing
//! the SSRC, sequence and timestamp of the stream it was receiving; decoded, they carry 440 and
//! 480 Hz (carrier-a's "us" tone) from the start of the cadence (tone first).

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};
use handoff::media::g711::G711Law;
use handoff::media::tone::{detect_cadence, tone_amplitude};

fn header(p: &[u8]) -> (u16, u32, u32) {
    (
        u16::from_be_bytes([p[2], p[3]]),
        u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    )
}

#[test]
fn customer_hears_ringback_in_its_own_stream() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start(&Options::new(io, 9060 + i as u16 * 40));
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::Reject(403),
            target: TargetAnswer::Answer,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        let before = seen
            .customer_rtp_before
            .expect("the customer received media first");
        let (last_seq, last_ts, ssrc) = header(&before);
        let ringback = &seen.ringback_rtp;
        // 1.2 s of ringing at 20 ms per packet.
        assert!(
            ringback.len() >= 50,
            "{io}: {} ringback packets",
            ringback.len()
        );
        for (k, p) in ringback.iter().enumerate() {
            assert_eq!(p.len(), 172, "{io}");
            let (seq, ts, s) = header(p);
            assert_eq!(s, ssrc, "{io}: SSRC continues");
            assert_eq!(
                seq,
                last_seq.wrapping_add(1 + k as u16),
                "{io}: sequence continues"
            );
            assert_eq!(
                ts,
                last_ts.wrapping_add(160 * (1 + k as u32)),
                "{io}: timestamp continues"
            );
        }
        let samples: Vec<i16> = ringback
            .iter()
            .flat_map(|p| {
                p[12..]
                    .iter()
                    .map(|&c| G711Law::Ulaw.decode(c))
                    .collect::<Vec<_>>()
            })
            .collect();
        let window = &samples[..8000];
        for f in [440.0, 480.0] {
            let a = tone_amplitude(window, f, 8000.0);
            assert!(a > 2000.0, "{io}: {f} Hz amplitude {a}");
        }
        for f in [400.0, 425.0, 1000.0] {
            let a = tone_amplitude(window, f, 8000.0);
            assert!(a < 400.0, "{io}: {f} Hz amplitude {a} should be absent");
        }
        let cadence = detect_cadence(&samples);
        assert!(
            cadence[0].on,
            "{io}: the cadence starts with tone: {cadence:?}"
        );
        assert!(cadence[0].duration_ms >= 1000, "{io}: {cadence:?}");
        e2e.stop();
    }
}
