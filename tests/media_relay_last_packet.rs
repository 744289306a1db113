//! Session liveness (issue 9, protection 7) reads "no RTP from either side" from the relay table:
//! the arrival of the last packet it accepted from a leg (`RelayTable::last_packet`). Only a
//! leg's own media counts: a stranger's packets (dropped as foreign sources) and garbage must not
//! keep a silent call alive, or an attacker could hold trunk sessions open by spraying ports.

mod media_relay_support;
use media_relay_support::*;

#[test]
fn only_accepted_packets_from_either_leg_are_activity() {
    let mut table = RelayTable::new();
    let slots = table
        .open(
            call(1),
            strict_leg(30000, Some("192.0.2.1:4000"), "192.0.2.100", &[]),
            strict_leg(30002, Some("198.51.100.1:5000"), "198.51.100.10", &[]),
        )
        .unwrap();
    assert_eq!(table.last_packet(call(1)), None, "no media yet");
    // A stranger's stream and garbage from the peer: not media of the call.
    for i in 0..20u16 {
        table.on_packet(
            at_ms(u64::from(i) * 20),
            slots.a_rtp,
            addr("203.0.113.66:4000"),
            &rtp(i),
        );
    }
    table.on_packet(at_ms(500), slots.a_rtp, addr("192.0.2.1:4000"), b"junk");
    assert_eq!(
        table.last_packet(call(1)),
        None,
        "foreign or malformed packets counted"
    );
    // Leg A speaks, then leg B: each one's packet is the call's latest activity.
    table.on_packet(at_ms(1_000), slots.a_rtp, addr("192.0.2.1:4000"), &rtp(1));
    assert_eq!(table.last_packet(call(1)), Some(at_ms(1_000)));
    table.on_packet(
        at_ms(2_000),
        slots.b_rtp,
        addr("198.51.100.1:5000"),
        &rtp(1),
    );
    assert_eq!(table.last_packet(call(1)), Some(at_ms(2_000)));
    // A closed call has none.
    table.close(call(1)).unwrap();
    assert_eq!(table.last_packet(call(1)), None);
}
