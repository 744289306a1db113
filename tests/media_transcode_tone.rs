//! A μ-law tone transcoded to A-law (and back) keeps its frequencies and level.

use handoff::config::RingbackTone;
use handoff::media::g711::{transcode_alaw_to_ulaw, transcode_ulaw_to_alaw};
use handoff::media::ringback::{FRAME_SAMPLES, TONE_PEAK};
use handoff::media::tone::tone_amplitude;
use handoff::media::{G711Law, RingbackGenerator};

fn ulaw_tone(frames: usize) -> Vec<u8> {
    let mut generator = RingbackGenerator::new(RingbackTone::Us, G711Law::Ulaw);
    let mut out = Vec::new();
    for _ in 0..frames {
        let mut frame = [0u8; FRAME_SAMPLES];
        generator.fill_frame(&mut frame);
        out.extend_from_slice(&frame);
    }
    out
}

fn assert_us_tone(samples: &[i16]) {
    for f in [440.0, 480.0] {
        let a = tone_amplitude(samples, f, 8000.0);
        assert!((a - TONE_PEAK).abs() < TONE_PEAK * 0.1, "{f} Hz at {a}");
    }
    for f in [400.0, 425.0, 1000.0] {
        assert!(
            tone_amplitude(samples, f, 8000.0) < TONE_PEAK * 0.05,
            "{f} Hz leaked"
        );
    }
}

#[test]
fn ulaw_to_alaw_keeps_the_tone() {
    let mut payload = ulaw_tone(50);
    transcode_ulaw_to_alaw(&mut payload);
    let decoded: Vec<i16> = payload.iter().map(|&c| G711Law::Alaw.decode(c)).collect();
    assert_us_tone(&decoded);
}

#[test]
fn ulaw_to_alaw_to_ulaw_keeps_the_tone() {
    let mut payload = ulaw_tone(50);
    transcode_ulaw_to_alaw(&mut payload);
    transcode_alaw_to_ulaw(&mut payload);
    let decoded: Vec<i16> = payload.iter().map(|&c| G711Law::Ulaw.decode(c)).collect();
    assert_us_tone(&decoded);
}
