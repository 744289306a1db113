//! Limits and hostile framing: too many headers, oversized datagrams, truncated messages,
//! header lines without a colon, and leading CRLF keep-alives. Parsing never panics.

use handoff::sip::{MAX_HEADERS, MAX_MESSAGE_LEN, Message, ParseError};

fn with_headers(n: usize) -> Vec<u8> {
    let mut s = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..n {
        s += &format!("X-H{i}: {i}\r\n");
    }
    s += "\r\n";
    s.into_bytes()
}

#[test]
fn too_many_headers_is_an_error_naming_the_limit() {
    assert!(Message::parse(&with_headers(MAX_HEADERS)).is_ok());
    let err = Message::parse(&with_headers(MAX_HEADERS + 1)).unwrap_err();
    assert_eq!(err, ParseError::TooManyHeaders { limit: 64 });
    assert_eq!(err.to_string(), "too many headers (more than 64)");
}

#[test]
fn oversized_datagrams_are_refused() {
    let mut big = with_headers(1);
    big.truncate(big.len() - 2);
    big.extend(std::iter::repeat_n(b'x', MAX_MESSAGE_LEN));
    assert!(matches!(
        Message::parse(&big),
        Err(ParseError::TooLong { .. })
    ));
}

#[test]
fn truncated_and_malformed_framing() {
    assert_eq!(Message::parse(b"").err(), Some(ParseError::Empty));
    assert_eq!(Message::parse(b"\r\n\r\n").err(), Some(ParseError::Empty));
    assert_eq!(
        Message::parse(b"OPTIONS sip:a@b SIP/2.0").err(),
        Some(ParseError::UnterminatedStartLine)
    );
    assert_eq!(
        Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n").err(),
        Some(ParseError::MissingHeaderEnd)
    );
    assert_eq!(
        Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n").err(),
        Some(ParseError::BadHeaderLine {
            line: 2,
            fault: "has no colon"
        })
    );
    assert_eq!(
        Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n").err(),
        Some(ParseError::BadHeaderLine {
            line: 2,
            fault: "starts with whitespace"
        })
    );
}

#[test]
fn leading_crlf_keepalives_are_skipped() {
    let m =
        Message::parse(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(m.as_bytes().starts_with(b"OPTIONS"));
}

#[test]
fn every_prefix_and_byte_flip_of_a_message_is_handled_without_panic() {
    let base = std::fs::read(format!(
        "{}/tests/fixtures/rfc4475/wsinv.dat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut accepted = 0;
    for end in 0..base.len() {
        accepted += usize::from(Message::parse(&base[..end]).is_ok());
    }
    // Only prefixes that keep the whole header section and the declared body can parse.
    assert_eq!(
        accepted, 0,
        "a prefix shorter than Content-Length must be refused"
    );
    let mut flipped = base.clone();
    for i in 0..base.len() {
        for b in [0u8, b'\r', b'\n', b' ', b',', b';', b'"', b'<', b':', 0xff] {
            flipped[i] = b;
            let _ = Message::parse(&flipped)
                .map(|m| (m.vias().count(), m.contacts().count(), m.from().is_ok()));
        }
        flipped[i] = base[i];
    }
}
