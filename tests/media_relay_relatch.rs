//! After latching, a new source is accepted only after 5 consecutive packets from it.

mod media_relay_support;
use media_relay_support::*;

use handoff::media::relay::RELATCH_AFTER;

#[test]
fn new_source_is_accepted_on_its_fifth_consecutive_packet() {
    assert_eq!(RELATCH_AFTER, 5);
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    // NAT rebinding: B's stream now comes from a new port.
    for seq in 2..6 {
        assert_eq!(
            table.on_packet(slots.b_rtp, addr("198.51.100.1:5999"), &rtp(seq)),
            RelayDecision::Drop(DropReason::UnlatchedSource)
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
    assert_eq!(
        table.on_packet(slots.b_rtp, addr("198.51.100.1:5999"), &rtp(6)),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5999"))
    );
    // The old source is now the stranger.
    assert_eq!(
        table.on_packet(slots.b_rtp, addr("198.51.100.1:5000"), &rtp(7)),
        RelayDecision::Drop(DropReason::UnlatchedSource)
    );
    let counters = table.counters(call(1)).unwrap();
    assert_eq!((counters.b_to_a_packets, counters.dropped), (2, 5));
}

#[test]
fn a_packet_from_the_latched_source_resets_the_count() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    for round in 0..3u16 {
        for seq in 0..4 {
            let decision = table.on_packet(
                slots.b_rtp,
                addr("203.0.113.66:1234"),
                &rtp(round * 10 + seq),
            );
            assert_eq!(decision, RelayDecision::Drop(DropReason::UnlatchedSource));
        }
        // The real peer still talks: the intruder never reaches 5 in a row.
        assert!(matches!(
            table.on_packet(slots.b_rtp, addr("198.51.100.1:5000"), &rtp(round * 10 + 5)),
            RelayDecision::Forward { .. }
        ));
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}

#[test]
fn alternating_strangers_never_latch() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    for seq in 0..20u16 {
        let stranger = if seq % 2 == 0 {
            "203.0.113.1:1000"
        } else {
            "203.0.113.2:1000"
        };
        assert_eq!(
            table.on_packet(slots.b_rtp, addr(stranger), &rtp(seq)),
            RelayDecision::Drop(DropReason::UnlatchedSource)
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}
