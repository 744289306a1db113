//! After latching, a new source (NAT rebinding: same IP, new port) is accepted only after
//! `RELATCH_AFTER` packets in a row from it with one SSRC, spread over at least
//! `RELATCH_MIN_SPREAD_MS` (issue 9: "N packets in a row with the same SSRC, spread over at least
//! 200 ms (not a microsecond burst)").

mod media_relay_support;
use media_relay_support::*;

use handoff::media::relay::{RELATCH_AFTER, RELATCH_MIN_SPREAD_MS};

#[test]
fn new_source_is_accepted_after_a_steady_run_of_200_ms() {
    assert_eq!(RELATCH_AFTER, 5);
    assert_eq!(RELATCH_MIN_SPREAD_MS, 200);
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(T0, slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    // NAT rebinding: B's stream now comes from a new port, one packet per 20 ms. The run starts
    // at 1000 ms; its packets up to 1180 ms are dropped, though there are more than 5 of them.
    for (i, seq) in (2..12).enumerate() {
        assert_eq!(
            table.on_packet(
                at_ms(1000 + 20 * i as u64),
                slots.b_rtp,
                addr("198.51.100.1:5999"),
                &rtp(seq)
            ),
            RelayDecision::Drop(DropReason::UnlatchedSource),
            "packet {seq}"
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
    // 200 ms after the run's first packet: the latch moves.
    assert_eq!(
        table.on_packet(
            at_ms(1200),
            slots.b_rtp,
            addr("198.51.100.1:5999"),
            &rtp(12)
        ),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5999"))
    );
    // The old source is now the stranger.
    assert_eq!(
        table.on_packet(
            at_ms(1220),
            slots.b_rtp,
            addr("198.51.100.1:5000"),
            &rtp(13)
        ),
        RelayDecision::Drop(DropReason::UnlatchedSource)
    );
    let counters = table.counters(call(1)).unwrap();
    assert_eq!((counters.b_to_a_packets, counters.dropped), (2, 11));
}

#[test]
fn a_packet_from_the_latched_source_resets_the_count() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(T0, slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    let mut ms = 0;
    for round in 0..3u16 {
        for seq in 0..10 {
            ms += 20;
            let decision = table.on_packet(
                at_ms(ms),
                slots.b_rtp,
                addr("203.0.113.66:1234"),
                &rtp(round * 100 + seq),
            );
            assert_eq!(decision, RelayDecision::Drop(DropReason::UnlatchedSource));
        }
        // The real peer still talks: the intruder's run never lasts 200 ms.
        ms += 1;
        assert!(matches!(
            table.on_packet(
                at_ms(ms),
                slots.b_rtp,
                addr("198.51.100.1:5000"),
                &rtp(round * 100 + 50)
            ),
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
    table.on_packet(T0, slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1));
    for seq in 0..40u16 {
        let stranger = if seq % 2 == 0 {
            "203.0.113.1:1000"
        } else {
            "203.0.113.2:1000"
        };
        assert_eq!(
            table.on_packet(
                at_ms(u64::from(seq) * 20),
                slots.b_rtp,
                addr(stranger),
                &rtp(seq)
            ),
            RelayDecision::Drop(DropReason::UnlatchedSource)
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}
