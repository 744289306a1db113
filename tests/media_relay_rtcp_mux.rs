//! rtcp-mux: RTCP on the RTP socket (RFC 5761) goes to the other leg's RTCP destination.

mod media_relay_support;
use media_relay_support::*;

fn sender_report() -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.resize(28, 0);
    p
}

#[test]
fn muxed_rtcp_to_unmuxed_leg_goes_to_its_rtcp_socket() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), true),
            leg(30002, Some("198.51.100.1:5000"), false),
        )
        .unwrap();
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &sender_report()),
        forward(slots.b_rtcp, "198.51.100.1:5001")
    );
    // And RTP on the same socket still goes to RTP.
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(1)),
        forward(slots.b_rtp, "198.51.100.1:5000")
    );
}

#[test]
fn unmuxed_rtcp_to_muxed_leg_goes_to_its_rtp_socket() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), true),
            leg(30002, Some("198.51.100.1:5000"), false),
        )
        .unwrap();
    assert_eq!(
        table.on_packet(
            T0,
            slots.b_rtcp,
            addr("198.51.100.1:5001"),
            &sender_report()
        ),
        forward(slots.a_rtp, "192.0.2.1:4000")
    );
}

#[test]
fn both_muxed_stays_on_rtp_sockets_and_follows_the_rtp_latch() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), true),
            leg(30002, Some("198.51.100.1:5000"), true),
        )
        .unwrap();
    table.on_packet(T0, slots.b_rtp, addr("203.0.113.9:40000"), &rtp(1));
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &sender_report()),
        forward(slots.b_rtp, "203.0.113.9:40000")
    );
}

#[test]
fn payload_types_72_to_76_with_marker_are_rtcp_only_when_muxed() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            leg(30000, Some("192.0.2.1:4000"), false),
            leg(30002, Some("198.51.100.1:5000"), false),
        )
        .unwrap();
    // Without mux, the RTP socket treats it as RTP (to the RTP destination).
    let mut packet = rtp(1);
    packet[1] = 0x80 | 72;
    assert_eq!(
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &packet),
        forward(slots.b_rtp, "198.51.100.1:5000")
    );
}
