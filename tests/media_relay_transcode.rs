//! Legs on different G.711 laws: RTP of the sender's law is transcoded by table, the rest passes.

mod media_relay_support;
use handoff::media::g711::{ULAW_TO_ALAW, linear_to_ulaw};
use handoff::media::{G711Law, Transcode};
use media_relay_support::*;

fn rtp_with(pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
    p.extend_from_slice(payload);
    p
}

fn transcode_of(decision: RelayDecision) -> Option<Transcode> {
    match decision {
        RelayDecision::Forward { transcode, .. } => transcode,
        RelayDecision::Drop(reason) => panic!("dropped: {reason:?}"),
    }
}

#[test]
fn ulaw_leg_to_alaw_leg_is_transcoded_both_ways() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table
        .set_laws(call(1), Some(G711Law::Ulaw), Some(G711Law::Alaw))
        .unwrap();

    let payload: Vec<u8> = (0..160).map(|i| linear_to_ulaw((i * 100) as i16)).collect();
    let mut packet = rtp_with(0, &payload);
    let transcode = transcode_of(table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &packet));
    assert_eq!(
        transcode,
        Some(Transcode {
            from: G711Law::Ulaw,
            to: G711Law::Alaw
        })
    );
    assert!(transcode.unwrap().apply(&mut packet));
    assert_eq!(packet[1], 8);
    assert_eq!(&packet[..12], &rtp_with(8, &[])[..]);
    for (out, original) in packet[12..].iter().zip(&payload) {
        assert_eq!(*out, ULAW_TO_ALAW[usize::from(*original)]);
    }

    let back = transcode_of(table.on_packet(
        T0,
        slots.b_rtp,
        addr("198.51.100.1:5000"),
        &rtp_with(8, &[0xD5; 160]),
    ));
    assert_eq!(
        back,
        Some(Transcode {
            from: G711Law::Alaw,
            to: G711Law::Ulaw
        })
    );
}

#[test]
fn telephone_event_rtcp_and_same_law_pass_untouched() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table
        .set_laws(call(1), Some(G711Law::Ulaw), Some(G711Law::Alaw))
        .unwrap();
    let src = addr("192.0.2.1:4000");
    assert_eq!(
        transcode_of(table.on_packet(T0, slots.a_rtp, src, &rtp_with(101, &[1, 0, 0, 160]))),
        None
    );
    assert_eq!(
        transcode_of(table.on_packet(T0, slots.a_rtcp, addr("192.0.2.1:4001"), &rtcp_rr())),
        None
    );
    table
        .set_laws(call(1), Some(G711Law::Ulaw), Some(G711Law::Ulaw))
        .unwrap();
    assert_eq!(
        transcode_of(table.on_packet(T0, slots.a_rtp, src, &rtp_with(0, &[0xFF; 160]))),
        None
    );
    table.set_laws(call(1), Some(G711Law::Ulaw), None).unwrap();
    assert_eq!(
        transcode_of(table.on_packet(T0, slots.a_rtp, src, &rtp_with(0, &[0xFF; 160]))),
        None
    );
}

#[test]
fn apply_leaves_padding_and_refuses_other_payload_types() {
    let transcode = Transcode {
        from: G711Law::Ulaw,
        to: G711Law::Alaw,
    };
    // Padding bit set, 4 bytes of padding (last byte = count).
    let mut packet = rtp_with(0, &[0xFF, 0xFF, 0, 0, 0, 4]);
    packet[0] |= 0x20;
    assert!(transcode.apply(&mut packet));
    assert_eq!(&packet[12..], &[0xD5, 0xD5, 0, 0, 0, 4]);
    let mut other = rtp_with(18, &[0xFF; 10]);
    assert!(!transcode.apply(&mut other));
    assert_eq!(other, rtp_with(18, &[0xFF; 10]));
    let mut broken = vec![0xBF, 0, 0];
    assert!(!transcode.apply(&mut broken));
}
