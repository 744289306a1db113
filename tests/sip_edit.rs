//! The edit list: edits recorded against a parsed message and applied on serialisation.
//! Untouched lines are copied byte for byte; Content-Length is always recomputed.

use handoff::sip::{EditError, HeaderName, Message, Method};
use handoff::vocab::StatusCode;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
v: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
X-Custom: one\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-Custom: two\r\n\
Content-Type: application/sdp\r\n\
l: 5\r\n\
\r\n\
v=0\r\n";

fn parse(bytes: &[u8]) -> Message<'_> {
    Message::parse(bytes).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
}

#[test]
fn an_empty_edit_list_reproduces_the_message_with_a_canonical_content_length() {
    let m = parse(INVITE);
    let out = m.edit().serialize();
    let expected = String::from_utf8_lossy(INVITE).replace("l: 5\r\n", "Content-Length: 5\r\n");
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn prepend_remove_first_and_replace() {
    let m = parse(INVITE);
    let mut e = m.edit();
    e.remove_first(HeaderName::Via);
    e.prepend_header("Via", b"SIP/2.0/UDP sbc.example.net;branch=z9hG4bKsbc")
        .unwrap();
    e.replace_header(HeaderName::MaxForwards, b"69").unwrap();
    let out = e.serialize();
    let n = parse(&out);
    let vias: Vec<_> = n.vias().map(|v| v.unwrap().host).collect();
    assert_eq!(vias, vec!["sbc.example.net", "proxy.example.com"]);
    assert_eq!(n.max_forwards(), Ok(Some(69)));
    assert_eq!(n.body(), b"v=0\r\n");
    // Everything else is byte-identical.
    assert!(
        out.windows(b"X-Custom: one\r\n".len())
            .any(|w| w == b"X-Custom: one\r\n")
    );
}

#[test]
fn remove_header_drops_every_occurrence_including_compact_forms() {
    let m = parse(INVITE);
    let mut e = m.edit();
    e.remove_header(HeaderName::Via)
        .remove_header_named("x-custom");
    let out = e.serialize();
    let n = Message::parse_framing(&out).unwrap();
    assert_eq!(n.vias().count(), 0);
    assert!(n.header_by_name("X-Custom").is_none());
    assert_eq!(n.header_count(), m.header_count() - 4);
}

#[test]
fn replace_header_keeps_one_occurrence_at_the_first_position() {
    let m = parse(INVITE);
    let mut e = m.edit();
    e.replace_header(
        HeaderName::Via,
        b"SIP/2.0/UDP only.example.net;branch=z9hG4bKonly",
    )
    .unwrap();
    let out = e.serialize();
    let n = parse(&out);
    assert_eq!(n.vias().count(), 1);
    assert_eq!(n.headers().next().unwrap().kind, HeaderName::Via);
}

#[test]
fn replace_header_appends_when_absent() {
    let m = parse(INVITE);
    let mut e = m.edit();
    e.replace_header(HeaderName::ReferredBy, b"<sip:agent@cc.example.com>")
        .unwrap();
    let n_bytes = e.serialize();
    let n = parse(&n_bytes);
    assert_eq!(n.referred_by().unwrap().unwrap().uri.user(), Some("agent"));
}

#[test]
fn set_request_uri_rewrites_only_the_start_line() {
    let m = parse(INVITE);
    let mut e = m.edit();
    e.set_request_uri("sip:+15559876543@trunk.example;user=phone")
        .unwrap();
    let out = e.serialize();
    let n = parse(&out);
    assert_eq!(n.method(), Some(Method::Invite));
    assert_eq!(n.request_uri().unwrap().user(), Some("+15559876543"));
    assert_eq!(n.request_uri().unwrap().param("user"), Some(Some("phone")));
    assert_eq!(n.call_id(), m.call_id());
    assert_eq!(
        m.edit().set_request_uri("not a uri").err(),
        Some(EditError::BadUri {
            uri: "not a uri".into(),
            fault: handoff::sip::UriFault::Whitespace
        })
    );
}

#[test]
fn set_body_fixes_content_length_and_content_type() {
    let m = parse(INVITE);
    let sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    let mut e = m.edit();
    e.set_body(Some("application/sdp"), sdp).unwrap();
    let out = e.serialize();
    let n = parse(&out);
    assert_eq!(n.body(), sdp);
    assert_eq!(n.content_length(), Ok(Some(sdp.len() as u64)));
    assert_eq!(n.header_lines(HeaderName::ContentType).count(), 1);

    let mut e = m.edit();
    e.set_body(None, b"").unwrap();
    let out = e.serialize();
    let n = parse(&out);
    assert!(n.body().is_empty());
    assert_eq!(n.content_length(), Ok(Some(0)));
    assert_eq!(
        n.content_type(),
        Ok(None),
        "an empty body drops Content-Type"
    );
}

#[test]
fn set_status_applies_to_responses_only() {
    let resp =
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    let m = parse(resp);
    let mut e = m.edit();
    e.set_status(StatusCode::SESSION_PROGRESS, "Session Progress")
        .unwrap();
    let out = e.serialize();
    let n = parse(&out);
    assert_eq!(
        (n.status(), n.reason()),
        (
            Some(StatusCode::SESSION_PROGRESS),
            Some(&b"Session Progress"[..])
        )
    );
    assert_eq!(
        parse(INVITE).edit().set_status(StatusCode::OK, "OK").err(),
        Some(EditError::NotAResponse)
    );
    assert_eq!(
        m.edit().set_request_uri("sip:a@b").err(),
        Some(EditError::NotARequest)
    );
}

#[test]
fn header_injection_and_content_length_are_refused() {
    let m = parse(INVITE);
    let mut e = m.edit();
    assert_eq!(
        e.add_header("X-Evil", b"a\r\nVia: SIP/2.0/UDP evil").err(),
        Some(EditError::LineBreakInValue("X-Evil".into()))
    );
    assert_eq!(
        e.add_header("Bad Name", b"x").err(),
        Some(EditError::BadHeaderName("Bad Name".into()))
    );
    assert_eq!(
        e.add_header("l", b"5").err(),
        Some(EditError::ContentLengthIsComputed)
    );
    // A fold is a legal line break.
    assert!(e.add_header("X-Folded", b"a\r\n b").is_ok());
    let out = e.serialize();
    assert_eq!(
        parse(&out).header_by_name("x-folded"),
        Some(&b"a\r\n b"[..])
    );
}

#[test]
fn octets_after_content_length_are_not_copied() {
    let mut dgram = INVITE.to_vec();
    dgram.extend_from_slice(b"garbage after the body");
    let m = parse(&dgram);
    let out = m.edit().serialize();
    assert!(out.ends_with(b"\r\n\r\nv=0\r\n"));
}
