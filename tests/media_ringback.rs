//! 12 s of each ringback tone, decoded and analysed: frequencies (Goertzel) and cadence (±20 ms).

use handoff::config::RingbackTone;
use handoff::media::G711Law;
use handoff::media::ringback::{FRAME_SAMPLES, RingbackGenerator, TONE_PEAK};
use handoff::media::tone::{Segment, detect_cadence, tone_amplitude};

const SECONDS: usize = 12;

fn decoded(tone: RingbackTone, law: G711Law) -> Vec<i16> {
    let mut generator = RingbackGenerator::new(tone, law);
    let mut samples = Vec::with_capacity(SECONDS * 8000);
    for _ in 0..SECONDS * 50 {
        let mut frame = [0u8; FRAME_SAMPLES];
        generator.fill_frame(&mut frame);
        samples.extend(frame.iter().map(|&code| law.decode(code)));
    }
    samples
}

/// Expected (on, ms) segments over 12 s, last one cut at 12 s.
fn expected(pattern: &[(bool, u32)]) -> Vec<(bool, u32)> {
    let mut out: Vec<(bool, u32)> = Vec::new();
    let mut elapsed = 0;
    'outer: loop {
        for &(on, ms) in pattern {
            let ms = ms.min(SECONDS as u32 * 1000 - elapsed);
            out.push((on, ms));
            elapsed += ms;
            if elapsed >= SECONDS as u32 * 1000 {
                break 'outer;
            }
        }
    }
    out
}

fn assert_cadence(segments: &[Segment], pattern: &[(bool, u32)]) {
    let want = expected(pattern);
    assert_eq!(segments.len(), want.len(), "segments: {segments:?}");
    for (got, (on, ms)) in segments.iter().zip(want) {
        assert_eq!(got.on, on, "segments: {segments:?}");
        assert!(
            got.duration_ms.abs_diff(ms) <= 20,
            "segment {got:?}, expected {ms} ms"
        );
    }
}

fn assert_frequencies(samples: &[i16], present: &[f64], absent: &[f64]) {
    // The first second is tone for every cadence here except the UK one (0.4 s); use 0.4 s.
    let window = &samples[..3200];
    for &f in present {
        let amplitude = tone_amplitude(window, f, 8000.0);
        assert!(
            (amplitude - TONE_PEAK).abs() < TONE_PEAK * 0.1,
            "{f} Hz amplitude {amplitude}, expected about {TONE_PEAK}"
        );
    }
    for &f in absent {
        let amplitude = tone_amplitude(window, f, 8000.0);
        assert!(
            amplitude < TONE_PEAK * 0.05,
            "{f} Hz should be absent, got {amplitude}"
        );
    }
}

#[test]
fn us_ringback_is_440_480_two_on_four_off() {
    for law in [G711Law::Ulaw, G711Law::Alaw] {
        let samples = decoded(RingbackTone::Us, law);
        assert_frequencies(&samples, &[440.0, 480.0], &[350.0, 400.0, 425.0, 620.0]);
        assert_cadence(&detect_cadence(&samples), &[(true, 2000), (false, 4000)]);
    }
}

#[test]
fn uk_ringback_is_400_450_double_ring() {
    for law in [G711Law::Ulaw, G711Law::Alaw] {
        let samples = decoded(RingbackTone::Uk, law);
        assert_frequencies(&samples, &[400.0, 450.0], &[425.0, 480.0, 350.0]);
        assert_cadence(
            &detect_cadence(&samples),
            &[(true, 400), (false, 200), (true, 400), (false, 2000)],
        );
    }
}

#[test]
fn eu_ringback_is_425_one_on_four_off() {
    for law in [G711Law::Ulaw, G711Law::Alaw] {
        let samples = decoded(RingbackTone::Eu, law);
        assert_frequencies(&samples, &[425.0], &[400.0, 450.0, 440.0]);
        assert_cadence(&detect_cadence(&samples), &[(true, 1000), (false, 4000)]);
    }
}

#[test]
fn phase_is_continuous_across_frames() {
    let mut generator = RingbackGenerator::new(RingbackTone::Eu, G711Law::Ulaw);
    let mut pcm = Vec::new();
    for _ in 0..10 {
        let mut frame = [0i16; FRAME_SAMPLES];
        generator.fill_pcm(&mut frame);
        pcm.extend_from_slice(&frame);
    }
    // A 425 Hz sine of peak 2502 moves at most 2502 * 2π * 425 / 8000 ≈ 835 per sample.
    let max_jump = pcm
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max();
    assert!(max_jump.is_some_and(|j| j <= 840), "max jump {max_jump:?}");
}
