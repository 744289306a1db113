//! Max-Forwards 0 on a request other than OPTIONS gets 483 Too Many Hops from the layer; an
//! OPTIONS with Max-Forwards 0 goes to the TU (RFC 3261 11: answer it).
mod transaction_support;

use handoff::core::transaction::ServerAction;
use transaction_support::*;

#[test]
fn max_forwards_zero_gets_483_except_for_options() {
    let mut d = Driver::new();
    let looped = request_with(
        "INVITE",
        "z9hG4bKloop",
        "loop@carrier",
        "ft",
        None,
        1,
        "INVITE",
        0,
    );
    assert_eq!(d.request(CARRIER, &looped), ServerAction::TooManyHops);
    assert_eq!(d.sent.len(), 1);
    let answer = d.last_sent();
    assert_eq!(status_of(&answer), 483);
    assert!(header_of(&answer, "To").unwrap().contains(";tag="));
    // The caller ACKs the 483: absorbed by the layer's own transaction.
    let ack = request_with(
        "ACK",
        "z9hG4bKloop",
        "loop@carrier",
        "ft",
        Some("x"),
        1,
        "ACK",
        0,
    );
    assert_eq!(d.request(CARRIER, &ack), ServerAction::Absorbed);

    let bye = request_with(
        "BYE",
        "z9hG4bKloopbye",
        "loop2@carrier",
        "ft",
        Some("t"),
        2,
        "BYE",
        0,
    );
    assert_eq!(d.request(CARRIER, &bye), ServerAction::TooManyHops);
    assert_eq!(status_of(&d.last_sent()), 483);

    let sent = d.sent.len();
    let options = request_with(
        "OPTIONS",
        "z9hG4bKping",
        "ping@carrier",
        "ft",
        None,
        1,
        "OPTIONS",
        0,
    );
    assert!(matches!(d.request(CARRIER, &options), ServerAction::New(_)));
    assert_eq!(d.sent.len(), sent, "the TU answers the OPTIONS");

    let one_hop = request_with(
        "INVITE",
        "z9hG4bKok",
        "ok@carrier",
        "ft",
        None,
        1,
        "INVITE",
        1,
    );
    assert!(matches!(d.request(CARRIER, &one_hop), ServerAction::New(_)));
}
