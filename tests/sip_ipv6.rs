//! IPv6 references keep their brackets in Request-URI, Via sent-by, received and Contact, and
//! survive an edit round-trip byte for byte.

use handoff::sip::{HeaderName, Message, UriFault};

const INVITE: &[u8] = b"INVITE sip:bob@[2001:db8::10]:5062;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK6a;rport=5061;received=[2001:db8::99]\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@[2001:db8::10]>\r\n\
From: <sip:alice@[2001:db8::1]>;tag=v6\r\n\
Call-ID: v6@[2001:db8::1]\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@[2001:db8::1]:5060>\r\n\
Content-Length: 0\r\n\
\r\n";

#[test]
fn ipv6_references_are_kept_with_brackets() {
    let m = Message::parse(INVITE).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!((ruri.host(), ruri.port()), ("[2001:db8::10]", Some(5062)));
    assert_eq!(ruri.param("transport"), Some(Some("udp")));
    let via = m.top_via().unwrap();
    assert_eq!((via.host, via.port), ("[2001:db8::1]", Some(5060)));
    assert_eq!(via.received(), Some("[2001:db8::99]"));
    assert_eq!(via.rport(), Some(Some(5061)));
    assert_eq!(m.contacts().next().unwrap().unwrap().uri.port(), Some(5060));
    assert_eq!(m.call_id().unwrap(), "v6@[2001:db8::1]");
    let mut e = m.edit();
    e.remove_header(HeaderName::MaxForwards);
    let out = e.serialize();
    let n = Message::parse(&out).unwrap();
    assert_eq!(n.top_via().unwrap(), via);
    assert_eq!(n.request_uri().unwrap().as_str(), ruri.as_str());
}

#[test]
fn malformed_ipv6_references_are_rejected() {
    let bad = String::from_utf8_lossy(INVITE)
        .replace("sip:bob@[2001:db8::10]:5062", "sip:bob@[2001:db8::10:5062");
    let err = Message::parse(bad.as_bytes()).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some(format!("Request-URI {}", UriFault::UnterminatedIpv6))
    );
}
