//! Tone analysis for tests and diagnostics: Goertzel power at given frequencies, and the on/off
//! cadence of a signal.

use std::f64::consts::TAU;

/// Amplitude of the `frequency` component of `samples` (a sine of peak P gives about P when
/// the window holds whole periods), by the generalised Goertzel algorithm.
pub fn tone_amplitude(samples: &[i16], frequency: f64, sample_rate: f64) -> f64 {
    if samples.is_empty() || sample_rate <= 0.0 {
        return 0.0;
    }
    let omega = TAU * frequency / sample_rate;
    let coefficient = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in samples {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// Root mean square of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// One stretch of tone or silence.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub on: bool,
    pub duration_ms: u32,
}

/// Analysis block: 5 ms at 8 kHz. Cadence boundaries come out to the nearest 5 ms.
const BLOCK: usize = 40;
/// RMS above which a block counts as tone: far above G.711 idle codes (0 or ±8), far below a
/// -19 dBm0 tone (RMS ≈ 1770) or even a -40 dBm0 one (≈ 160).
const ON_THRESHOLD_RMS: f64 = 100.0;

/// Splits 8 kHz `samples` into alternating on/off segments by block energy. A trailing partial
/// block counts for its own length.
pub fn detect_cadence(samples: &[i16]) -> Vec<Segment> {
    let mut segments: Vec<(bool, usize)> = Vec::new();
    for block in samples.chunks(BLOCK) {
        let on = rms(block) > ON_THRESHOLD_RMS;
        match segments.last_mut() {
            Some((last_on, length)) if *last_on == on => *length += block.len(),
            _ => segments.push((on, block.len())),
        }
    }
    segments
        .into_iter()
        .map(|(on, length)| Segment {
            on,
            duration_ms: (length * 1000 / 8000) as u32,
        })
        .collect()
}
