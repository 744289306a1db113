//! handoff's RTP header parser (`rtp_payload_range`, on the relay's transcoding path and in
//! ringback) gives the same payload bounds as rtp-rs's `RtpReader`, an independent
//! implementation of RFC 3550 section 5.1, for any bytes: version, CSRC count, header extension
//! length, padding (whose count includes its own octet, so 0 is invalid).

use handoff::media::relay::rtp_payload_range;
use proptest::prelude::*;

fn reference(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    let reader = rtp_rs::RtpReader::new(packet).ok()?;
    let start = reader.payload_offset();
    Some(start..start + reader.payload().len())
}

/// Packets that look like RTP often enough to reach every branch: version 2 most of the time,
/// the X, P and CC bits random, an extension length and a padding count near the edges.
fn rtp_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..120),
        0u8..8,
        any::<bool>(),
        any::<bool>(),
        0u8..16,
        0u8..6,
        0u8..40,
    )
        .prop_map(|(mut bytes, version_pick, x, p, cc, ext_words, pad)| {
            if let Some(first) = bytes.first_mut() {
                let version = if version_pick < 6 {
                    2
                } else {
                    version_pick % 4
                };
                *first = (version << 6) | (u8::from(p) << 5) | (u8::from(x) << 4) | cc;
            }
            let ext_at = 12 + 4 * usize::from(cc);
            if let Some(len) = bytes.get_mut(ext_at + 2..ext_at + 4) {
                len[0] = 0;
                len[1] = ext_words;
            }
            if let Some(last) = bytes.last_mut()
                && p
            {
                *last = pad;
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn same_payload_bounds_as_rtp_rs(packet in rtp_like()) {
        prop_assert_eq!(rtp_payload_range(&packet), reference(&packet));
    }

    #[test]
    fn same_answer_on_arbitrary_bytes(packet in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(rtp_payload_range(&packet), reference(&packet));
    }
}

#[test]
fn a_padding_count_of_zero_is_not_rtp() {
    let mut packet = vec![0u8; 40];
    packet[0] = 0xA0; // V=2, P=1
    assert_eq!(rtp_payload_range(&packet), None);
    packet[39] = 8;
    assert_eq!(rtp_payload_range(&packet), Some(12..32));
}
