//! Strict media sources, in the relay's decision table (issue 9, protection 5): a leg's RTP/RTCP
//! is accepted only from the IP its SDP `c=` names, its trunk's peer IP, or an address inside
//! the trunk's `media_networks`; within an allowed IP the port may change, but a change of
//! source needs N packets in a row with the same SSRC (RFC 3550 section 3: the SSRC identifies
//! the stream) spread over at least 200 ms. Packets from elsewhere are dropped and counted.
//! These are the "RTP bleed" cases: a stranger latching an unlatched port, and a burst taking
//! over an established stream.

mod media_relay_support;
use media_relay_support::*;

/// Leg A: a carrier whose SDP says 192.0.2.1:4000, signalling peer 192.0.2.100, media servers in
/// 192.0.2.128/25. Leg B: a platform at 198.51.100.1:5000, peer 198.51.100.10, no networks.
fn strict_call(table: &mut RelayTable) -> CallSlots {
    table
        .open(
            call(1),
            strict_leg(
                30000,
                Some("192.0.2.1:4000"),
                "192.0.2.100",
                &["192.0.2.128/25"],
            ),
            strict_leg(30002, Some("198.51.100.1:5000"), "198.51.100.10", &[]),
        )
        .unwrap()
}

const ATTACKER: &str = "203.0.113.66:4000";

