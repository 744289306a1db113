//! A request with the From tag, Call-ID and CSeq of a pending one but another branch (it forked
//! upstream and came back on another path) gets 482 Loop Detected (RFC 3261 8.2.2.2).
mod transaction_support;

use handoff::core::transaction::ServerAction;
use transaction_support::*;

#[test]
fn merged_invite_gets_482_and_the_original_is_untouched() {
    let mut d = Driver::new();
    let ServerAction::New(tx) =
        d.request(CARRIER, &invite("z9hG4bKpath1", "merge@carrier", "ft", 1))
    else {
        panic!("new")
    };
    let before = d.sent.len();
    assert_eq!(
        d.request(CARRIER, &invite("z9hG4bKpath2", "merge@carrier", "ft", 1)),
        ServerAction::MergedRequest
    );
    let sent = d.sent_since(before);
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0].2), 482);
    assert!(
        header_of(&sent[0].2, "Via")
            .unwrap()
            .contains("z9hG4bKpath2")
    );
    // Its retransmission gets the same 482 and is not reported again.
    assert_eq!(
        d.request(CARRIER, &invite("z9hG4bKpath2", "merge@carrier", "ft", 1)),
        ServerAction::Absorbed
    );
    assert_eq!(status_of(&d.last_sent()), 482);
    assert!(d.layer.server_awaiting_final(tx));

    // A new CSeq, or a request inside a dialog (To tag), is not a merge.
    assert!(matches!(
        d.request(CARRIER, &invite("z9hG4bKpath3", "merge@carrier", "ft", 2)),
        ServerAction::New(_)
    ));
    let in_dialog = request_with(
        "INVITE",
        "z9hG4bKpath4",
        "merge@carrier",
        "ft",
        Some("hf00000000000000000001"),
        1,
        "INVITE",
        70,
    );
    assert!(matches!(
        d.request(CARRIER, &in_dialog),
        ServerAction::New(_)
    ));
}
