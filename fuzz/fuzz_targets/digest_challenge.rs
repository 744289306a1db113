//! Any text as a trunk's `WWW-Authenticate` / `Proxy-Authenticate` value (RFC 3261 section 22,
//! RFC 7616, RFC 8760), and any bytes as a message whose credentials handoff redacts before a
//! copy leaves it (logs, HEP, the audit's ladders). Parsing never panics; a challenge that parses
//! is answered with credentials that parse back as a challenge of the same realm, nonce and
//! algorithm (same auth-param grammar), and a message carrying those credentials never shows the
//! digest response once redacted.
#![no_main]

use handoff::sip::digest::{Answer, choose, credentials, parse_challenge, redact, response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = redact(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = choose(text.split('\n'), None);
    let Ok(challenge) = parse_challenge(text) else {
        return;
    };
    let answer = Answer {
        username: "alice",
        password: "secret",
        method: "INVITE",
        uri: "sip:+15550001111@carrier.example",
        cnonce: "0a4f113b",
        nc: 1,
    };
    let value = credentials(&challenge, &answer);
    let again = parse_challenge(&value).expect("handoff's own credentials parse");
    assert_eq!(again.realm, challenge.realm);
    assert_eq!(again.nonce, challenge.nonce);
    assert_eq!(again.algorithm, challenge.algorithm);
    let digest = response(&challenge, &answer);
    let message = format!(
        "INVITE sip:x@y SIP/2.0\r\nProxy-Authorization: {value}\r\nContent-Length: 0\r\n\r\n"
    );
    let redacted = redact(message.as_bytes());
    let shown = String::from_utf8_lossy(&redacted);
    assert!(!shown.contains(&digest), "{shown}");
});
