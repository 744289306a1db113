//! The E.164 normaliser takes numbers straight from the network: it must never panic, and
//! whatever it accepts must be a well-formed E.164 number.

use handoff::numbering::{e164_from_uri, normalize_e164};
use proptest::prelude::*;

fn check_well_formed(text: &str) {
    let digits = text.strip_prefix('+').expect("E.164 starts with '+'");
    assert!((7..=15).contains(&digits.len()), "{text}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{text}");
    assert!(!digits.starts_with('0'), "{text}");
}

proptest! {
    #[test]
    fn arbitrary_strings(input in any::<String>(), cc in "[0-9+]{0,4}") {
        if let Ok(number) = normalize_e164(&input, &cc) {
            check_well_formed(number.as_str());
        }
        if let Ok(number) = e164_from_uri(&input, &cc) {
            check_well_formed(number.as_str());
        }
    }

    #[test]
    fn number_like_strings(
        input in "(tel:|sips?:|<sip:)?[+]?[0-9 ().%-]{0,20}(;phone-context=[+0-9a-z.-]{0,6})?(@[a-z.]{0,8})?(;user=phone)?>?",
        cc in prop::sample::select(vec!["1", "44", "49", "39", "33"]),
    ) {
        if let Ok(number) = normalize_e164(&input, cc) {
            check_well_formed(number.as_str());
            // Normalising again changes nothing.
            let again = normalize_e164(number.as_str(), cc);
            prop_assert_eq!(again, Ok(number));
        }
    }
}
