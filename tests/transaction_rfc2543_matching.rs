//! Requests without the RFC 3261 magic cookie are matched on Request-URI, To tag, From tag,
//! Call-ID, CSeq and top Via (RFC 3261 17.2.3 fallback).
mod transaction_support;

use handoff::core::transaction::ServerAction;
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn retransmission_without_magic_cookie_is_matched_on_the_legacy_fields() {
    let mut d = Driver::new();
    // An RFC 2543 branch (no z9hG4bK), and none at all.
    for branch in ["1b2a3c", ""] {
        let call_id = format!("legacy-{branch}@old.example.com");
        let inv = invite(branch, &call_id, "ft", 7);
        assert!(matches!(d.request(CARRIER, &inv), ServerAction::New(_)));
        assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
        // Another CSeq is another transaction.
        assert!(matches!(
            d.request(CARRIER, &invite(branch, &call_id, "ft", 8)),
            ServerAction::New(_)
        ));
        // Another From tag too.
        assert!(matches!(
            d.request(CARRIER, &invite(branch, &call_id, "ft2", 7)),
            ServerAction::New(_)
        ));
    }
}

#[test]
fn legacy_ack_matches_with_the_to_tag_of_our_response_and_cancel_finds_its_invite() {
    let mut d = Driver::new();
    let inv = invite("", "legacy-ack@old.example.com", "ft", 1);
    let ServerAction::New(tx) = d.request(CARRIER, &inv) else {
        panic!("new")
    };
    let cancel = request_with(
        "CANCEL",
        "",
        "legacy-ack@old.example.com",
        "ft",
        None,
        1,
        "CANCEL",
        70,
    );
    assert_eq!(
        d.request(CARRIER, &cancel),
        ServerAction::Cancel { invite: tx }
    );

    let terminated = b"SIP/2.0 487 Request Terminated\r\nVia: SIP/2.0/UDP 192.0.2.10:5060\r\n\
From: <sip:x@y>;tag=ft\r\nTo: <sip:+15551234567@sbc.example.net>;tag=ourtag\r\nCall-ID: legacy-ack@old.example.com\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        .to_vec();
    d.layer
        .respond(d.now, tx, StatusCode::REQUEST_TERMINATED, terminated)
        .unwrap();
    d.drain();
    let wrong_tag = request_with(
        "ACK",
        "",
        "legacy-ack@old.example.com",
        "ft",
        Some("othertag"),
        1,
        "ACK",
        70,
    );
    assert_eq!(
        d.request(CARRIER, &wrong_tag),
        ServerAction::AckWithoutTransaction
    );
    let ack = request_with(
        "ACK",
        "",
        "legacy-ack@old.example.com",
        "ft",
        Some("ourtag"),
        1,
        "ACK",
        70,
    );
    assert_eq!(d.request(CARRIER, &ack), ServerAction::Absorbed);
    let sent = d.sent.len();
    d.advance_to_ms(10_000);
    assert_eq!(d.sent.len(), sent, "the ACK stopped Timer G");
}
