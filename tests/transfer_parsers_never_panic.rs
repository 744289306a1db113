//! Refer-To, Replaces and Target-Dialog parsing and translation never panic, whatever arrives;
//! and rendering then parsing a Replaces gives it back.

use handoff::transfer::dialog_ids::{DialogId, DialogIdForm, Replaces, TargetDialog, translate};
use handoff::transfer::escape::{escape_hvalue, unescape};
use handoff::transfer::refer_to::PlatformReferTo;
use proptest::prelude::*;

fn sip_ish() -> impl Strategy<Value = String> {
    // Mostly characters that matter to these grammars, plus anything at all.
    prop_oneof![
        proptest::string::string_regex("[<>\"sipteltag:@;=?&%0-9a-fA-F+ ()-]{0,60}")
            .expect("valid regex"),
        any::<String>(),
    ]
}

fn token() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9.!%*_+`'~-]{1,12}").expect("valid regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn parsing_and_translating_never_panic(text in sip_ish()) {
        if let Ok(parsed) = PlatformReferTo::parse(&text) {
            let _ = parsed.replaces();
            let _ = parsed.e164("44");
        }
        let _ = Replaces::parse(&text);
        let _ = Replaces::parse_escaped(&text);
        let _ = TargetDialog::parse(&text);
        let _ = unescape(&text);
        let lookup = |d: &DialogId| Some(DialogId::new(&d.remote_tag, &d.call_id, &d.local_tag));
        for form in [
            DialogIdForm::ReplacesHeader,
            DialogIdForm::ReplacesInUri,
            DialogIdForm::TargetDialogHeader,
        ] {
            let _ = translate(form, &text, lookup);
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
