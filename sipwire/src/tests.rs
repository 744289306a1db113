//! The codec against RFC 3261's examples and RFC 4475's torture messages
//! (tests/fixtures/rfc4475 of the handoff repository).

use super::*;

fn corpus(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Message {
    Message::parse(&corpus(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// RFC 3261 section 24.2, message F1 (Alice's INVITE), with its SDP body.
const F1: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\n";

#[test]
fn rfc3261_invite_f1() {
    let m = Message::parse(F1.as_bytes()).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.uri(), Some("sip:bob@biloxi.com"));
    assert_eq!(m.via_branch(), Some("z9hG4bKnashds8"));
    assert_eq!(m.from_tag(), Some("1928301774"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(m.call_id(), Some("a84b4c76e66710"));
    assert_eq!(m.cseq(), Some((314159, "INVITE")));
    assert_eq!(m.contact_uri(), Some("sip:alice@pc33.atlanta.com"));
    assert_eq!(m.header("max-forwards"), Some("70"));
    // The declared four bytes; the trailing CRLF is extra datagram octets.
    assert_eq!(m.body(), b"v=0\r");
    assert_eq!(m.headers.len(), 9);
    assert_eq!(m.headers[0].0, "Via");
}

/// RFC 3261 section 24.2, message F3 (Bob's 200 OK), as a response.
#[test]
fn rfc3261_response_f3() {
    let bytes = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bKnashds8;received=192.0.2.3\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds ;received=192.0.2.1\r\n\
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@192.0.2.4>\r\n\
Content-Length: 0\r\n\r\n";
    let m = Message::parse(bytes.as_bytes()).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.reason(), Some("OK"));
    assert_eq!(m.via_branch(), Some("z9hG4bKnashds8"));
    assert_eq!(m.values("Via").len(), 3);
    assert_eq!(param(m.values("v")[2], "received"), Some("192.0.2.1"));
    assert_eq!(m.to_tag(), Some("a6c85cf"));
    assert!(m.body().is_empty());
}

#[test]
fn wsinv_folding_compact_forms_and_whitespace() {
    let m = parse("wsinv");
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(
        m.uri(),
        Some("sip:vivekg@chair-dnrc.example.com;unknownparam")
    );
    assert_eq!(m.to_tag(), Some("1918181833n"));
    assert_eq!(m.from_tag(), Some("98asjd8"));
    assert_eq!(m.header("Max-Forwards"), Some("0068"));
    assert_eq!(m.cseq(), Some((9, "INVITE")));
    assert_eq!(m.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    // `s :` is Subject, empty; `v:` and `m:` expanded.
    assert_eq!(m.header("Subject"), Some(""));
    assert_eq!(
        m.header("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let vias = m.values("Via");
    assert_eq!(vias.len(), 3);
    assert_eq!(m.via_branch(), Some("390skdjuw"));
    assert_eq!(param(vias[1], "branch"), Some("z9hG4bK9ikj8"));
    assert_eq!(param(vias[2], "branch"), Some("z9hG4bK30239"));
    assert_eq!(m.contact_uri(), Some("sip:jdrosen@example.com"));
    let contact = m.header("m").unwrap();
    assert_eq!(param(contact, "newparam"), Some("newvalue"));
    assert_eq!(param(contact, "q"), Some("0.33"));
    assert_eq!(
        uri_of(m.header("Route").unwrap()),
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"
    );
    assert_eq!(m.body().len(), 150);
    assert!(m.body().starts_with(b"v=0\r\n"));
}

#[test]
fn intmeth_unusual_tokens() {
    let m = parse("intmeth");
    assert_eq!(
        m.method(),
        Some("!interesting-Method0123456789_*+`.%indeed'~")
    );
    assert_eq!(
        m.cseq(),
        Some((139122385, "!interesting-Method0123456789_*+`.%indeed'~"))
    );
    assert_eq!(m.via_branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(m.from_tag(), Some("_token~1'+`*%!-."));
    assert_eq!(m.to_tag(), None);
    assert_eq!(
        m.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert!(m.body().is_empty());
}

#[test]
fn esc01_compact_content_type_and_folded_contact() {
    let m = parse("esc01");
    assert_eq!(m.header("Content-Type"), Some("application/sdp"));
    assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(
        m.contact_uri(),
        Some("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    );
    assert_eq!(m.from_tag(), Some("938"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn lwsdisp_display_name_without_space() {
    let m = parse("lwsdisp");
    assert_eq!(uri_of(m.header("From").unwrap()), "sip:caller@example.com");
    assert_eq!(m.from_tag(), Some("323"));
    assert_eq!(m.header("l"), Some("0"));
}

#[test]
fn dblreq_extra_octets_dropped() {
    let m = parse("dblreq");
    assert_eq!(m.method(), Some("REGISTER"));
    assert_eq!(m.cseq(), Some((8, "REGISTER")));
    assert!(m.body().is_empty());
}

#[test]
fn semiuri_folded_list() {
    let m = parse("semiuri");
    assert_eq!(m.uri(), Some("sip:user;par=u%40example.net@example.com"));
    assert_eq!(m.values("Accept").len(), 6);
    assert_eq!(m.values("Accept")[5], "message/sipfrag");
}

#[test]
fn transports_five_vias() {
    let m = parse("transports");
    let vias = m.values("Via");
    assert_eq!(vias.len(), 5);
    assert_eq!(m.headers_named("v").count(), 5);
    assert_eq!(param(vias[3], "branch"), Some("z9hG4bKasd0f3en"));
    assert_eq!(m.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
}

#[test]
fn unreason_and_noreason_responses() {
    let m = parse("unreason");
    assert_eq!(m.status(), Some(200));
    assert!(m.reason().unwrap().contains("простое"));
    assert_eq!(m.to_tag(), Some("2229"));
    assert_eq!(m.body().len(), 154);
    let m = parse("noreason");
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
    assert_eq!(m.contact_uri(), Some("sip:user@host105.example.com"));
}

#[test]
fn every_valid_corpus_message_parses() {
    for name in [
        "wsinv",
        "intmeth",
        "esc01",
        "escnull",
        "esc02",
        "lwsdisp",
        "longreq",
        "dblreq",
        "semiuri",
        "transports",
        "mpart01",
        "unreason",
        "noreason",
    ] {
        let m = parse(name);
        assert!(m.call_id().is_some(), "{name}: Call-ID");
        assert!(m.cseq().is_some(), "{name}: CSeq");
        assert!(m.top_via().is_some(), "{name}: Via");
    }
}

#[test]
fn framing_faults_are_errors() {
    assert!(matches!(
        Message::parse(&corpus("clerr")),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        Message::parse(&corpus("ncl")),
        Err(ParseError::ContentLength(_))
    ));
    assert!(matches!(
        Message::parse(&corpus("badvers")),
        Err(ParseError::StartLine(_))
    ));
    assert!(Message::parse(b"").is_err());
    assert!(Message::parse(b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n").is_err());
    assert!(Message::parse(b"INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n").is_err());
    // The scalar checks CSeq makes.
    assert_eq!(parse("scalar02").cseq(), None);
}

#[test]
fn builder_roundtrip() {
    let bytes = Builder::request("OPTIONS", "sip:10.0.0.9:5060")
        .header("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc")
        .header("From", "<sip:a@10.0.0.1>;tag=x1")
        .header("To", "<sip:10.0.0.9:5060>")
        .header("Call-ID", "c1@10.0.0.1")
        .header("CSeq", "1 OPTIONS")
        .header("Content-Length", "999")
        .body("text/plain", b"hello")
        .build();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("OPTIONS sip:10.0.0.9:5060 SIP/2.0\r\nVia: "));
    assert!(text.ends_with("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.via_branch(), Some("z9hG4bKabc"));
    assert_eq!(m.body(), b"hello");
    assert_eq!(m.headers_named("Content-Length").count(), 1);

    let response = Builder::response_to(&m, 200, "OK")
        .to_tag("t9")
        .header("Contact", "<sip:b@10.0.0.9>")
        .build();
    let r = Message::parse(&response).unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.to_tag(), Some("t9"));
    assert_eq!(r.from_tag(), Some("x1"));
    assert_eq!(r.cseq(), Some((1, "OPTIONS")));
    assert_eq!(r.call_id(), Some("c1@10.0.0.1"));
    assert_eq!(r.via_branch(), Some("z9hG4bKabc"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    // A To that has a tag keeps it.
    let again = Builder::response_to(&r, 200, "OK").to_tag("other").build();
    assert_eq!(Message::parse(&again).unwrap().to_tag(), Some("t9"));
}

#[test]
fn compact_names_expand() {
    for (short, full) in [
        ("i", "Call-ID"),
        ("F", "From"),
        ("t", "To"),
        ("v", "Via"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("e", "Content-Encoding"),
        ("s", "Subject"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("u", "Allow-Events"),
    ] {
        assert_eq!(full_name(short), full);
        assert!(same_name(short, &full.to_ascii_lowercase()));
    }
    assert_eq!(full_name("X"), "X");
}

#[test]
fn uri_headers_escape_and_unescape() {
    let replaces = "a84b4c76e66710@pc33.atlanta.com;to-tag=314159;from-tag=9fxced76sl";
    let escaped = escape_uri_header(replaces);
    assert_eq!(
        escaped,
        "a84b4c76e66710%40pc33.atlanta.com%3Bto-tag%3D314159%3Bfrom-tag%3D9fxced76sl"
    );
    let refer_to = format!("<sip:dave@denver.example.org?Replaces={escaped}&X=1>");
    assert_eq!(uri_header(&refer_to, "replaces").as_deref(), Some(replaces));
    assert_eq!(uri_header(&refer_to, "X").as_deref(), Some("1"));
    assert_eq!(
        uri_header("<sip:dave@denver.example.org>", "Replaces"),
        None
    );
    assert_eq!(unescape("100%"), "100%");
    // RFC 3891 style values read with the ordinary parameter helper.
    assert_eq!(param(replaces, "to-tag"), Some("314159"));
    assert_eq!(uri_of(replaces), "a84b4c76e66710@pc33.atlanta.com");
}
