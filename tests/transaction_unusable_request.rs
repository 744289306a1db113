//! A request that parses but lacks what matching needs (top Via, Call-ID, CSeq, From, To, a
//! sane Max-Forwards) is reported as unusable with the fault named, and nothing is sent or kept.
mod transaction_support;

use handoff::core::transaction::ServerAction;
use handoff::sip::Message;
use transaction_support::*;

fn without(header_prefix: &str) -> Vec<u8> {
    let text = String::from_utf8(invite("z9hG4bKu", "u@carrier", "ft", 1)).unwrap();
    text.split("\r\n")
        .filter(|line| !line.starts_with(header_prefix))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes()
}

#[test]
fn missing_matching_headers_make_the_request_unusable() {
    let mut checked = Vec::new();
    for (prefix, named) in [
        ("Via:", "Via"),
        ("Call-ID:", "Call-ID"),
        ("CSeq:", "CSeq"),
        ("From:", "From"),
        ("To:", "To"),
    ] {
        let bytes = without(prefix);
        let Ok(message) = Message::parse(&bytes) else {
            continue; // the parser itself refused it: the core answers 400 before the layer
        };
        let mut d = Driver::new();
        let action = d.layer.on_request(d.now, addr(CARRIER), &message);
        d.drain();
        let ServerAction::Unusable(fault) = action else {
            panic!("without {named}: expected Unusable, got {action:?}")
        };
        assert!(
            fault.to_string().contains(named),
            "fault {fault} should name {named}"
        );
        assert!(d.sent.is_empty());
        assert_eq!(d.layer.live_count(), 0);
        checked.push(named);
    }
    eprintln!("checked at the layer: {checked:?}");
    assert!(
        checked.len() >= 3,
        "the parser should leave most of these to the layer: {checked:?}"
    );
}

#[test]
fn a_response_is_not_a_request() {
    let mut d = Driver::new();
    let bytes = response_to_ours(200, "OK", "z9hG4bKx", "c@h", None, 1, "INVITE");
    let message = Message::parse(&bytes).unwrap();
    assert!(matches!(
        d.layer.on_request(d.now, addr(CARRIER), &message),
        ServerAction::Unusable(_)
    ));
}
