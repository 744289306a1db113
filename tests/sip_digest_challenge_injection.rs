//! Attack: a trunk (or anyone forging its responses) puts a line break in a challenge's quoted
//! realm, nonce or opaque. RFC 3261 section 25.1: qdtext and quoted-pair exclude CR and LF, so
//! the value is not a challenge; handoff must not copy it into its own Authorization header,
//! where it would start a new header line of the attacker's choosing (found by the
//! digest_challenge fuzz target's redaction property).

use handoff::sip::digest::{DigestError, parse_challenge};

#[test]
fn a_line_break_in_any_quoted_value_is_not_a_challenge() {
    for value in [
        "Digest realm=\"carrier\r\nVia: SIP/2.0/UDP evil.example\", nonce=\"abc\"",
        "Digest realm=\"carrier\", nonce=\"a\nb\"",
        "Digest realm=\"carrier\", nonce=\"abc\", opaque=\"x\r\ny\"",
        "Digest realm=\"carrier\", nonce=\"abc\\\r\"",
        "Digest realm=\"car\x00rier\", nonce=\"abc\"",
    ] {
        assert_eq!(
            parse_challenge(value),
            Err(DigestError::Malformed),
            "{value:?}"
        );
    }
}

#[test]
fn a_tab_is_linear_whitespace_and_still_allowed() {
    let challenge = parse_challenge("Digest\trealm=\"carrier\",\tnonce=\"abc\"")
        .expect("HTAB is LWS (RFC 3261 section 25.1)");
    assert_eq!(challenge.realm, "carrier");
}

#[test]
fn a_folded_challenge_is_one_line() {
    // RFC 3261 section 7.3.1: a header may be folded onto lines that start with whitespace.
    let challenge = parse_challenge("Digest realm=\"carrier\",\r\n nonce=\"abc\"")
        .expect("folding is whitespace");
    assert_eq!(challenge.nonce, "abc");
}
