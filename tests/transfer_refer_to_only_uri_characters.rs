//! A Refer-To names a URI, and RFC 3261 section 25.1 leaves control characters, `<`, `>` and `"`
//! out of every URI (they are "delims" or not in the character set at all). A value that holds one
//! is refused (spaces in a number's user part stay tolerated, see `transfer_refer_to_e164.rs`), never taken as a transfer target to REFER or dial. Found by the
//! `transfer_headers` fuzz target: `sip:]&55943>` followed by NUL bytes was accepted as a bare
//! addr-spec and named a target that no `<...>` form of it would name again.

use handoff::transfer::refer_to::{PlatformReferTo, ReferToError};

#[test]
fn characters_no_uri_may_hold_are_refused() {
    for value in [
        "sip:]&55943>\0\0\0\0\0\0\0Fform.example",
        "sip:+15551234567@host\u{1}",
        "sip:+15551234567@host>",
        "<sip:\"+15551234567\"@host>",
        // Found by the fuzz target too: non-ASCII (here U+00A0) is never part of a URI.
        "<sip:32762\u{a0}\u{a0}?e=1>",
    ] {
        assert!(
            matches!(
                PlatformReferTo::parse(value),
                Err(ReferToError::NotAUri { .. })
            ),
            "{value:?} -> {:?}",
            PlatformReferTo::parse(value)
        );
    }
}

#[test]
fn both_forms_of_the_grammar_still_parse() {
    // RFC 3515 section 2.1: Refer-To = ( name-addr / addr-spec ) *(SEMI generic-param).
    for value in [
        "<sip:bob@biloxi.example.net>",
        "\"Bob\" <sip:bob@biloxi.example.net>;p=1",
        "sip:bob@biloxi.example.net",
    ] {
        let parsed = PlatformReferTo::parse(value).expect("a valid Refer-To");
        assert_eq!(parsed.target(), "sip:bob@biloxi.example.net");
    }
}
