//! Local ringback tone, and RTP header continuation for injecting it into a caller's stream.
//!
//! Tones (8 kHz, 20 ms frames of 160 samples), each cadence starting with tone:
//! - US: 440 + 480 Hz, 2 s on, 4 s off;
//! - UK: 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2.0 s off;
//! - EU: 425 Hz, 1 s on, 4 s off.
//!
//! Level: each frequency component is a sine at -19 dBm0. G.711's 0 dBm0 sine has a peak
//! 3.17 dB below the μ-law full-scale sine (peak 32124 in 16-bit samples), about 22300, so
//! -19 dBm0 is a peak of 22300 * 10^(-19/20) ≈ 2502. The same linear level is used for A-law
//! (its 0 dBm0 differs by 0.03 dB).
//!
//! Phase: every frequency is a whole number of Hz, so a component's phase repeats exactly each
//! 8000 samples. Samples are computed from the sample index modulo 8000: phase continuous within
//! and across frames, with no drift however long the tone plays.

use std::f64::consts::TAU;

use super::g711::G711Law;
use crate::config::RingbackTone;

pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;
/// Peak amplitude of each tone component (-19 dBm0).
pub const TONE_PEAK: f64 = 2502.0;

/// A tone plan: its frequencies and its cadence as (tone on?, duration in samples).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ToneSpec {
    pub frequencies: &'static [u32],
    pub cadence: &'static [(bool, u32)],
}

const fn ms(milliseconds: u32) -> u32 {
    milliseconds * SAMPLE_RATE / 1000
}

pub const US_RINGBACK: ToneSpec = ToneSpec {
    frequencies: &[440, 480],
    cadence: &[(true, ms(2000)), (false, ms(4000))],
};
pub const UK_RINGBACK: ToneSpec = ToneSpec {
    frequencies: &[400, 450],
    cadence: &[
        (true, ms(400)),
        (false, ms(200)),
        (true, ms(400)),
        (false, ms(2000)),
    ],
};
pub const EU_RINGBACK: ToneSpec = ToneSpec {
    frequencies: &[425],
    cadence: &[(true, ms(1000)), (false, ms(4000))],
};

pub fn tone_spec(tone: RingbackTone) -> ToneSpec {
    match tone {
        RingbackTone::Us => US_RINGBACK,
        RingbackTone::Uk => UK_RINGBACK,
        RingbackTone::Eu => EU_RINGBACK,
    }
}

/// Produces ringback 20 ms at a time, starting at the beginning of the cadence.
#[derive(Clone, Debug)]
pub struct RingbackGenerator {
    spec: ToneSpec,
    law: G711Law,
    cycle_samples: u64,
    /// Samples produced so far.
    position: u64,
}

impl RingbackGenerator {
    pub fn new(tone: RingbackTone, law: G711Law) -> RingbackGenerator {
        let spec = tone_spec(tone);
        let cycle_samples = spec.cadence.iter().map(|&(_, n)| u64::from(n)).sum();
        RingbackGenerator {
            spec,
            law,
            cycle_samples,
            position: 0,
        }
    }

    pub fn law(&self) -> G711Law {
        self.law
    }

    /// Restarts the cadence with tone (a new ringing phase).
    pub fn restart(&mut self) {
        self.position = 0;
    }

    /// Samples produced since the start.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next 20 ms as linear samples.
    pub fn fill_pcm(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        for sample in frame.iter_mut() {
            *sample = self.sample_at(self.position);
            self.position += 1;
        }
    }

    /// The next 20 ms encoded in the generator's law: an RTP payload for PT 0 or 8.
    pub fn fill_frame(&mut self, frame: &mut [u8; FRAME_SAMPLES]) {
        let mut pcm = [0i16; FRAME_SAMPLES];
        self.fill_pcm(&mut pcm);
        for (code, sample) in frame.iter_mut().zip(pcm) {
            *code = self.law.encode(sample);
        }
    }

    fn tone_on(&self, position: u64) -> bool {
        if self.cycle_samples == 0 {
            return false;
        }
        let mut offset = position % self.cycle_samples;
        for &(on, length) in self.spec.cadence {
            if offset < u64::from(length) {
                return on;
            }
            offset -= u64::from(length);
        }
        false
    }

    fn sample_at(&self, position: u64) -> i16 {
        if !self.tone_on(position) {
            return 0;
        }
        let index = (position % u64::from(SAMPLE_RATE)) as f64;
        let value: f64 = self
            .spec
            .frequencies
            .iter()
            .map(|&f| TONE_PEAK * (TAU * f64::from(f) * index / f64::from(SAMPLE_RATE)).sin())
            .sum();
        value.round() as i16
    }
}

