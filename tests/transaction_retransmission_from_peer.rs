//! `TransactionLayer::on_retransmission`: the shard asks it before dropping a request from an
//! address that is no trunk's (a reload moved the trunk away after the request was taken). It
//! answers a retransmission of a live server transaction from the address that sent the
//! request, as RFC 3261 section 17.2.2 says (the final again), and touches nothing else: no new
//! transaction, no answer to another address.
mod transaction_support;

use handoff::core::transaction::ServerAction;
use handoff::sip::Message;
use handoff::vocab::StatusCode;
use transaction_support::*;

fn bye(branch: &str) -> Vec<u8> {
    request_with(
        "BYE",
        branch,
        "moved@platform",
        "pt",
        Some("hf00000000000000000001"),
        2,
        "BYE",
        70,
    )
}

#[test]
fn a_retransmission_from_the_requests_source_gets_the_final_again() {
    let mut d = Driver::new();
    let request = bye("z9hG4bK-moved-1");
    let ServerAction::New(tx) = d.request(CARRIER, &request) else {
        panic!("expected a new transaction")
    };
    let message = Message::parse(&request).unwrap();
    let ok = handoff::sip::response_to(&message, StatusCode::OK, "OK")
        .build()
        .unwrap();
    d.layer.respond(d.now, tx, StatusCode::OK, ok).unwrap();
    d.drain();
    let sent = d.sent.len();
    assert!(d.layer.on_retransmission(d.now, addr(CARRIER), &message));
    d.drain();
    assert_eq!(d.sent.len(), sent + 1);
    assert_eq!(status_of(&d.last_sent()), 200);
    assert_eq!(d.sent.last().unwrap().1.to, addr(CARRIER));
}

#[test]
fn anything_else_is_left_alone() {
    let mut d = Driver::new();
    let request = bye("z9hG4bK-moved-2");
    let message = Message::parse(&request).unwrap();
    // No such transaction: not created, not answered.
    assert!(!d.layer.on_retransmission(d.now, addr(CARRIER), &message));
    d.drain();
    assert!(d.sent.is_empty());
    assert_eq!(d.layer.live_count(), 0);
    // A live transaction, but the same request from another address: not answered.
    let ServerAction::New(_) = d.request(CARRIER, &request) else {
        panic!("expected a new transaction")
    };
    let sent = d.sent.len();
    assert!(!d.layer.on_retransmission(d.now, addr(PLATFORM), &message));
    d.drain();
    assert_eq!(d.sent.len(), sent);
}
