//! Attended transfer: a Refer-To carrying `?Replaces=` with %-escapes is parsed, translated to
//! the other leg's dialog, and re-serialised byte-exactly where nothing changed.

use handoff::sip::{HeaderName, Message, Method, Replaces, escape_uri_header_value};

const REFER: &[u8] = b"REFER sip:carrier@trunk.carrier-a.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKr1\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15551230000@trunk.carrier-a.example>;tag=c1\r\n\
From: <sip:agent@cc.example.com>;tag=a1\r\n\
Call-ID: call1@cc.example.com\r\n\
CSeq: 7 REFER\r\n\
Contact: <sip:agent@192.0.2.10>\r\n\
Refer-To: <sip:partner@host?Replaces=callid%3Bto-tag%3Dx%3Bfrom-tag%3Dy>\r\n\
Referred-By: <sip:agent@cc.example.com>\r\n\
Target-Dialog: call1@cc.example.com;local-tag=a1;remote-tag=c1\r\n\
Content-Length: 0\r\n\
\r\n";

#[test]
fn replaces_in_refer_to_is_exposed_unescaped() {
    let m = Message::parse(REFER).unwrap();
    assert_eq!(m.method(), Some(Method::Refer));
    let refer_to = m.refer_to().unwrap();
    assert_eq!(
        refer_to.uri.header("Replaces"),
        Some("callid%3Bto-tag%3Dx%3Bfrom-tag%3Dy")
    );
    let value = refer_to.uri.header_value_unescaped("Replaces").unwrap();
    assert_eq!(value, "callid;to-tag=x;from-tag=y");
    let replaces = Replaces::parse_cow(value).unwrap();
    assert_eq!(
        (&*replaces.call_id, &*replaces.to_tag, &*replaces.from_tag),
        ("callid", "x", "y")
    );
    assert!(!replaces.early_only);
    let td = m.target_dialog().unwrap().unwrap();
    assert_eq!(
        (td.call_id, td.local_tag, td.remote_tag),
        ("call1@cc.example.com", "a1", "c1")
    );
    assert_eq!(m.referred_by().unwrap().unwrap().uri.user(), Some("agent"));
}

#[test]
fn unchanged_refer_to_round_trips_byte_exact() {
    let m = Message::parse(REFER).unwrap();
    let uri = m.refer_to().unwrap().uri;
    assert_eq!(uri.to_buf().to_string(), uri.as_str());
    // Re-setting the same unescaped value reproduces the same escapes.
    let mut buf = uri.to_buf();
    buf.set_header_unescaped("Replaces", &uri.header_value_unescaped("Replaces").unwrap());
    assert_eq!(buf.to_string(), uri.as_str());
    let out = m.edit().serialize();
    assert_eq!(out, REFER);
}

#[test]
fn translated_replaces_is_escaped_into_the_new_refer_to() {
    let m = Message::parse(REFER).unwrap();
    let uri = m.refer_to().unwrap().uri;
    let mut translated =
        Replaces::parse_cow(uri.header_value_unescaped("Replaces").unwrap()).unwrap();
    translated.call_id = "leg-b-77@sbc".into();
    translated.to_tag = "t9".into();
    translated.from_tag = "f9".into();
    let mut buf = uri.to_buf();
    buf.host = "trunk.carrier-a.example".into();
    buf.set_header_unescaped("Replaces", &translated.to_value());
    let new_uri = buf.to_string();
    assert_eq!(
        new_uri,
        "sip:partner@trunk.carrier-a.example?Replaces=leg-b-77%40sbc%3Bto-tag%3Dt9%3Bfrom-tag%3Df9"
    );
    assert_eq!(escape_uri_header_value("a;b=c@d"), "a%3Bb%3Dc%40d");

    let mut edit = m.edit();
    edit.replace_header(HeaderName::ReferTo, format!("<{new_uri}>").as_bytes())
        .unwrap();
    let out = edit.serialize();
    let n = Message::parse(&out).unwrap();
    let r = Replaces::parse_cow(
        n.refer_to()
            .unwrap()
            .uri
            .header_value_unescaped("replaces")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&*r.call_id, &*r.to_tag, &*r.from_tag),
        ("leg-b-77@sbc", "t9", "f9")
    );
}
