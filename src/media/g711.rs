//! ITU-T G.711 companding: μ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).
//!
//! Linear samples are 16-bit. Encoding follows the classic reference implementation (as in
//! spandsp/WebRTC): μ-law with bias 0x84, A-law with even-bit inversion (0x55). Decoding and
//! transcoding go through 256-entry tables computed at compile time. The transcoding tables
//! are `encode_other(decode(code))`, which maps every code to the nearest code of the other law.

/// μ-law bias added before finding the segment.
const ULAW_BIAS: i32 = 0x84;
/// A-law toggles the even bits of every code word.
const ALAW_AMI_MASK: i32 = 0x55;

/// Index of the highest set bit (`value` > 0).
const fn top_bit(value: i32) -> i32 {
    31 - (value as u32).leading_zeros() as i32
}

/// Encodes one linear sample to μ-law.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let (magnitude, mask) = if sample < 0 {
        (ULAW_BIAS - sample as i32 - 1, 0x7F)
    } else {
        (ULAW_BIAS + sample as i32, 0xFF)
    };
    let segment = top_bit(magnitude | 0xFF) - 7;
    if segment >= 8 {
        (0x7F ^ mask) as u8
    } else {
        (((segment << 4) | ((magnitude >> (segment + 3)) & 0x0F)) ^ mask) as u8
    }
}

/// Encodes one linear sample to A-law.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let (magnitude, mask) = if sample >= 0 {
        (sample as i32, ALAW_AMI_MASK | 0x80)
    } else {
        (-(sample as i32) - 1, ALAW_AMI_MASK)
    };
    let segment = top_bit(magnitude | 0xFF) - 7;
    if segment >= 8 {
        (0x7F ^ mask) as u8
    } else {
        let shift = if segment == 0 { 4 } else { segment + 3 };
        (((segment << 4) | ((magnitude >> shift) & 0x0F)) ^ mask) as u8
    }
}

const fn ulaw_decode_formula(code: u8) -> i16 {
    let code = !code as i32;
    let t = (((code & 0x0F) << 3) + ULAW_BIAS) << ((code & 0x70) >> 4);
    if code & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_formula(code: u8) -> i16 {
    let code = code as i32 ^ ALAW_AMI_MASK;
    let mut value = (code & 0x0F) << 4;
    let segment = (code & 0x70) >> 4;
    if segment != 0 {
        value = (value + 0x108) << (segment - 1);
    } else {
        value += 8;
    }
    if code & 0x80 != 0 {
        value as i16
    } else {
        -value as i16
    }
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_formula(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_formula(i as u8);
        i += 1;
    }
    table
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = linear_to_alaw(ULAW_TO_LINEAR[i]);
        i += 1;
    }
    table
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = linear_to_ulaw(ALAW_TO_LINEAR[i]);
        i += 1;
    }
    table
}

/// μ-law code -> linear sample.
pub const ULAW_TO_LINEAR: [i16; 256] = build_ulaw_decode();
/// A-law code -> linear sample.
pub const ALAW_TO_LINEAR: [i16; 256] = build_alaw_decode();
/// μ-law code -> A-law code.
pub const ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// A-law code -> μ-law code.
pub const ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

pub const fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[code as usize]
}

pub const fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[code as usize]
}

/// Transcodes a μ-law payload to A-law in place.
pub fn transcode_ulaw_to_alaw(payload: &mut [u8]) {
    for byte in payload {
        *byte = ULAW_TO_ALAW[usize::from(*byte)];
    }
}

/// Transcodes an A-law payload to μ-law in place.
pub fn transcode_alaw_to_ulaw(payload: &mut [u8]) {
    for byte in payload {
        *byte = ALAW_TO_ULAW[usize::from(*byte)];
    }
}

/// One of the two G.711 laws.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// μ-law, PCMU, payload type 0 (North America, Japan).
    Ulaw,
    /// A-law, PCMA, payload type 8 (Europe and most other places).
    Alaw,
}

impl G711Law {
    pub const fn payload_type(self) -> u8 {
        match self {
            G711Law::Ulaw => 0,
            G711Law::Alaw => 8,
        }
    }

    pub const fn from_payload_type(payload_type: u8) -> Option<G711Law> {
        match payload_type {
            0 => Some(G711Law::Ulaw),
            8 => Some(G711Law::Alaw),
            _ => None,
        }
    }

    /// From an SDP encoding name ("PCMU" / "PCMA", any case).
    pub fn from_name(name: &str) -> Option<G711Law> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(G711Law::Ulaw)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(G711Law::Alaw)
        } else {
            None
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            G711Law::Ulaw => "PCMU",
            G711Law::Alaw => "PCMA",
        }
    }

    pub const fn encode(self, sample: i16) -> u8 {
        match self {
            G711Law::Ulaw => linear_to_ulaw(sample),
            G711Law::Alaw => linear_to_alaw(sample),
        }
    }

    pub const fn decode(self, code: u8) -> i16 {
        match self {
            G711Law::Ulaw => ulaw_to_linear(code),
            G711Law::Alaw => alaw_to_linear(code),
        }
    }

    /// The code of digital silence (linear 0) in this law.
    pub const fn silence(self) -> u8 {
        self.encode(0)
    }

    /// The table that converts this law's codes into `to`'s codes (identity when equal).
    pub fn transcode_table(self, to: G711Law) -> Option<&'static [u8; 256]> {
        match (self, to) {
            (G711Law::Ulaw, G711Law::Alaw) => Some(&ULAW_TO_ALAW),
            (G711Law::Alaw, G711Law::Ulaw) => Some(&ALAW_TO_ULAW),
            _ => None,
        }
    }
}