/// Continues an RTP stream's SSRC, sequence number and timestamp, so packets handoff injects
/// (ringback) look like the next packets of the stream the phone was receiving.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RtpStreamContinuation {
    pub ssrc: u32,
    pub next_seq: u16,
    pub next_ts: u32,
    /// Whether a packet of the stream has been seen (before that, the fields are the seed).
    observed: bool,
}

const RTP_HEADER_LEN: usize = 12;

impl RtpStreamContinuation {
    /// A stream that starts at the given values (the caller seeds them; no randomness here).
    pub fn new(ssrc: u32, next_seq: u16, next_ts: u32) -> RtpStreamContinuation {
        RtpStreamContinuation {
            ssrc,
            next_seq,
            next_ts,
            observed: false,
        }
    }

    /// Notes a packet of the stream being continued. Returns false (and changes nothing) for
    /// a packet that is not RTP, or that is older than the last one seen on the same SSRC.
    /// The timestamp advances by the packet's sample count: its payload length for G.711,
    /// else 160 (20 ms at 8 kHz).
    pub fn observe(&mut self, packet: &[u8]) -> bool {
        let Some(header) = packet.get(..RTP_HEADER_LEN) else {
            return false;
        };
        if header[0] >> 6 != 2 {
            return false;
        }
        let seq = u16::from_be_bytes([header[2], header[3]]);
        let ts = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let ssrc = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        if self.observed && ssrc == self.ssrc && (seq.wrapping_sub(self.next_seq) as i16) < 0 {
            return false;
        }
        let payload_type = header[1] & 0x7F;
        let samples = match (
            G711Law::from_payload_type(payload_type),
            payload_len(packet),
        ) {
            (Some(_), Some(len)) if len > 0 => len as u32,
            _ => FRAME_SAMPLES as u32,
        };
        self.ssrc = ssrc;
        self.next_seq = seq.wrapping_add(1);
        self.next_ts = ts.wrapping_add(samples);
        self.observed = true;
        true
    }

    /// Writes the next 12-byte RTP header (V=2, no padding/extension/CSRC) into `buf` and
    /// advances sequence by 1 and timestamp by `samples`. Returns the header length, or `None`
    /// if `buf` is shorter than 12 bytes.
    pub fn write_header(
        &mut self,
        buf: &mut [u8],
        payload_type: u8,
        marker: bool,
        samples: u32,
    ) -> Option<usize> {
        let header = buf.get_mut(..RTP_HEADER_LEN)?;
        header[0] = 0x80;
        header[1] = (u8::from(marker) << 7) | (payload_type & 0x7F);
        header[2..4].copy_from_slice(&self.next_seq.to_be_bytes());
        header[4..8].copy_from_slice(&self.next_ts.to_be_bytes());
        header[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_ts = self.next_ts.wrapping_add(samples);
        Some(RTP_HEADER_LEN)
    }

    /// Writes a whole 172-byte ringback packet: header plus the generator's next frame, with
    /// the law's static payload type (0 or 8).
    pub fn write_ringback_packet(
        &mut self,
        generator: &mut RingbackGenerator,
        buf: &mut [u8],
    ) -> Option<usize> {
        let payload_type = generator.law().payload_type();
        self.write_ringback_packet_as(generator, payload_type, buf)
    }

    /// As [`Self::write_ringback_packet`], with the payload type number the leg negotiated for
    /// the generator's law (RFC 3264: a dynamic number bound to PCMU/PCMA by `a=rtpmap`).
    pub fn write_ringback_packet_as(
        &mut self,
        generator: &mut RingbackGenerator,
        payload_type: u8,
        buf: &mut [u8],
    ) -> Option<usize> {
        let total = RTP_HEADER_LEN + FRAME_SAMPLES;
        let out = buf.get_mut(..total)?;
        self.write_header(out, payload_type, false, FRAME_SAMPLES as u32)?;
        let mut frame = [0u8; FRAME_SAMPLES];
        generator.fill_frame(&mut frame);
        out[RTP_HEADER_LEN..].copy_from_slice(&frame);
        Some(total)
    }
}

/// Payload length of an RTP packet (after CSRCs and extension, before padding).
fn payload_len(packet: &[u8]) -> Option<usize> {
    super::relay::rtp_payload_range(packet).map(|range| range.len())
}
