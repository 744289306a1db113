//! CANCEL is matched to its INVITE by branch: the layer answers 200 to the CANCEL and the TU
//! sends 487; a CANCEL matching nothing gets 481; a CANCEL after the final only gets 200.
mod transaction_support;

use handoff::core::transaction::ServerAction;
use handoff::vocab::StatusCode;
use transaction_support::*;

fn cancel(branch: &str, call_id: &str) -> Vec<u8> {
    request_with("CANCEL", branch, call_id, "ft", None, 1, "CANCEL", 70)
}

#[test]
fn cancel_of_a_pending_invite_gets_200_and_names_the_invite() {
    let mut d = Driver::new();
    let branch = "z9hG4bKcancel1";
    let ServerAction::New(invite_tx) = d.request(CARRIER, &invite(branch, "cc@carrier", "ft", 1))
    else {
        panic!("new")
    };
    let before = d.sent.len();
    assert_eq!(
        d.request(CARRIER, &cancel(branch, "cc@carrier")),
        ServerAction::Cancel { invite: invite_tx }
    );
    let sent = d.sent_since(before);
    assert_eq!(sent.len(), 1);
    let ok = &sent[0].2;
    assert_eq!(status_of(ok), 200);
    assert_eq!(header_of(ok, "CSeq").as_deref(), Some("1 CANCEL"));
    assert!(
        header_of(ok, "To").unwrap().contains(";tag="),
        "final responses carry a To tag"
    );
    // A CANCEL retransmission gets the same 200 and is not reported again.
    assert_eq!(
        d.request(CARRIER, &cancel(branch, "cc@carrier")),
        ServerAction::Absorbed
    );
    assert_eq!(d.last_sent(), *ok);
    assert!(
        d.layer.server_awaiting_final(invite_tx),
        "the TU still owes the 487"
    );
}

#[test]
fn cancel_without_its_invite_gets_481() {
    let mut d = Driver::new();
    d.request(CARRIER, &invite("z9hG4bKother", "cc@carrier", "ft", 1));
    let before = d.sent.len();
    // Same dialog identifiers, different branch: no INVITE transaction matches.
    assert_eq!(
        d.request(CARRIER, &cancel("z9hG4bKnomatch", "cc@carrier")),
        ServerAction::CancelUnmatched
    );
    let sent = d.sent_since(before);
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0].2), 481);
    assert_eq!(sent[0].1, addr(CARRIER));
}

#[test]
fn cancel_after_the_final_gets_200_without_effect() {
    let mut d = Driver::new();
    let branch = "z9hG4bKlate";
    let ServerAction::New(tx) = d.request(CARRIER, &invite(branch, "late@carrier", "ft", 1)) else {
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
    assert_eq!(
        d.request(CARRIER, &cancel(branch, "late@carrier")),
        ServerAction::Absorbed
    );
    assert_eq!(status_of(&d.last_sent()), 200);
    assert_eq!(
        header_of(&d.last_sent(), "CSeq").as_deref(),
        Some("1 CANCEL")
    );
}
