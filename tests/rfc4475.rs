//! RFC 4475 torture messages: one golden expectation per file of tests/fixtures/rfc4475.
//!
//! Valid messages parse and expose the right values. Invalid ones are rejected, each with the
//! error that names its fault. Application-class messages (RFC 4475 section 3.3) parse: what to
//! answer is the application's business, and the accessors expose what it needs to decide.

use handoff::vocab::StatusCode;
use std::borrow::Cow;

use handoff::sip::{Fault, HeaderName, Message, Method, ParseError, Scheme, UriFault};

fn load(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/rfc4475/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_err(name: &str) -> ParseError {
    match Message::parse(&load(name)) {
        Ok(_) => panic!("{name} parsed but must be rejected"),
        Err(e) => e,
    }
}

/// Every file of the corpus has a golden test below.
#[test]
fn every_corpus_file_is_covered() {
    let source = include_str!("rfc4475.rs");
    let dir = format!("{}/tests/fixtures/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".dat") {
            count += 1;
            assert!(
                source.contains(&format!("fn {stem}()")),
                "no golden test for {name}"
            );
        }
    }
    assert_eq!(count, 50);
}

// ---- 3.1.1 valid messages ----

#[test]
fn wsinv() {
    let b = load("wsinv.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        (ruri.user(), ruri.host()),
        (Some("vivekg"), "chair-dnrc.example.com")
    );
    assert_eq!(ruri.param("unknownparam"), Some(None));
    let to = m.to().unwrap();
    assert_eq!(to.uri.as_str(), "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = m.from().unwrap();
    assert_eq!(from.display_name, Some(&br#"J Rosenberg \\\""#[..]));
    assert_eq!(
        from.display_name_unescaped().unwrap().as_ref(),
        br#"J Rosenberg \""#
    );
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(m.content_length().unwrap(), Some(150));
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport, vias[0].host, vias[0].branch()),
        ("UDP", "192.0.2.2", Some("390skdjuw"))
    );
    assert_eq!(
        (vias[1].transport, vias[1].host, vias[1].branch()),
        ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    assert_eq!(
        (vias[2].transport, vias[2].host, vias[2].branch()),
        ("UDP", "192.168.255.111", Some("z9hG4bK30239"))
    );
    assert_eq!(m.header(HeaderName::Subject), Some(&b""[..]));
    assert_eq!(
        m.header_by_name("newfangledheader"),
        Some(&b"newfangled value\r\n continued newfangled value"[..])
    );
    assert_eq!(
        m.header_by_name("UnknownHeaderWithUnusualValue"),
        Some(&b";;,,;;,;"[..])
    );
    let route = m.routes().next().unwrap().unwrap();
    assert_eq!(route.uri.param("lr"), Some(None));
    assert_eq!(route.uri.param("unknownwith"), Some(Some("value")));
    let contact = m.contacts().next().unwrap().unwrap();
    assert_eq!(contact.display_name, Some(&br#"Quoted string \"\""#[..]));
    assert_eq!(contact.params.get_str("newparam"), Some("newvalue"));
    assert_eq!(contact.params.get("secondparam"), Some(None));
    assert_eq!(contact.params.get_str("q"), Some("0.33"));
    assert_eq!(m.header_count(), 14);
    assert!(m.content_type().unwrap().unwrap().is("application/sdp"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn intmeth() {
    let b = load("intmeth.dat");
    let m = Message::parse(&b).unwrap();
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(m.method(), Some(Method::Other(method)));
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        ruri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        ruri.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(ruri.host(), "example.com");
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    let to = m.to().unwrap();
    assert_eq!(
        to.display_name,
        Some(&b"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"[..])
    );
    assert_eq!(
        to.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    let from = m.from().unwrap();
    assert_eq!(
        from.display_name,
        Some(&b"token1~` token2'+_ token3*%!.-"[..])
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    let param = from.params.get("fromParam''~+*_!.-%").unwrap().unwrap();
    assert!(
        param.starts_with(b"\"") && std::str::from_utf8(param).is_ok(),
        "UTF-8 quoted value kept"
    );
    assert_eq!(
        m.call_id().unwrap(),
        r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
    );
    assert_eq!(m.cseq().unwrap().method, Method::Other(method));
    assert_eq!(m.max_forwards().unwrap(), Some(255));
    let ext = m.header_by_name("extensionHeader-!.%*+_`'~").unwrap();
    assert_eq!(std::str::from_utf8(ext).unwrap(), "\u{FEFF}大停電");
}

#[test]
fn esc01() {
    let b = load("esc01.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(
        ruri.user_unescaped().unwrap().as_ref(),
        b"sips:user@example.com"
    );
    assert_eq!(ruri.host(), "example.net");
    assert_eq!(
        m.to().unwrap().uri.user_unescaped().unwrap().as_ref(),
        b"user"
    );
    assert_eq!(
        m.from().unwrap().uri.user_unescaped().unwrap().as_ref(),
        b"I have spaces"
    );
    assert_eq!(m.call_id().unwrap(), "esc01.239409asdfakjkn23onasd0-3234");
    assert!(
        m.content_type().unwrap().unwrap().is("application/sdp"),
        "compact 'C' is Content-Type"
    );
    let contact = m.contacts().next().unwrap().unwrap();
    assert_eq!(contact.uri.user_unescaped().unwrap().as_ref(), b"caller");
    let params: Vec<_> = contact.uri.params().collect();
    assert_eq!(
        params,
        vec![("%6C%72", None), ("n%61me", Some("v%61lue%25%34%31"))]
    );
    assert_eq!(m.body().len(), 150);
}

#[test]
fn escnull() {
    let b = load("escnull.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(
        m.to().unwrap().uri.user_unescaped().unwrap().as_ref(),
        b"null-\0-null"
    );
    let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri.user_unescaped().unwrap().as_ref(), b"\0");
    assert_eq!(contacts[1].uri.user_unescaped().unwrap().as_ref(), b"\0\0");
    assert_eq!(m.content_length().unwrap(), Some(0));
}

#[test]
fn esc02() {
    let b = load("esc02.dat");
    let m = Message::parse(&b).unwrap();
    // %-escapes in a method are just token characters: this is not REGISTER.
    assert_eq!(m.method(), Some(Method::Other("RE%47IST%45R")));
    assert_eq!(m.cseq().unwrap().method, Method::Other("RE%47IST%45R"));
    assert_eq!(m.to().unwrap().display_name, Some(&b"%Z%45"[..]));
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
    // "C%6Fntact" is an unknown header, not Contact.
    let contacts: Vec<_> = m.contacts().map(|c| c.unwrap().uri.host()).collect();
    assert_eq!(contacts, vec!["host1.example.com", "host3.example.com"]);
    assert_eq!(
        m.header_by_name("C%6Fntact"),
        Some(&b"<sip:alias2@host2.example.com>"[..])
    );
}

#[test]
fn lwsdisp() {
    let b = load("lwsdisp.dat");
    let m = Message::parse(&b).unwrap();
    let from = m.from().unwrap();
    assert_eq!(from.display_name, Some(&b"caller"[..]));
    assert_eq!(from.uri.as_str(), "sip:caller@example.com");
    assert_eq!(from.tag(), Some("323"));
    assert_eq!(m.cseq().unwrap().seq, 60);
}

#[test]
fn longreq() {
    let b = load("longreq.dat");
    let m = Message::parse(&b).unwrap();
    let to = m.to().unwrap();
    assert!(
        to.display_name
            .unwrap()
            .starts_with(b"I have a user name of extreme")
    );
    assert_eq!(to.uri.port(), Some(6000));
    assert!(to.uri.param("verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongParameterNameWithNoValue").is_some());
    let from = m.from().unwrap();
    assert_eq!(from.tag().unwrap().len(), 155);
    assert!(m.call_id().unwrap().ends_with("reallylongcallid"));
    assert_eq!(m.vias().count(), 34);
    assert_eq!(m.top_via().unwrap().host, "sip33.example.com");
    assert_eq!(m.vias().last().unwrap().unwrap().host, "host.example.com");
    assert_eq!(m.header_lines(HeaderName::Via).count(), 34);
    assert_eq!(m.body().len(), 150);
}

#[test]
fn dblreq() {
    let b = load("dblreq.dat");
    let m = Message::parse(&b).unwrap();
    // Only the first request counts; the octets after Content-Length are ignored.
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(
        m.call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
    assert!(m.body().is_empty());
    assert!(m.as_bytes().len() < b.len());
    assert!(m.as_bytes().ends_with(b"Content-Length: 0\r\n\r\n"));
}

#[test]
fn semiuri() {
    let b = load("semiuri.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user(), Some("user;par=u%40example.net"));
    assert_eq!(ruri.host(), "example.com");
    assert_eq!(ruri.params().count(), 0);
    let accept: Vec<_> = m.header_values(HeaderName::Accept).collect();
    assert_eq!(accept.len(), 6);
    assert_eq!(accept[5], b"message/sipfrag");
}

#[test]
fn transports() {
    let b = load("transports.dat");
    let m = Message::parse(&b).unwrap();
    let transports: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(transports, vec!["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id().unwrap(), "transports.kijh4akdnaqjkwendsasfdj");
}

#[test]
fn mpart01() {
    let b = load("mpart01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.method(), Some(Method::Message));
    let ct = m.content_type().unwrap().unwrap();
    assert!(ct.is("multipart/mixed"));
    assert_eq!(ct.params.get_str("boundary"), Some("7a9cbec02ceef655"));
    assert_eq!(m.body().len(), 553);
    assert!(m.body().ends_with(b"--7a9cbec02ceef655--\r\n"));
    assert_eq!(m.top_via().unwrap().rport(), Some(None));
    assert_eq!(m.routes().next().unwrap().unwrap().uri.port(), Some(5080));
}

#[test]
fn unreason() {
    let b = load("unreason.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.status(), Some(StatusCode::OK));
    let reason = std::str::from_utf8(m.reason().unwrap()).unwrap();
    assert!(reason.starts_with("= 2**3 * 5**2 но"));
    assert!(reason.ends_with("простое"));
    assert_eq!(m.to().unwrap().tag(), Some("2229"));
    assert_eq!(m.body().len(), 154);
}

#[test]
fn noreason() {
    let b = load("noreason.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.status(), Some(StatusCode::TRYING));
    assert_eq!(m.reason(), Some(&b""[..]));
    assert_eq!(m.cseq().unwrap().method, Method::Invite);
}

// ---- 3.1.2 invalid messages ----

#[test]
fn badinv01() {
    // Empty Via parameters (";;,;,,") are the first fault met; Contact's ";;;;" is another.
    assert_eq!(
        parse_err("badinv01.dat"),
        ParseError::BadHeader {
            header: HeaderName::Via,
            fault: Fault::EmptyParam
        }
    );
}

#[test]
fn clerr() {
    let e = parse_err("clerr.dat");
    assert_eq!(
        e,
        ParseError::ContentLengthExceedsBody {
            declared: 9999,
            actual: 154
        }
    );
    assert_eq!(
        e.to_string(),
        "Content-Length 9999 exceeds body of 154 bytes"
    );
}

#[test]
fn ncl() {
    let e = parse_err("ncl.dat");
    assert_eq!(
        e,
        ParseError::BadHeader {
            header: HeaderName::ContentLength,
            fault: Fault::NotANumber("-999".into())
        }
    );
    assert_eq!(
        e.to_string(),
        "Content-Length header is not a decimal number: \"-999\""
    );
}

#[test]
fn scalar02() {
    let e = parse_err("scalar02.dat");
    assert_eq!(
        e.to_string(),
        "CSeq header value 36893488147419103232 exceeds the maximum 2147483647"
    );
}

#[test]
fn scalarlg() {
    let e = parse_err("scalarlg.dat");
    assert!(
        matches!(
            e,
            ParseError::BadHeader {
                header: HeaderName::CSeq,
                fault: Fault::TooLarge { .. }
            }
        ),
        "{e}"
    );
}

#[test]
fn quotbal() {
    assert_eq!(
        parse_err("quotbal.dat"),
        ParseError::BadHeader {
            header: HeaderName::To,
            fault: Fault::UnterminatedQuote
        }
    );
}

#[test]
fn ltgtruri() {
    assert_eq!(
        parse_err("ltgtruri.dat"),
        ParseError::BadRequestUri(UriFault::Enclosed)
    );
}

#[test]
fn lwsruri() {
    assert_eq!(
        parse_err("lwsruri.dat"),
        ParseError::BadRequestUri(UriFault::Whitespace)
    );
}

#[test]
fn lwsstart() {
    let e = parse_err("lwsstart.dat");
    assert_eq!(
        e.to_string(),
        "request line separates its elements with more than one space"
    );
}

#[test]
fn trws() {
    assert_eq!(
        parse_err("trws.dat"),
        ParseError::BadRequestLine("ends with whitespace")
    );
}

#[test]
fn escruri() {
    assert_eq!(
        parse_err("escruri.dat"),
        ParseError::BadRequestUri(UriFault::HeadersInRequestUri)
    );
}

#[test]
fn baddate() {
    // RFC 4475 3.1.2.12: an element that does not interpret Date may accept the message.
    // handoff never reads Date, so it keeps it verbatim.
    let b = load("baddate.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.header_by_name("Date"),
        Some(&b"Fri, 01 Jan 2010 16:00:00 EST"[..])
    );
    assert_eq!(m.cseq().unwrap().seq, 1392934);
}

#[test]
fn regbadct() {
    assert_eq!(
        parse_err("regbadct.dat"),
        ParseError::BadHeader {
            header: HeaderName::Contact,
            fault: Fault::UnenclosedUri
        }
    );
}

#[test]
fn badaspec() {
    assert_eq!(
        parse_err("badaspec.dat"),
        ParseError::BadHeader {
            header: HeaderName::To,
            fault: Fault::SpaceInsideAngles
        }
    );
}

#[test]
fn baddn() {
    assert_eq!(
        parse_err("baddn.dat"),
        ParseError::BadHeader {
            header: HeaderName::From,
            fault: Fault::UnquotedDisplayName
        }
    );
}

#[test]
fn badvers() {
    let e = parse_err("badvers.dat");
    assert_eq!(e, ParseError::UnsupportedVersion("SIP/7.0".into()));
    assert_eq!(
        e.to_string(),
        "unsupported SIP version \"SIP/7.0\" (only SIP/2.0)"
    );
}

#[test]
fn mismatch01() {
    let e = parse_err("mismatch01.dat");
    assert_eq!(
        e.to_string(),
        "CSeq method INVITE does not match request method OPTIONS"
    );
}

#[test]
fn mismatch02() {
    let e = parse_err("mismatch02.dat");
    assert_eq!(
        e.to_string(),
        "CSeq method INVITE does not match request method NEWMETHOD"
    );
}

#[test]
fn bigcode() {
    assert_eq!(
        parse_err("bigcode.dat"),
        ParseError::BadStatusCode("4294967301".into())
    );
}

// ---- 3.2 transaction layer ----

#[test]
fn badbranch() {
    // The branch "z9hG4bK" is only the magic cookie: the transaction layer must not treat it
    // as RFC 3261-compliant. The parser exposes it as is.
    let b = load("badbranch.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK"));
    assert_eq!(m.method(), Some(Method::Options));
}

// ---- 3.3 application layer: these parse; the accessors expose what the application needs ----

#[test]
fn insuf() {
    let b = load("insuf.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.from(), Err(ParseError::MissingHeader(HeaderName::From)));
    assert_eq!(m.to(), Err(ParseError::MissingHeader(HeaderName::To)));
    assert_eq!(
        m.call_id(),
        Err(ParseError::MissingHeader(HeaderName::CallId))
    );
    assert_eq!(m.max_forwards(), Ok(None));
    assert_eq!(m.cseq().unwrap().seq, 193942);
    assert_eq!(m.body().len(), 152);
}

#[test]
fn unkscm() {
    let b = load("unkscm.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme(), Scheme::Other("nobodyKnowsThisScheme"));
    assert_eq!(ruri.opaque(), "totallyopaquecontent");
}

#[test]
fn novelsc() {
    let b = load("novelsc.dat");
    let m = Message::parse(&b).unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme(), Scheme::Other("soap.beep"));
    assert_eq!(ruri.opaque(), "//192.0.2.103:3002");
}

#[test]
fn unksm2() {
    let b = load("unksm2.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.to().unwrap().uri.scheme(), Scheme::Other("isbn"));
    assert_eq!(m.from().unwrap().uri.as_str(), "http://www.example.com");
    assert_eq!(m.from().unwrap().tag(), Some("3234233"));
    assert_eq!(
        m.contacts().next().unwrap().unwrap().uri.scheme(),
        Scheme::Other("name")
    );
}

#[test]
fn bext01() {
    let b = load("bext01.dat");
    let m = Message::parse(&b).unwrap();
    let require: Vec<_> = m.require().map(Result::unwrap).collect();
    assert_eq!(
        require,
        vec!["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(m.header_values(HeaderName::ProxyRequire).count(), 2);
}

#[test]
fn invut() {
    let b = load("invut.dat");
    let m = Message::parse(&b).unwrap();
    let ct = m.content_type().unwrap().unwrap();
    assert_eq!((ct.main, ct.sub), ("application", "unknownformat"));
    assert_eq!(
        m.body(),
        b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n"
    );
}

#[test]
fn regaut01() {
    let b = load("regaut01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.header_by_name("authorization"),
        Some(&b"NoOneKnowsThisScheme opaque-data=here"[..])
    );
    assert_eq!(m.content_length().unwrap(), Some(0));
}

#[test]
fn multi01() {
    let b = load("multi01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.call_id(),
        Err(ParseError::DuplicateHeader(HeaderName::CallId))
    );
    assert_eq!(m.cseq(), Err(ParseError::DuplicateHeader(HeaderName::CSeq)));
    assert_eq!(m.from(), Err(ParseError::DuplicateHeader(HeaderName::From)));
    assert_eq!(m.to(), Err(ParseError::DuplicateHeader(HeaderName::To)));
    assert_eq!(
        m.max_forwards(),
        Err(ParseError::DuplicateHeader(HeaderName::MaxForwards))
    );
    // The raw first occurrence stays reachable for diagnostics.
    assert_eq!(m.header(HeaderName::To), Some(&b"sip:user@example.com"[..]));
}

#[test]
fn mcl01() {
    let b = load("mcl01.dat");
    // Section 3.3.9: "An element receiving this message should respond with an error."
    assert_eq!(
        Message::parse(&b).err(),
        Some(ParseError::ConflictingContentLength {
            first: 13,
            second: 5
        })
    );
    // Framing alone (what a 400 is built from) still reads it.
    let m = Message::parse_framing(&b).unwrap();
    assert_eq!(
        m.content_length(),
        Err(ParseError::ConflictingContentLength {
            first: 13,
            second: 5
        })
    );
    // The length is unknown, so the body is the rest of the datagram.
    assert_eq!(
        m.body(),
        b"There's no way to know how many octets are supposed to be here.\r\n\r\n"
    );
}

#[test]
fn bcast() {
    let b = load("bcast.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.status(), Some(StatusCode::OK));
    let vias: Vec<_> = m.vias().map(|v| v.unwrap().host).collect();
    assert_eq!(vias, vec!["192.0.2.198", "255.255.255.255"]);
}

#[test]
fn zeromf() {
    let b = load("zeromf.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.max_forwards(), Ok(Some(0)));
}

#[test]
fn cparam01() {
    let b = load("cparam01.dat");
    let m = Message::parse(&b).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    // Without <>, ";unknownparam" belongs to the header, not to the URI.
    assert_eq!(c.uri.as_str(), "sip:+19725552222@gw1.example.net");
    assert_eq!(c.params.get("unknownparam"), Some(None));
    assert!(!c.angle_brackets);
}

#[test]
fn cparam02() {
    let b = load("cparam02.dat");
    let m = Message::parse(&b).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    assert_eq!(c.uri.param("unknownparam"), Some(None));
    assert!(c.params.is_empty());
}

#[test]
fn regescrt() {
    let b = load("regescrt.dat");
    let m = Message::parse(&b).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    assert_eq!(c.uri.header("Route"), Some("%3Csip:sip.example.com%3E"));
    assert_eq!(
        c.uri.header_value_unescaped("route"),
        Some(Cow::Owned("<sip:sip.example.com>".into()))
    );
}

#[test]
fn sdp01() {
    let b = load("sdp01.dat");
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.header(HeaderName::Accept),
        Some(&b"text/nobodyKnowsThis"[..])
    );
    assert!(m.content_type().unwrap().unwrap().is("application/sdp"));
    assert_eq!(m.body().len(), 150);
}

// ---- 3.4 backward compatibility ----

#[test]
fn inv2543() {
    let b = load("inv2543.dat");
    let m = Message::parse(&b).unwrap();
    let via = m.top_via().unwrap();
    assert_eq!((via.host, via.branch()), ("iftgw.example.com", None));
    assert_eq!(m.from().unwrap().tag(), None);
    assert_eq!(m.to().unwrap().params.get_str("user"), Some("phone"));
    assert_eq!(m.max_forwards(), Ok(None));
    assert_eq!(
        m.record_routes()
            .next()
            .unwrap()
            .unwrap()
            .uri
            .param("maddr"),
        Some(Some("ss1.example.com"))
    );
    // No Content-Length: over UDP the body is the rest of the datagram.
    assert!(m.body().starts_with(b"v=0\r\n"));
}

// ---- not described by RFC 4475 ----

#[test]
fn test() {
    // In the archive but in no section: a request line without a SIP version, then a header
    // line without a colon. Rejected at the first fault.
    assert_eq!(
        parse_err("test.dat"),
        ParseError::BadRequestLine("has no SIP version")
    );
}
