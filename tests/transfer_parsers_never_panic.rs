//! Refer-To, Replaces and Target-Dialog parsing and translation never panic, whatever arrives,
//! and what they return means something: an `Ok` holds only what was in the input and renders
//! back to itself, a translation names exactly the bridged dialog, and the RFCs' own examples
//! parse to their literal parts while the malformed values they rule out are refused.

use std::borrow::Cow;

use handoff::transfer::dialog_ids::{
    DialogId, DialogIdError, DialogIdForm, Replaces, TargetDialog, named_dialog, translate,
};
use handoff::transfer::escape::{escape_hvalue, unescape};
use handoff::transfer::refer_to::{PlatformReferTo, ReferToError};
use proptest::prelude::*;

/// The leg every known dialog is bridged to, in handoff's view (local = handoff's tag).
fn bridged() -> DialogId {
    DialogId::new("bridged-call@b2bua.example", "b2bua-tag", "far-tag")
}

fn sip_ish() -> impl Strategy<Value = String> {
    // Mostly characters that matter to these grammars, plus anything at all, plus values shaped
    // like a Replaces / Target-Dialog (parameters in any order and case, escaped or not) so the
    // `Ok` paths are reached too.
    prop_oneof![
        proptest::string::string_regex("[<>\"sipteltag:@;=?&%0-9a-fA-F+ ()-]{0,60}")
            .expect("valid regex"),
        any::<String>(),
        dialog_id_like(),
        dialog_id_like().prop_map(|value| escape_hvalue(&value)),
        dialog_id_like()
            .prop_map(|value| format!("<sip:+15551230000@h?Replaces={}>", escape_hvalue(&value))),
    ]
}

