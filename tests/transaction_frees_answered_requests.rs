//! A transaction that has answered for good keeps only what it may still send: an ended call
//! waits 64*T1 with its transactions, so at thousands of calls per second the request bytes
//! they kept were most of the memory a shard held (perf/results/NOTES.md). What each state
//! still owes comes from RFC 3261 section 17 and RFC 6026:
//! - server INVITE after a 2xx (Accepted): absorbs retransmissions, sends nothing;
//! - server INVITE after a non-2xx: re-sends the final until the ACK (Completed), then nothing
//!   (Confirmed);
//! - server non-INVITE after its final (Completed): re-sends the final;
//! - client after a 2xx: sends nothing (the dialog ACKs an INVITE's 2xx); after a 401/407 the
//!   TU answers the challenge with the same request, so it is kept.
mod transaction_support;

use handoff::core::transaction::{ClientAction, ServerAction};
use handoff::sip::{Message, Method};
use handoff::vocab::StatusCode;
use transaction_support::*;

fn answer(d: &mut Driver, tx: handoff::core::transaction::ServerTxId, request: &[u8], status: u16) {
    let message = Message::parse(request).unwrap();
    let status = StatusCode::new(status).unwrap();
    let response = handoff::sip::response_to(&message, status, "X")
        .to_tag("hf00000000000000000001")
        .build()
        .unwrap();
    d.layer.respond(d.now, tx, status, response).unwrap();
    d.drain();
}

#[test]
fn server_invite_frees_its_request_after_a_2xx_and_still_absorbs_retransmissions() {
    let mut d = Driver::new();
    let inv = invite("z9hG4bK-free-1", "free-1@carrier", "ft1", 1);
    let ServerAction::New(tx) = d.request(CARRIER, &inv) else {
        panic!("expected a new transaction")
    };
    assert_eq!(d.layer.server_request(tx), Some(&inv[..]));
    answer(&mut d, tx, &inv, 200);
    assert_eq!(d.layer.server_request(tx), None);
    let sent = d.sent.len();
    assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
    assert_eq!(
        d.sent.len(),
        sent,
        "Accepted sends nothing for a retransmission"
    );
}

#[test]
fn server_invite_keeps_its_final_until_the_ack_then_frees_everything() {
    let mut d = Driver::new();
    let inv = invite("z9hG4bK-free-2", "free-2@carrier", "ft2", 1);
    let ServerAction::New(tx) = d.request(CARRIER, &inv) else {
        panic!("expected a new transaction")
    };
    answer(&mut d, tx, &inv, 486);
    let busy = d.last_sent();
    assert_eq!(status_of(&busy), 486);
    // Completed: a retransmitted INVITE gets the 486 again.
    assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
    assert_eq!(d.last_sent(), busy);
    let ack = request_with(
        "ACK",
        "z9hG4bK-free-2",
        "free-2@carrier",
        "ft2",
        Some("hf00000000000000000001"),
        1,
        "ACK",
        70,
    );
    d.request(CARRIER, &ack);
    assert_eq!(d.layer.server_request(tx), None);
    let sent = d.sent.len();
    assert_eq!(d.request(CARRIER, &inv), ServerAction::Absorbed);
    assert_eq!(d.sent.len(), sent, "Confirmed sends nothing");
}

#[test]
fn server_non_invite_frees_its_request_and_still_resends_its_final() {
    let mut d = Driver::new();
    let bye = request_with(
        "BYE",
        "z9hG4bK-free-3",
        "free-3@carrier",
        "ft3",
        Some("hf00000000000000000001"),
        2,
        "BYE",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &bye) else {
        panic!("expected a new transaction")
    };
    answer(&mut d, tx, &bye, 200);
    let ok = d.last_sent();
    assert_eq!(d.layer.server_request(tx), None);
    assert_eq!(d.request(CARRIER, &bye), ServerAction::Absorbed);
    assert_eq!(d.last_sent(), ok, "Completed re-sends the final");
}

fn our_transaction(
    d: &mut Driver,
    method: Method,
    branch: &str,
    call_id: &str,
) -> (handoff::core::transaction::ClientTxId, Vec<u8>) {
    let request = our_request(method.as_str(), branch, call_id, 1);
    let tx = d
        .layer
        .send_request(d.now, addr(PLATFORM), method, branch, request.clone())
        .unwrap();
    d.drain();
    (tx, request)
}

#[test]
fn client_frees_its_request_after_a_2xx() {
    for method in [Method::Invite, Method::Bye] {
        let mut d = Driver::new();
        let branch = format!("z9hG4bK-free-c2xx-{}", method.as_str());
        let (tx, request) = our_transaction(&mut d, method, &branch, "free-c@handoff");
        assert_eq!(d.layer.client_request(tx), Some(&request[..]));
        let ok = response_to_ours(
            200,
            "OK",
            &branch,
            "free-c@handoff",
            Some("pt"),
            1,
            method.as_str(),
        );
        assert!(matches!(
            d.response(PLATFORM, &ok),
            ClientAction::Final { .. }
        ));
        assert_eq!(d.layer.client_request(tx), None, "{}", method.as_str());
        // A retransmitted 2xx is still matched (INVITE: to the TU; others: absorbed).
        let again = d.response(PLATFORM, &ok);
        assert!(
            !matches!(again, ClientAction::Stray),
            "{}: {again:?}",
            method.as_str()
        );
    }
}

#[test]
fn client_keeps_its_request_after_a_challenge() {
    for (method, status) in [(Method::Invite, 407), (Method::Bye, 401)] {
        let mut d = Driver::new();
        let branch = format!("z9hG4bK-free-auth-{}", method.as_str());
        let (tx, request) = our_transaction(&mut d, method, &branch, "free-a@handoff");
        let challenge = response_to_ours(
            status,
            "Authenticate",
            &branch,
            "free-a@handoff",
            Some("pt"),
            1,
            method.as_str(),
        );
        assert!(matches!(
            d.response(PLATFORM, &challenge),
            ClientAction::Final { .. }
        ));
        assert_eq!(
            d.layer.client_request(tx),
            Some(&request[..]),
            "{} {status}: the TU answers the challenge with it",
            method.as_str()
        );
    }
}
