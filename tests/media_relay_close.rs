//! close() returns the call's counters and frees its slots for reuse.

mod media_relay_support;
use media_relay_support::*;

use handoff::core::MediaCounters;
use handoff::media::relay::RelayError;

#[test]
fn close_returns_per_direction_counters() {
    let mut table = RelayTable::new();
    let slots = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    for seq in 0..10 {
        table.on_packet(T0, slots.a_rtp, addr("192.0.2.1:4000"), &rtp(seq));
    }
    for seq in 0..3 {
        table.on_packet(T0, slots.b_rtp, addr("198.51.100.1:5000"), &rtp(seq));
    }
    table.on_packet(T0, slots.b_rtcp, addr("198.51.100.1:5001"), &rtcp_rr());
    table.on_packet(T0, slots.b_rtp, addr("198.51.100.1:5000"), b"junk");
    assert_eq!(
        table.close(call(1)),
        Ok(MediaCounters {
            a_to_b_packets: 10,
            a_to_b_bytes: 1720,
            b_to_a_packets: 4,
            b_to_a_bytes: 524,
            dropped: 1,
            dropped_foreign_source: 0,
        })
    );
    assert_eq!(table.close(call(1)), Err(RelayError::UnknownCall(call(1))));
    assert_eq!(table.open_calls(), 0);
}

#[test]
fn slots_are_reused_and_calls_do_not_mix() {
    let mut table = RelayTable::new();
    let first = open(
        &mut table,
        Some("192.0.2.1:4000"),
        Some("198.51.100.1:5000"),
    );
    table.close(call(1)).unwrap();
    let second = table
        .open(
            call(2),
            leg(30004, Some("192.0.2.2:4000"), false),
            leg(30006, Some("198.51.100.2:5000"), false),
        )
        .unwrap();
    let mut reused: Vec<_> = second.all().to_vec();
    let mut old: Vec<_> = first.all().to_vec();
    reused.sort();
    old.sort();
    assert_eq!(reused, old, "closed slots are reused");
    assert_eq!(
        table.on_packet(T0, second.a_rtp, addr("192.0.2.2:4000"), &rtp(1)),
        forward(second.b_rtp, "198.51.100.2:5000")
    );
    let info = table.slot_info(second.b_rtcp).unwrap();
    assert_eq!((info.call, info.local_port), (call(2), 30007));
    assert_eq!(table.close(call(2)).unwrap().a_to_b_packets, 1);
}

#[test]
fn opening_a_call_twice_is_an_error() {
    let mut table = RelayTable::new();
    open(&mut table, None, None);
    assert!(matches!(
        table.open(call(1), leg(1, None, false), leg(2, None, false)),
        Err(RelayError::AlreadyOpen(_))
    ));
    assert!(matches!(
        table.update(call(9), leg(1, None, false), leg(2, None, false)),
        Err(RelayError::UnknownCall(_))
    ));
}
