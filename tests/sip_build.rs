//! Builders for messages the B2BUA originates: requests on its own legs and responses.

use handoff::sip::{
    EditError, HeaderName, Message, Method, RequestBuilder, parse_sipfrag, response_to,
};
use handoff::vocab::{InvalidStatusCode, StatusCode};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\
\r\n";

#[test]
fn response_copies_vias_from_to_call_id_cseq_and_adds_the_to_tag() {
    let req = Message::parse(INVITE).unwrap();
    let bytes = response_to(&req, StatusCode::RINGING, "Ringing")
        .to_tag("b2bua-7")
        .header("Contact", "<sip:sbc@192.0.2.1>")
        .build()
        .unwrap();
    let resp = Message::parse(&bytes).unwrap();
    assert_eq!(
        (resp.status(), resp.reason()),
        (Some(StatusCode::RINGING), Some(&b"Ringing"[..]))
    );
    let vias: Vec<_> = resp.vias().map(|v| v.unwrap().branch().unwrap()).collect();
    assert_eq!(vias, vec!["z9hG4bK776asdhds", "z9hG4bK1"]);
    assert_eq!(resp.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(resp.to().unwrap().tag(), Some("b2bua-7"));
    assert_eq!(resp.call_id(), req.call_id());
    assert_eq!(resp.cseq(), req.cseq());
    assert_eq!(
        resp.header(HeaderName::MaxForwards),
        None,
        "Max-Forwards is not copied"
    );
    assert_eq!(resp.content_length(), Ok(Some(0)));
}

#[test]
fn an_existing_to_tag_is_kept() {
    let with_tag = String::from_utf8_lossy(INVITE).replace(
        "To: Bob <sip:bob@biloxi.example.com>",
        "To: <sip:bob@b>;tag=old",
    );
    let req = Message::parse(with_tag.as_bytes()).unwrap();
    let bytes = response_to(&req, StatusCode::OK, "OK")
        .to_tag("new")
        .build()
        .unwrap();
    assert_eq!(
        Message::parse(&bytes).unwrap().to().unwrap().tag(),
        Some("old")
    );
}

#[test]
fn request_builder_writes_headers_in_order_and_a_body_with_its_length() {
    let frag = b"SIP/2.0 200 OK\r\n";
    let bytes = RequestBuilder::new(Method::Notify, "sip:alice@192.0.2.10:5060")
        .header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKn1")
        .header("Max-Forwards", "70")
        .header("From", "<sip:bob@biloxi.example.com>;tag=b2")
        .header("To", "<sip:alice@atlanta.example.com>;tag=a1")
        .header("Call-ID", "n1@sbc")
        .header("CSeq", "2 NOTIFY")
        .header("Event", "refer;id=314159")
        .header("Subscription-State", "terminated;reason=noresource")
        .body("message/sipfrag;version=2.0", frag)
        .build()
        .unwrap();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.method(), Some(Method::Notify));
    assert_eq!(m.event().unwrap().unwrap().id, Some("314159"));
    let state = m.subscription_state().unwrap().unwrap();
    assert!(state.is_terminated());
    assert_eq!(state.reason, Some("noresource"));
    assert!(m.content_type().unwrap().unwrap().is("message/sipfrag"));
    assert_eq!(parse_sipfrag(m.body()).unwrap().code, StatusCode::OK);
    assert_eq!(m.content_length(), Ok(Some(frag.len() as u64)));
    let names: Vec<_> = m.headers().map(|h| h.name).collect();
    assert_eq!(names[0], "Via");
    assert_eq!(*names.last().unwrap(), "Content-Length");
}

#[test]
fn builders_refuse_bad_input() {
    let err = RequestBuilder::new(Method::Bye, "sip:a@b")
        .header("X", "a\r\nInjected: 1")
        .build();
    assert_eq!(err, Err(EditError::LineBreakInValue("X".into())));
    let err = RequestBuilder::new(Method::Bye, "sip:a b").build();
    assert!(matches!(err, Err(EditError::BadUri { .. })));
    // A status outside 100..=699 cannot reach a builder: the type refuses it.
    assert_eq!(StatusCode::new(99), Err(InvalidStatusCode(99)));
}
