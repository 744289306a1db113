//! G.711 μ-law / A-law against known code values and round-trip properties.

use handoff::media::g711::*;

#[test]
fn ulaw_known_values() {
    assert_eq!(linear_to_ulaw(0), 0xFF);
    assert_eq!(linear_to_ulaw(-1), 0x7F);
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    // First step of the finest segment: 8 (code 0xFE is +8, 0x7E is -8).
    assert_eq!(ulaw_to_linear(0xFE), 8);
    assert_eq!(ulaw_to_linear(0x7E), -8);
    // Top of segment 0 (0xF0 = 15 steps of 8) and bottom of segment 1 (0xEF = steps of 16).
    assert_eq!(ulaw_to_linear(0xEF), 132);
    assert_eq!(ulaw_to_linear(0xF0), 120);
}

#[test]
fn alaw_known_values() {
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(-1), 0x55);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
    assert_eq!(alaw_to_linear(0xD4), 24);
}

#[test]
fn every_alaw_code_round_trips() {
    for code in 0..=255u8 {
        assert_eq!(
            linear_to_alaw(alaw_to_linear(code)),
            code,
            "A-law code {code:#04x}"
        );
    }
}

#[test]
fn every_ulaw_code_round_trips_except_negative_zero() {
    for code in 0..=255u8 {
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            linear_to_ulaw(ulaw_to_linear(code)),
            expected,
            "μ-law code {code:#04x}"
        );
    }
}

/// Quantisation error is bounded by the step of the segment the sample falls in.
#[test]
fn encoding_error_is_within_one_segment_step() {
    for sample in (i16::MIN..=i16::MAX).step_by(7) {
        let clipped = sample.clamp(-32124, 32124);
        let u_err = (i32::from(ulaw_to_linear(linear_to_ulaw(sample))) - i32::from(clipped)).abs();
        let a_clipped = sample.clamp(-32256, 32256);
        let a_err =
            (i32::from(alaw_to_linear(linear_to_alaw(sample))) - i32::from(a_clipped)).abs();
        // Segment step: μ-law 8 << segment, A-law 16 << (segment - 1); the magnitude bounds it.
        let magnitude = i32::from(sample).abs();
        let u_step =
            (8 << (32 - ((magnitude + 132) as u32).leading_zeros()).saturating_sub(8)).max(8);
        assert!(
            u_err <= u_step,
            "μ-law error {u_err} > {u_step} for {sample}"
        );
        let a_step = if magnitude < 512 {
            16
        } else {
            16 << (31 - (magnitude as u32).leading_zeros() - 8)
        };
        assert!(
            a_err <= a_step,
            "A-law error {a_err} > {a_step} for {sample}"
        );
    }
}

#[test]
fn encoding_is_monotonic() {
    let mut last_u = ulaw_to_linear(linear_to_ulaw(i16::MIN));
    let mut last_a = alaw_to_linear(linear_to_alaw(i16::MIN));
    for sample in i16::MIN..=i16::MAX {
        let u = ulaw_to_linear(linear_to_ulaw(sample));
        let a = alaw_to_linear(linear_to_alaw(sample));
        assert!(u >= last_u && a >= last_a, "not monotonic at {sample}");
        last_u = u;
        last_a = a;
    }
}

#[test]
fn transcode_tables_keep_the_signal_close() {
    for code in 0..=255u8 {
        let linear = i32::from(ulaw_to_linear(code));
        let via_alaw = i32::from(alaw_to_linear(ULAW_TO_ALAW[usize::from(code)]));
        // Never more than one A-law step away (steps are at most 1024 at full scale).
        assert!(
            (linear - via_alaw).abs() <= linear.abs() / 16 + 16,
            "μ {code:#04x}: {linear} vs {via_alaw}"
        );
        let a_linear = i32::from(alaw_to_linear(code));
        let via_ulaw = i32::from(ulaw_to_linear(ALAW_TO_ULAW[usize::from(code)]));
        assert!(
            (a_linear.min(32124) - via_ulaw).abs() <= a_linear.abs() / 16 + 16,
            "A {code:#04x}"
        );
    }
    assert_eq!(ULAW_TO_ALAW[0xFF], 0xD5);
    assert_eq!(ALAW_TO_ULAW[0xD5], linear_to_ulaw(8));
}

#[test]
fn transcoding_in_place_uses_the_tables() {
    let mut payload: Vec<u8> = (0..=255).collect();
    transcode_ulaw_to_alaw(&mut payload);
    transcode_alaw_to_ulaw(&mut payload);
    for (code, back) in (0..=255u8).zip(&payload) {
        let original = i32::from(ulaw_to_linear(code));
        let round = i32::from(ulaw_to_linear(*back));
        assert!(
            (original - round).abs() <= original.abs() / 8 + 16,
            "{code:#04x}"
        );
    }
}

#[test]
fn law_helpers() {
    assert_eq!(G711Law::Ulaw.payload_type(), 0);
    assert_eq!(G711Law::from_payload_type(8), Some(G711Law::Alaw));
    assert_eq!(G711Law::from_payload_type(18), None);
    assert_eq!(G711Law::from_name("pcmu"), Some(G711Law::Ulaw));
    assert_eq!(G711Law::Alaw.silence(), 0xD5);
    assert!(G711Law::Ulaw.transcode_table(G711Law::Ulaw).is_none());
}
