//! E.164 normalisation of US (NANP) and UK/EU number forms, bare and inside URIs.

use handoff::numbering::{E164, NumberError, e164_from_uri, normalize_e164};

fn e164(input: &str, country_code: &str) -> String {
    match normalize_e164(input, country_code) {
        Ok(number) => number.to_string(),
        Err(error) => panic!("{input:?} with +{country_code}: {error}"),
    }
}

fn uri(input: &str, country_code: &str) -> String {
    match e164_from_uri(input, country_code) {
        Ok(number) => number.to_string(),
        Err(error) => panic!("{input:?} with +{country_code}: {error}"),
    }
}

#[test]
fn us_national_forms() {
    assert_eq!(e164("5559876543", "1"), "+15559876543");
    assert_eq!(e164("15559876543", "1"), "+15559876543");
    assert_eq!(e164("(555) 987-6543", "1"), "+15559876543");
    assert_eq!(e164("555.987.6543", "1"), "+15559876543");
    assert_eq!(e164("1-555-987-6543", "+1"), "+15559876543");
}

#[test]
fn us_international_forms() {
    assert_eq!(e164("+1 555 987 6543", "1"), "+15559876543");
    assert_eq!(e164("011 44 20 7946 0018", "1"), "+442079460018");
    assert_eq!(e164("00442079460018", "1"), "+442079460018");
}

#[test]
fn us_rejects_incomplete_or_impossible_numbers() {
    assert!(matches!(
        normalize_e164("9876543", "1"),
        Err(NumberError::NotNational { .. })
    ));
    assert!(matches!(
        normalize_e164("0559876543", "1"),
        Err(NumberError::NotNational { .. })
    ));
    assert!(matches!(
        normalize_e164("25559876543", "1"),
        Err(NumberError::NotNational { .. })
    ));
}

#[test]
fn uk_forms() {
    assert_eq!(e164("020 7946 0018", "44"), "+442079460018");
    assert_eq!(e164("(020) 7946-0018", "44"), "+442079460018");
    assert_eq!(e164("0044 20 7946 0018", "44"), "+442079460018");
    assert_eq!(e164("+44 20 7946 0018", "44"), "+442079460018");
    assert_eq!(e164("442079460018", "44"), "+442079460018");
    // 0117 is Bristol, not the NANP exit code 011.
    assert_eq!(e164("0117 496 0123", "44"), "+441174960123");
    assert_eq!(e164("07700 900123", "44"), "+447700900123");
}

#[test]
fn eu_forms() {
    assert_eq!(e164("030 1234567", "49"), "+49301234567");
    assert_eq!(e164("01 23 45 67 89", "33"), "+33123456789");
    assert_eq!(e164("0033 1 23 45 67 89", "49"), "+33123456789");
    // Italy keeps the leading 0 of its geographic numbers.
    assert_eq!(e164("06 1234 5678", "39"), "+390612345678");
}

#[test]
fn tel_uris() {
    assert_eq!(e164("tel:+1-555-987-6543", "44"), "+15559876543");
    assert_eq!(uri("tel:5559876543", "1"), "+15559876543");
    assert_eq!(
        uri("tel:7946-0018;phone-context=+44-20", "1"),
        "+442079460018"
    );
    assert_eq!(uri("TEL:+44.20.7946.0018;ext=22", "1"), "+442079460018");
}

#[test]
fn sip_uris() {
    assert_eq!(uri("sip:5559876543@host;user=phone", "1"), "+15559876543");
    assert_eq!(uri("sip:+442079460018@x", "1"), "+442079460018");
    assert_eq!(
        uri("<sips:02079460018@carrier.example:5061;user=phone>", "44"),
        "+442079460018"
    );
    assert_eq!(uri("sip:%2B15559876543@h", "44"), "+15559876543");
    assert_eq!(
        uri(
            "sip:+1-555-987-6543@h;user=phone?Replaces=abc%3Bto-tag%3D1",
            "1"
        ),
        "+15559876543"
    );
    assert_eq!(
        e164("sip:5559876543@10.0.0.1;user=phone", "1"),
        "+15559876543"
    );
}

#[test]
fn sip_uris_without_a_number_are_rejected() {
    assert!(matches!(
        e164_from_uri("sip:alice@example.com", "1"),
        Err(NumberError::NotAPhoneNumber { .. })
    ));
    assert!(matches!(
        e164_from_uri("sip:example.com", "1"),
        Err(NumberError::NoUser { .. })
    ));
    assert!(matches!(
        e164_from_uri("mailto:a@b", "1"),
        Err(NumberError::UnsupportedScheme { .. })
    ));
}

#[test]
fn bad_characters_and_lengths_are_rejected() {
    assert!(matches!(
        normalize_e164("555-CALL-NOW", "1"),
        Err(NumberError::InvalidCharacter { found: 'C', .. })
    ));
    assert!(matches!(
        normalize_e164("*69", "1"),
        Err(NumberError::InvalidCharacter { found: '*', .. })
    ));
    assert!(matches!(
        normalize_e164("+1234567890123456", "1"),
        Err(NumberError::TooLong { digits: 16, .. })
    ));
    assert!(matches!(
        normalize_e164("+12345", "1"),
        Err(NumberError::TooShort { digits: 5, .. })
    ));
    assert!(matches!(
        normalize_e164(" - ", "44"),
        Err(NumberError::Empty { .. })
    ));
    assert!(matches!(
        normalize_e164("02079460018", "044"),
        Err(NumberError::BadCountryCode { .. })
    ));
}

#[test]
fn error_messages_quote_the_input() {
    let error = normalize_e164("555-CALL", "1").expect_err("letters are not digits");
    assert_eq!(
        error.to_string(),
        "\"555-CALL\" contains 'C', which is neither a digit nor a visual separator"
    );
}

#[test]
fn normalising_is_idempotent() {
    let once: E164 = normalize_e164("020 7946 0018", "44").expect("valid");
    let twice = normalize_e164(once.as_str(), "1").expect("valid");
    assert_eq!(once, twice);
}
