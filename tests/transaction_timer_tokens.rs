//! Timer tokens: bit 63 marks the layer's; a token of an ended transaction, or one delivered
//! twice, is ignored; the TU is told when it never answered a request (the layer sent 408).
mod transaction_support;

use handoff::core::TimerToken;
use handoff::core::transaction::{ServerAction, TimerName, TransactionLayer, TxRef};
use transaction_support::*;

#[test]
fn stale_and_foreign_tokens_are_ignored() {
    assert!(!TransactionLayer::owns_token(TimerToken(7)));
    let mut d = Driver::new();
    let bye = request_with(
        "BYE",
        "z9hG4bKstale",
        "stale@carrier",
        "ft",
        Some("t"),
        2,
        "BYE",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &bye) else {
        panic!("new")
    };
    let tokens: Vec<TimerToken> = d.timers.iter().map(|&(_, t)| t).collect();
    assert!(!tokens.is_empty());
    d.layer
        .respond(d.now, tx, 200, b"SIP/2.0 200 OK\r\n\r\n".to_vec())
        .unwrap();
    d.drain();
    d.advance_to_ms(100_000);
    assert_eq!(d.layer.live_count(), 0);
    // A second transaction reuses the slot; the old tokens must not touch it.
    let ServerAction::New(_) = d.request(
        CARRIER,
        &request_with("BYE", "z9hG4bKnew", "n@c", "ft", Some("t"), 2, "BYE", 70),
    ) else {
        panic!("new")
    };
    let sent = d.sent.len();
    for token in tokens {
        assert_eq!(d.layer.handle_timer(d.now, token), None);
        assert_eq!(d.layer.handle_timer(d.now, token), None);
    }
    assert_eq!(d.layer.handle_timer(d.now, TimerToken(7)), None);
    assert_eq!(d.layer.handle_timer(d.now, TimerToken(u64::MAX)), None);
    d.drain();
    assert_eq!(d.sent.len(), sent);
    assert_eq!(d.layer.live_count(), 1);
}

#[test]
fn an_unanswered_request_gets_408_from_the_layer_and_the_tu_is_told() {
    let mut d = Driver::new();
    let info = request_with(
        "INFO",
        "z9hG4bKinfo",
        "info@carrier",
        "ft",
        Some("t"),
        3,
        "INFO",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &info) else {
        panic!("new")
    };
    d.advance_to_ms(32_000);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(d.timeouts[0].1.tx, TxRef::Server(tx));
    assert_eq!(d.timeouts[0].1.timer, TimerName::Unanswered);
    assert_eq!(status_of(&d.last_sent()), 408);
    assert!(
        d.layer
            .respond(d.now, tx, 200, b"SIP/2.0 200 OK\r\n\r\n".to_vec())
            .is_err()
    );
    d.advance_to_ms(64_000);
    assert_eq!(d.layer.live_count(), 0);
}
