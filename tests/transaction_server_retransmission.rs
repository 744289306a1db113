//! Server transactions absorb request retransmissions by re-sending their last response.
mod transaction_support;

use handoff::core::transaction::ServerAction;
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn invite_gets_100_trying_at_once_and_retransmissions_resend_the_last_provisional() {
    let mut d = Driver::new();
    let inv = invite(
        "z9hG4bK776asdhds",
        "a84b4c76e66710@pc33.atlanta.com",
        "1928301774",
        314159,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &inv) else {
        panic!("expected a new transaction")
    };
    assert_eq!(d.sent.len(), 1);
    let trying = d.last_sent();
    assert_eq!(status_of(&trying), 100);
    assert_eq!(d.sent[0].1.to, addr(CARRIER));
    assert_eq!(
        header_of(&trying, "Call-ID").as_deref(),
        Some("a84b4c76e66710@pc33.atlanta.com")
    );
    assert_eq!(header_of(&trying, "CSeq").as_deref(), Some("314159 INVITE"));
    assert!(
        !header_of(&trying, "To").unwrap().contains("tag="),
        "100 Trying carries no To tag"
    );
    assert_eq!(d.layer.server_request(tx), Some(&inv[..]));

    assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
    assert_eq!(d.sent.len(), 2);
    assert_eq!(d.last_sent(), trying);

    let ringing = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
From: <sip:+15550001111@carrier.example.com>;tag=1928301774\r\nTo: <sip:+15551234567@sbc.example.net>;tag=hf00000000000000000001\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\nCSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n"
        .to_vec();
    d.layer
        .respond(d.now, tx, StatusCode::RINGING, ringing.clone())
        .unwrap();
    d.drain();
    assert_eq!(d.sent.last().unwrap().1.payload, ringing);
    assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
    assert_eq!(d.sent.last().unwrap().1.payload, ringing);
    assert_eq!(d.sent.len(), 4);
}

#[test]
fn non_invite_retransmissions_get_the_final_again_until_timer_j() {
    let mut d = Driver::new();
    let bye = request_with(
        "BYE",
        "z9hG4bKbye1",
        "call-1@carrier",
        "ft",
        Some("hf00000000000000000002"),
        2,
        "BYE",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &bye) else {
        panic!("expected a new transaction")
    };
    assert!(d.sent.is_empty(), "no automatic provisional for non-INVITE");
    // Before the TU answers, a retransmission is absorbed silently.
    assert_eq!(d.request(CARRIER, &bye), ServerAction::Absorbed);
    assert!(d.sent.is_empty());

    let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye1\r\n\
From: <sip:x@y>;tag=ft\r\nTo: <sip:a@b>;tag=hf00000000000000000002\r\nCall-ID: call-1@carrier\r\nCSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n"
        .to_vec();
    d.layer
        .respond(d.now, tx, StatusCode::OK, ok.clone())
        .unwrap();
    d.drain();
    assert_eq!(d.request(CARRIER, &bye), ServerAction::Absorbed);
    assert_eq!(d.sent.len(), 2);
    assert!(d.sent.iter().all(|(_, t)| t.payload == ok));
    // Timer J = 64*T1 = 32 s.
    d.advance_to_ms(31_999);
    assert_eq!(d.layer.live_count(), 1);
    d.advance_to_ms(32_000);
    assert_eq!(d.layer.live_count(), 0);
    assert!(d.timeouts.is_empty());
    assert!(
        d.layer.respond(d.now, tx, StatusCode::OK, ok).is_err(),
        "ended transaction refuses responses"
    );
}