fn token() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9.!%*_+`'~-]{1,12}").expect("valid regex")
}

fn dialog_id_like() -> impl Strategy<Value = String> {
    let param = prop_oneof![
        token().prop_map(|t| format!("to-tag={t}")),
        token().prop_map(|t| format!("FROM-TAG={t}")),
        token().prop_map(|t| format!("local-tag={t}")),
        token().prop_map(|t| format!("Remote-Tag = {t}")),
        Just("early-only".to_owned()),
        Just("x=1".to_owned()),
        Just("to-tag=".to_owned()),
    ];
    (token(), proptest::collection::vec(param, 0..5))
        .prop_map(|(call_id, params)| format!("{call_id}@host;{}", params.join(";")))
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// `PROPTEST_CASES` overrides the case count (`scripts/fuzz-ci.sh` raises it when cargo-fuzz
/// cannot run).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(3_000)))]

    #[test]
    fn parsing_and_translating_never_panic_and_hold_only_the_input(text in sip_ish()) {
        // Refer-To: an Ok names a sip/sips/tel URI taken from the text, its ?headers split off.
        match PlatformReferTo::parse(&text) {
            Ok(parsed) => {
                prop_assert!(text.contains(parsed.target()), "{parsed:?}");
                prop_assert!(!parsed.target().contains('?'));
                let scheme = parsed.target().split(':').next().unwrap_or("").to_ascii_lowercase();
                prop_assert!(["sip", "sips", "tel"].contains(&scheme.as_str()), "{scheme}");
                prop_assert_eq!(parsed.is_attended(), parsed.replaces_escaped().is_some());
                if let Some(raw) = parsed.replaces_escaped() {
                    prop_assert!(text.contains(raw));
                    let _ = parsed.replaces();
                }
                let _ = parsed.e164("44");
            }
            Err(ReferToError::Empty) => prop_assert!(text.trim().is_empty()),
            Err(ReferToError::Unterminated { .. }) => prop_assert!(text.contains('<')),
            Err(_) => {}
        }
        if !text.contains(':') {
            prop_assert!(PlatformReferTo::parse(&text).is_err(), "no scheme: {text:?}");
        }

        // Replaces: exactly one to-tag and one from-tag (RFC 3891 section 6.1), all from the
        // text, and rendering gives the same value back.
        if let Ok(parsed) = Replaces::parse(&text) {
            prop_assert!(text.contains(&parsed.call_id), "{parsed:?}");
            prop_assert!(text.contains(&parsed.to_tag) && text.contains(&parsed.from_tag));
            prop_assert!(contains_ci(&text, "to-tag") && contains_ci(&text, "from-tag"));
            prop_assert!(!parsed.to_tag.is_empty() && !parsed.from_tag.is_empty());
            prop_assert_eq!(Replaces::parse(&parsed.render()), Ok(parsed.clone()));
            prop_assert_eq!(Replaces::parse_escaped(&parsed.render_escaped()), Ok(parsed));
        }
        if !contains_ci(&text, "to-tag") || !contains_ci(&text, "from-tag") {
            prop_assert!(Replaces::parse(&text).is_err());
        }
        if let Ok(parsed) = Replaces::parse_escaped(&text) {
            let plain = unescape(&text).expect("parse_escaped succeeded, so unescape does");
            prop_assert_eq!(Replaces::parse(&plain), Ok(parsed));
        }

        // Target-Dialog: both tags present (RFC 4538 section 4), from the text, renders back.
        match TargetDialog::parse(&text) {
            Ok(parsed) => {
                prop_assert!(text.contains(&parsed.call_id));
                prop_assert!(text.contains(&parsed.local_tag) && text.contains(&parsed.remote_tag));
                prop_assert!(contains_ci(&text, "local-tag") && contains_ci(&text, "remote-tag"));
                prop_assert_eq!(TargetDialog::parse(&parsed.render()), Ok(parsed));
            }
            Err(_) => prop_assert!(named_dialog(DialogIdForm::TargetDialogHeader, &text).is_none()),
        }

        // %-unescaping: text without '%' is itself; a decoded value re-escapes to itself.
        match unescape(&text) {
            Ok(plain) => {
                if !text.contains('%') {
                    prop_assert_eq!(&plain, &text);
                }
                prop_assert!(plain.len() <= text.len());
                prop_assert_eq!(unescape(&escape_hvalue(&plain)), Ok(plain));
            }
            Err(_) => prop_assert!(text.contains('%')),
        }

        // Translation: a value naming no dialog comes back untouched (the same borrowed text);
        // one that names a dialog comes back naming exactly the bridged leg, for its receiver.
        let lookup = |_: &DialogId| Some(bridged());
        for form in [
            DialogIdForm::ReplacesHeader,
            DialogIdForm::ReplacesInUri,
            DialogIdForm::TargetDialogHeader,
        ] {
            let out = translate(form, &text, lookup);
            if named_dialog(form, &text).is_none() {
                prop_assert!(matches!(out, Cow::Borrowed(_)), "{form:?} {text:?}");
                prop_assert_eq!(out.as_ref(), text.as_str());
                continue;
            }
            match form {
                DialogIdForm::ReplacesHeader | DialogIdForm::ReplacesInUri => {
                    let (before, after) = if form == DialogIdForm::ReplacesHeader {
                        (Replaces::parse(&text), Replaces::parse(&out))
                    } else {
                        (Replaces::parse_escaped(&text), Replaces::parse_escaped(&out))
                    };
                    let (before, after) = (before.expect("named"), after.expect("renders"));
                    // RFC 3891 section 3: the to-tag is the receiver's (here the far end's) tag.
                    prop_assert_eq!(after.call_id.as_str(), "bridged-call@b2bua.example");
                    prop_assert_eq!(after.to_tag.as_str(), "far-tag");
                    prop_assert_eq!(after.from_tag.as_str(), "b2bua-tag");
                    prop_assert_eq!(after.early_only, before.early_only);
                    prop_assert_eq!(after.extra, before.extra);
                }
                DialogIdForm::TargetDialogHeader => {
                    let after = TargetDialog::parse(&out).expect("renders");
                    prop_assert_eq!(after.call_id.as_str(), "bridged-call@b2bua.example");
                    let mut tags = [after.local_tag.as_str(), after.remote_tag.as_str()];
                    tags.sort_unstable();
                    prop_assert_eq!(tags, ["b2bua-tag", "far-tag"]);
                }
            }
        }
    }

    #[test]
    fn replaces_round_trips_through_its_escaped_form(
        call_id in token(),
        host in proptest::option::of(token()),
        to_tag in token(),
        from_tag in token(),
        early_only in any::<bool>(),
    ) {
        let call_id = match host {
            Some(host) => format!("{call_id}@{host}"),
            None => call_id,
        };
        let replaces = Replaces { call_id, to_tag, from_tag, early_only, extra: vec![] };
        let escaped = replaces.render_escaped();
        prop_assert!(!escaped.contains(';') && !escaped.contains('=') && !escaped.contains('@'));
        prop_assert_eq!(Replaces::parse_escaped(&escaped), Ok(replaces));
    }

    #[test]
    fn unescape_inverts_escape(text in any::<String>()) {
        prop_assert_eq!(unescape(&escape_hvalue(&text)), Ok(text));
    }
}

/// The RFCs' own example values, parsed into their literal parts.
#[test]
fn rfc_examples_parse_to_their_parts() {
    // RFC 3891 section 6.1, "Examples" (parameters in either order, early-only flag).
    let first = Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff")
        .expect("RFC 3891 example");
    assert_eq!(
        (
            first.call_id.as_str(),
            first.to_tag.as_str(),
            first.from_tag.as_str()
        ),
        ("98732@sip.example.com", "ff87ff", "r33th4x0r")
    );
    assert!(!first.early_only);
    let second = Replaces::parse("12adf2f34456gs5;to-tag=12345;from-tag=54321;early-only")
        .expect("RFC 3891 example");
    assert_eq!(
        (
            second.call_id.as_str(),
            second.to_tag.as_str(),
            second.from_tag.as_str()
        ),
        ("12adf2f34456gs5", "12345", "54321")
    );
    assert!(second.early_only);

    // RFC 3515 section 2.1, the attended-transfer Refer-To example ('@' escaped as %40).
    let refer_to = PlatformReferTo::parse(
        "<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
    )
    .expect("RFC 3515 example");
    assert_eq!(refer_to.target(), "sip:dave@denver.example.org");
    let replaces = refer_to.replaces().expect("has Replaces").expect("parses");
    assert_eq!(
        (
            replaces.call_id.as_str(),
            replaces.to_tag.as_str(),
            replaces.from_tag.as_str()
        ),
        ("12345@192.168.118.3", "12345", "5FFE-3994")
    );

    // RFC 5589 section 7.5, F3: Replaces beside another URI header (&Require=replaces).
    let refer_to = PlatformReferTo::parse(
        "<sips:transfertarget@chicago.example.com?Replaces=090459243588173445%3Bto-tag%3D9m2n3wq%3Bfrom-tag%3D763231&Require=replaces>",
    )
    .expect("RFC 5589 example");
    assert_eq!(refer_to.target(), "sips:transfertarget@chicago.example.com");
    assert_eq!(
        refer_to.replaces_escaped(),
        Some("090459243588173445%3Bto-tag%3D9m2n3wq%3Bfrom-tag%3D763231")
    );
    // ...and F4, the INVITE the transferee sends, carries the same dialog unescaped.
    assert_eq!(
        refer_to.replaces(),
        Some(Replaces::parse(
            "090459243588173445;to-tag=9m2n3wq;from-tag=763231"
        ))
    );
}

/// Values the RFCs rule out are refused, and a refused value is never translated.
#[test]
fn known_bad_values_are_errors() {
    assert_eq!(PlatformReferTo::parse("  "), Err(ReferToError::Empty));
    assert!(matches!(
        PlatformReferTo::parse("<sip:+15551230000@carrier.example"),
        Err(ReferToError::Unterminated { .. })
    ));
    // RFC 3515 section 2.1's last example is a valid Refer-To, but not one a carrier can dial.
    assert!(matches!(
        PlatformReferTo::parse("http://www.ietf.org"),
        Err(ReferToError::UnsupportedScheme { .. })
    ));

    // RFC 3891 section 6.1: "exactly one to-tag and exactly one from-tag".
    for (value, expected) in [
        ("98732@sip.example.com;from-tag=r33th4x0r", "to-tag"),
        ("98732@sip.example.com;to-tag=ff87ff", "from-tag"),
    ] {
        assert!(
            matches!(Replaces::parse(value), Err(DialogIdError::MissingParam { param, .. }) if param == expected),
            "{value}"
        );
    }
    assert!(matches!(
        Replaces::parse("98732@sip.example.com;to-tag=a;to-tag=b;from-tag=c"),
        Err(DialogIdError::DuplicateParam { .. })
    ));
    assert!(matches!(
        Replaces::parse(";to-tag=a;from-tag=b"),
        Err(DialogIdError::MissingCallId { .. })
    ));
    // RFC 3261 section 25.1: escaped = "%" HEXDIG HEXDIG.
    for bad in ["12345%4", "12345%zz3Bto-tag", "%C3%28"] {
        assert!(unescape(bad).is_err(), "{bad}");
        assert!(matches!(
            Replaces::parse_escaped(bad),
            Err(DialogIdError::BadEscape(_))
        ));
    }
    // RFC 4538 section 4: without both tags the header "MUST be ignored": passed on unchanged.
    let half = "p1call@platform;remote-tag=hb1";
    assert!(TargetDialog::parse(half).is_err());
    let out = translate(DialogIdForm::TargetDialogHeader, half, |_| Some(bridged()));
    assert!(matches!(out, Cow::Borrowed(v) if v == half));
}