#[test]
fn a_foreign_ip_never_latches_before_or_after_the_peer_speaks() {
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    // Before the peer's first packet: a steady stream with one SSRC over a whole second.
    for i in 0..50u16 {
        for slot in [slots.a_rtp, slots.b_rtp] {
            assert_eq!(
                table.on_packet(
                    at_ms(u64::from(i) * 20),
                    slot,
                    addr(ATTACKER),
                    &rtp_ssrc(i, 7)
                ),
                RelayDecision::Drop(DropReason::ForeignSource)
            );
        }
    }
    // Nothing was learnt from it: each side still sends to its SDP address.
    assert_eq!(table.destination(slots.a_rtp), Some(addr("192.0.2.1:4000")));
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
    // The real peers latch and talk.
    assert_eq!(
        table.on_packet(at_ms(1000), slots.b_rtp, addr("198.51.100.1:5000"), &rtp(1)),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
    // After: the same stream still never gets in.
    for i in 0..50u16 {
        assert_eq!(
            table.on_packet(
                at_ms(1000 + u64::from(i) * 20),
                slots.b_rtp,
                addr(ATTACKER),
                &rtp_ssrc(i, 7)
            ),
            RelayDecision::Drop(DropReason::ForeignSource)
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
    let counters = table.counters(call(1)).unwrap();
    assert_eq!(counters.dropped_foreign_source, 150);
    assert_eq!(counters.dropped, 150);
    assert_eq!(counters.b_to_a_packets, 1);
}

#[test]
fn rtcp_from_a_foreign_ip_is_dropped_too() {
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    assert_eq!(
        table.on_packet(T0, slots.b_rtcp, addr("203.0.113.66:4001"), &rtcp_rr()),
        RelayDecision::Drop(DropReason::ForeignSource)
    );
    assert_eq!(
        table.on_packet(T0, slots.b_rtcp, addr("198.51.100.1:5001"), &rtcp_rr()),
        forward(slots.a_rtcp, "192.0.2.1:4001")
    );
}

#[test]
fn the_peer_ip_and_the_media_networks_are_allowed() {
    // The c= IP is covered by the tests above; here the other two members of the set.
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    // Carrier media from a media server inside 192.0.2.128/25 (not its c=): latched.
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.200:30000"), &rtp(1)),
        forward(slots.b_rtp, "198.51.100.1:5000")
    );
    // Just outside the network: foreign.
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.127:30000"), &rtp(2)),
        RelayDecision::Drop(DropReason::ForeignSource)
    );
    // The platform's media from its signalling peer's IP: latched.
    assert_eq!(
        table.on_packet(T0, slots.b_rtp, addr("198.51.100.10:7078"), &rtp(1)),
        forward(slots.a_rtp, "192.0.2.200:30000")
    );
    // IPv4-mapped IPv6 is the same address.
    assert_eq!(
        table.on_packet(
            T0,
            slots.b_rtp,
            addr("[::ffff:198.51.100.10]:7078"),
            &rtp(2)
        ),
        RelayDecision::Drop(DropReason::UnlatchedSource),
        "allowed (not foreign), but another source than the latched one"
    );
}

#[test]
fn a_burst_from_an_allowed_ip_on_a_new_port_does_not_move_the_latch() {
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    table.on_packet(
        T0,
        slots.b_rtp,
        addr("198.51.100.1:5000"),
        &rtp_ssrc(1, 0xAB),
    );
    // 100 packets, same SSRC, within 150 ms: far more than N, but not spread over 200 ms.
    for i in 0..100u16 {
        let t = Time(Time::from_millis(500).0 + u64::from(i) * 1_500_000);
        assert_eq!(
            table.on_packet(
                t,
                slots.b_rtp,
                addr("198.51.100.1:6666"),
                &rtp_ssrc(i, 0xCD)
            ),
            RelayDecision::Drop(DropReason::UnlatchedSource),
            "packet {i}"
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
    // The peer's stream still flows.
    assert!(matches!(
        table.on_packet(
            at_ms(700),
            slots.b_rtp,
            addr("198.51.100.1:5000"),
            &rtp_ssrc(2, 0xAB)
        ),
        RelayDecision::Forward { .. }
    ));
}

#[test]
fn a_steady_run_over_200_ms_with_one_ssrc_moves_the_latch() {
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    table.on_packet(
        T0,
        slots.b_rtp,
        addr("198.51.100.1:5000"),
        &rtp_ssrc(1, 0xAB),
    );
    // NAT rebinding: the peer's stream (same SSRC) now arrives from a new port, every 20 ms.
    let mut moved_at = None;
    for i in 0..20u16 {
        let ms = 1000 + u64::from(i) * 20;
        let decision = table.on_packet(
            at_ms(ms),
            slots.b_rtp,
            addr("198.51.100.1:5002"),
            &rtp_ssrc(i, 0xAB),
        );
        if matches!(decision, RelayDecision::Forward { .. }) {
            moved_at = Some(ms);
            break;
        }
        assert_eq!(decision, RelayDecision::Drop(DropReason::UnlatchedSource));
    }
    assert_eq!(
        moved_at,
        Some(1200),
        "the first packet 200 ms into the run moves the latch"
    );
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5002"))
    );
}

#[test]
fn an_ssrc_change_restarts_the_run() {
    let mut table = RelayTable::new();
    let slots = strict_call(&mut table);
    table.on_packet(
        T0,
        slots.b_rtp,
        addr("198.51.100.1:5000"),
        &rtp_ssrc(1, 0xAB),
    );
    let new_port = addr("198.51.100.1:5002");
    // 0..180 ms: SSRC 1; from 200 ms on, SSRC 2 (another stream: it starts its own run).
    for i in 0..10u16 {
        let ms = 1000 + u64::from(i) * 20;
        assert_eq!(
            table.on_packet(at_ms(ms), slots.b_rtp, new_port, &rtp_ssrc(i, 1)),
            RelayDecision::Drop(DropReason::UnlatchedSource)
        );
    }
    for i in 10..20u16 {
        let ms = 1000 + u64::from(i) * 20;
        assert_eq!(
            table.on_packet(at_ms(ms), slots.b_rtp, new_port, &rtp_ssrc(i, 2)),
            RelayDecision::Drop(DropReason::UnlatchedSource),
            "{ms} ms: SSRC 2's run started at 1200 ms"
        );
    }
    // Alternating SSRCs never make a run at all.
    for i in 20..60u16 {
        let ms = 1000 + u64::from(i) * 20;
        assert_eq!(
            table.on_packet(
                at_ms(ms),
                slots.b_rtp,
                new_port,
                &rtp_ssrc(i, u32::from(i % 2))
            ),
            RelayDecision::Drop(DropReason::UnlatchedSource)
        );
    }
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}

#[test]
fn a_loopback_or_multicast_c_line_is_no_destination_unless_the_trunk_is_there() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            strict_leg(30000, Some("127.0.0.1:4000"), "192.0.2.100", &[]),
            strict_leg(30002, Some("239.1.1.1:5000"), "198.51.100.10", &[]),
        )
        .unwrap();
    assert_eq!(table.destination(slots.a_rtp), None);
    assert_eq!(table.destination(slots.b_rtp), None);
    // And loopback is not an allowed source for that leg either.
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("127.0.0.1:4000"), &rtp(1)),
        RelayDecision::Drop(DropReason::ForeignSource)
    );
    // A trunk whose peer is on loopback (a lab, the tests): loopback is its peer IP.
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(2),
            strict_leg(30000, Some("127.0.0.1:4000"), "127.0.0.1", &[]),
            strict_leg(30002, Some("127.0.0.1:5000"), "127.0.0.1", &[]),
        )
        .unwrap();
    assert_eq!(table.destination(slots.a_rtp), Some(addr("127.0.0.1:4000")));
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("127.0.0.1:4000"), &rtp(1)),
        forward(slots.b_rtp, "127.0.0.1:5000")
    );
    // Another loopback address is not the peer's IP.
    assert_eq!(
        table.on_packet(T0, slots.b_rtp, addr("127.0.0.77:5000"), &rtp(1)),
        RelayDecision::Drop(DropReason::ForeignSource)
    );
}
