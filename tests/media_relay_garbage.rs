//! Garbage (not RTP/RTCP) is dropped and counted, never forwarded, never latched.

mod media_relay_support;
use media_relay_support::*;

#[test]
fn short_and_wrong_version_packets_are_dropped_and_counted() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    let src = addr("192.0.2.1:4000");
    let mut wrong_version = rtp(1);
    wrong_version[0] = 0x40;
    let garbage: [&[u8]; 5] = [
        &[],
        &[0x80],
        &[0x80; 11],
        &wrong_version,
        b"STUN? no, plain text",
    ];
    for packet in garbage {
        assert_eq!(
            table.on_packet(T0, slots.a_rtp, src, packet),
            RelayDecision::Drop(DropReason::Malformed)
        );
    }
    // RTCP slot: too short, or an RTP-looking packet type.
    assert_eq!(
        table.on_packet(T0, slots.a_rtcp, src, &[0x80, 200, 0]),
        RelayDecision::Drop(DropReason::Malformed)
    );
    assert_eq!(
        table.on_packet(T0, slots.a_rtcp, src, &rtp(1)),
        RelayDecision::Drop(DropReason::Malformed)
    );
    let counters = table.counters(call(1)).unwrap();
    assert_eq!(counters.dropped, 7);
    assert_eq!((counters.a_to_b_packets, counters.a_to_b_bytes), (0, 0));
}

#[test]
fn garbage_from_a_stranger_does_not_latch() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(T0, slots.b_rtp, addr("203.0.113.66:1"), &[0x00; 40]);
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}

#[test]
fn unknown_slots_are_dropped() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.close(call(1)).unwrap();
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(1)),
        RelayDecision::Drop(DropReason::UnknownSlot)
    );
    assert_eq!(
        table.on_packet(T0, SlotId(999), addr("192.0.2.1:4000"), &rtp(1)),
        RelayDecision::Drop(DropReason::UnknownSlot)
    );
    assert_eq!(table.unknown_slot_drops(), 2);
}
