//! Symmetric latching: SDP address until the first packet, then the packets' real source.

mod media_relay_support;
use media_relay_support::*;

#[test]
fn sends_to_sdp_address_until_the_peer_sends() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    // A talks first: B has not sent anything, so B's SDP address is used.
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(1)),
        forward(slots.b_rtp, "198.51.100.1:5000")
    );
    // B sends from behind a NAT: its real source is latched on its slot.
    assert_eq!(
        table.on_packet(T0, slots.b_rtp, addr("203.0.113.9:61000"), &rtp(1)),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(2)),
        forward(slots.b_rtp, "203.0.113.9:61000")
    );
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("203.0.113.9:61000"))
    );
}

#[test]
fn latching_works_without_any_sdp_address() {
    let mut table = RelayTable::new();
    let slots = open(&mut table, None, None);
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(1)),
        RelayDecision::Drop(DropReason::NoDestination)
    );
    assert_eq!(
        table.on_packet(T0, slots.b_rtp, addr("198.51.100.7:5000"), &rtp(1)),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(2)),
        forward(slots.b_rtp, "198.51.100.7:5000")
    );
    assert_eq!(table.counters(call(1)).unwrap().dropped, 1);
}

#[test]
fn rtcp_goes_to_port_plus_one_then_latches_separately() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    assert_eq!(
        table.on_packet(T0, slots.a_rtcp, addr("192.0.2.1:4001"), &rtcp_rr()),
        forward(slots.b_rtcp, "198.51.100.1:5001")
    );
    assert_eq!(
        table.on_packet(T0, slots.b_rtcp, addr("203.0.113.9:61001"), &rtcp_rr()),
        forward(slots.a_rtcp, "192.0.2.1:4001")
    );
    assert_eq!(
        table.on_packet(T0, slots.a_rtcp, addr("192.0.2.1:4001"), &rtcp_rr()),
        forward(slots.b_rtcp, "203.0.113.9:61001")
    );
    // RTP latching is independent of RTCP's.
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.1:5000"))
    );
}

#[test]
fn update_with_a_new_sdp_address_forgets_the_latch() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.on_packet(T0, slots.b_rtp, addr("203.0.113.9:61000"), &rtp(1));
    // Same addresses: latch kept.
    table
        .update(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), false),
            leg(30002, Some("198.51.100.1:5000"), false),
        )
        .unwrap();
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("203.0.113.9:61000"))
    );
    // B's media moved (transfer target answered): back to the SDP address until it sends.
    table
        .update(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), false),
            leg(30002, Some("198.51.100.50:7000"), false),
        )
        .unwrap();
    assert_eq!(
        table.destination(slots.b_rtp),
        Some(addr("198.51.100.50:7000"))
    );
    assert_eq!(
        table.on_packet(T0, slots.b_rtp, addr("198.51.100.50:7000"), &rtp(1)),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
}
