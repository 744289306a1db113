//! INVITE server, non-2xx final: Timer G retransmits it (T1 doubling, capped at T2) until the
//! ACK, which the transaction absorbs (Confirmed, Timer I); without ACK, Timer H reports.
mod transaction_support;

use handoff::core::transaction::{ServerAction, TimerName, TxRef};
use handoff::vocab::StatusCode;
use transaction_support::*;

fn busy(branch: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         From: <sip:+15550001111@carrier.example.com>;tag=ft\r\nTo: <sip:+15551234567@sbc.example.net>;tag=hf00000000000000000003\r\n\
         Call-ID: c486@carrier\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn the_ack_stops_timer_g_and_is_absorbed() {
    let mut d = Driver::new();
    let branch = "z9hG4bKbusy1";
    let ServerAction::New(tx) = d.request(CARRIER, &invite(branch, "c486@carrier", "ft", 1)) else {
        panic!("new")
    };
    d.layer
        .respond(d.now, tx, StatusCode::BUSY_HERE, busy(branch))
        .unwrap();
    d.drain();
    d.advance_to_ms(5_000);
    // Sent at 0, then G at 0.5, 1.5, 3.5 (intervals 0.5, 1, 2).
    assert_eq!(d.send_times("SIP/2.0 486"), vec![0, 500, 1_500, 3_500]);

    let ack = request_with(
        "ACK",
        branch,
        "c486@carrier",
        "ft",
        Some("hf00000000000000000003"),
        1,
        "ACK",
        70,
    );
    assert_eq!(d.request(CARRIER, &ack), ServerAction::Absorbed);
    assert_eq!(
        d.request(CARRIER, &ack),
        ServerAction::Absorbed,
        "ACK retransmission"
    );
    d.advance_to_ms(60_000);
    assert_eq!(
        d.send_times("SIP/2.0 486").len(),
        4,
        "no retransmission after the ACK"
    );
    assert!(d.timeouts.is_empty());
    assert_eq!(d.layer.live_count(), 0, "Timer I ended it");
}

#[test]
fn timer_g_caps_at_t2_and_timer_h_reports_a_missing_ack() {
    let mut d = Driver::new();
    let branch = "z9hG4bKbusy2";
    let ServerAction::New(tx) = d.request(CARRIER, &invite(branch, "c486@carrier", "ft", 1)) else {
        panic!("new")
    };
    d.layer
        .respond(d.now, tx, StatusCode::BUSY_HERE, busy(branch))
        .unwrap();
    d.drain();
    d.advance_to_ms(40_000);
    let expected: Vec<u64> = [0, 500, 1_500, 3_500, 7_500]
        .into_iter()
        .chain((1..=6).map(|k| 7_500 + k * 4_000))
        .collect();
    assert_eq!(d.send_times("SIP/2.0 486"), expected);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(d.timeouts[0].0.as_millis(), 32_000);
    assert_eq!(d.timeouts[0].1.tx, TxRef::Server(tx));
    assert_eq!(d.timeouts[0].1.timer, TimerName::H);
    assert_eq!(d.layer.live_count(), 0);
}

#[test]
fn ack_for_a_2xx_goes_to_the_dialog() {
    let mut d = Driver::new();
    let ServerAction::New(tx) = d.request(CARRIER, &invite("z9hG4bKok1", "cok@carrier", "ft", 1))
    else {
        panic!("new")
    };
    d.layer
        .respond(
            d.now,
            tx,
            StatusCode::OK,
            b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        )
        .unwrap();
    d.drain();
    // The ACK for a 2xx is its own transaction (new branch).
    let ack = request_with(
        "ACK",
        "z9hG4bKack2xx",
        "cok@carrier",
        "ft",
        Some("hf00000000000000000009"),
        1,
        "ACK",
        70,
    );
    assert_eq!(
        d.request(CARRIER, &ack),
        ServerAction::AckWithoutTransaction
    );
    // A late retransmission of the INVITE is absorbed (RFC 6026 Accepted), not a new call.
    assert_eq!(
        d.request(CARRIER, &invite("z9hG4bKok1", "cok@carrier", "ft", 1)),
        ServerAction::Absorbed
    );
    d.advance_to_ms(32_000);
    assert_eq!(d.layer.live_count(), 0, "Timer L ended it");
}
