//! E.164 normalisation of trunk numbers.
//!
//! Carriers reject REFERs whose Refer-To is not E.164 (403/603), so every number handoff puts
//! toward a carrier goes through [`normalize_e164`] with the trunk's country code. Pure; never
//! panics on any input.
//!
//! Accepted forms (visual separators `-` `.` `(` `)` and spaces are ignored):
//! - global: `+15559876543`, `00 44 20 7946 0018`, `011 44 20 7946 0018` (NANP exit code);
//! - national, with the trunk's country code: US `5559876543` or `1 555 987 6543`; UK/EU with the
//!   trunk prefix `0`: `020 7946 0018` -> `+442079460018` (Italy keeps its leading 0);
//! - international digits without `+`, as many carriers send them: `442079460018`;
//! - `tel:` URIs (`tel:+1-555-987-6543`, `tel:7946-0018;phone-context=+44-20`) and `sip:`/`sips:`
//!   URIs whose user part is a number (`sip:5559876543@host;user=phone`, `sip:+44...@x`).

use std::fmt;

/// Longest E.164 number: 15 digits including the country code (ITU-T E.164 section 6).
pub const MAX_DIGITS: usize = 15;
/// Shortest number accepted; shorter ones are service or extension numbers, not E.164.
pub const MIN_DIGITS: usize = 7;

/// A number in E.164 form. Displays as `+15559876543`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    /// '+' followed by 7 to 15 digits, the first not 0.
    text: String,
}

impl E164 {
    /// The digits without '+', e.g. `15559876543`. Route prefixes match against these.
    pub fn digits(&self) -> &str {
        &self.text[1..]
    }

    /// The number with its leading '+', e.g. `+15559876543`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A SIP URI for this number at `host`: `sip:+15559876543@host;user=phone`.
    pub fn sip_uri(&self, host: &str) -> String {
        format!("sip:{}@{host};user=phone", self.text)
    }

    fn from_digits(digits: &str, input: &str) -> Result<E164, NumberError> {
        if digits.len() > MAX_DIGITS {
            return Err(NumberError::TooLong {
                input: input.to_owned(),
                digits: digits.len(),
            });
        }
        if digits.len() < MIN_DIGITS {
            return Err(NumberError::TooShort {
                input: input.to_owned(),
                digits: digits.len(),
            });
        }
        if digits.starts_with('0') {
            return Err(NumberError::BadInternational {
                input: input.to_owned(),
            });
        }
        Ok(E164 {
            text: format!("+{digits}"),
        })
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a number could not be put in E.164 form. The input is quoted as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{input:?} holds no digits")]
    Empty { input: String },
    #[error("{input:?} contains {found:?}, which is neither a digit nor a visual separator")]
    InvalidCharacter { input: String, found: char },
    #[error("{input:?} has {digits} digits; an E.164 number has at most {MAX_DIGITS}")]
    TooLong { input: String, digits: usize },
    #[error("{input:?} has {digits} digits, too few for a full number (at least {MIN_DIGITS})")]
    TooShort { input: String, digits: usize },
    #[error("{input:?}: international numbers cannot start with 0 after the prefix")]
    BadInternational { input: String },
    #[error("{input:?} is not a national number for country code +{country_code}: {reason}")]
    NotNational {
        input: String,
        country_code: String,
        reason: &'static str,
    },
    #[error("country code {country_code:?} is not 1 to 3 digits without a leading 0")]
    BadCountryCode { country_code: String },
    #[error("{uri:?} is not a tel:, sip: or sips: URI")]
    UnsupportedScheme { uri: String },
    #[error("{uri:?} has no user part to take a number from")]
    NoUser { uri: String },
    #[error("{uri:?}: user part {user:?} is not a telephone number")]
    NotAPhoneNumber { uri: String, user: String },
}

/// Normalises `input` to E.164 using `country_code` (e.g. "1", "44"; a leading '+' is allowed)
/// for national numbers. `input` may be a bare number, a `tel:` URI, or a `sip:`/`sips:` URI (see
/// [`e164_from_uri`]).
pub fn normalize_e164(input: &str, country_code: &str) -> Result<E164, NumberError> {
    let trimmed = input.trim();
    if has_scheme(trimmed, "tel:") || has_scheme(trimmed, "sip:") || has_scheme(trimmed, "sips:") {
        return e164_from_uri(trimmed, country_code);
    }
    normalize_number(trimmed, None, country_code, input)
}

/// Normalises the number a URI names: `tel:+1-555-987-6543`, `sip:5559876543@host;user=phone`,
/// `sip:+442079460018@x`, also inside `<...>`. A sip user part without `user=phone` must still
/// look like a number (digits, separators, optional leading '+'). URI headers (`?...`) and
/// parameters other than `phone-context` are ignored.
pub fn e164_from_uri(uri: &str, country_code: &str) -> Result<E164, NumberError> {
    let trimmed = uri.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(trimmed);
    let unsupported = || NumberError::UnsupportedScheme {
        uri: uri.to_owned(),
    };
    let (scheme, rest) = inner.split_once(':').ok_or_else(unsupported)?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if scheme.eq_ignore_ascii_case("tel") {
        let (number, params) = split_params(rest);
        let decoded = percent_decode(number, uri)?;
        return normalize_number(&decoded, phone_context(params), country_code, uri);
    }
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return Err(unsupported());
    }
    let (userinfo, host_part) = rest.split_once('@').ok_or_else(|| NumberError::NoUser {
        uri: uri.to_owned(),
    })?;
    // user:password — the password never holds the number.
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    if user.is_empty() {
        return Err(NumberError::NoUser {
            uri: uri.to_owned(),
        });
    }
    let (number, user_params) = split_params(user);
    let decoded = percent_decode(number, uri)?;
    let user_is_phone = split_params(host_part)
        .1
        .split(';')
        .any(|param| param.eq_ignore_ascii_case("user=phone"));
    let looks_numeric = {
        let body = decoded.strip_prefix('+').unwrap_or(&decoded);
        !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || is_separator(c))
    };
    if !user_is_phone && !looks_numeric {
        return Err(NumberError::NotAPhoneNumber {
            uri: uri.to_owned(),
            user: user.to_owned(),
        });
    }
    normalize_number(&decoded, phone_context(user_params), country_code, uri)
}

/// RFC 3966 visual separators, plus spaces people type.
fn is_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')' | ' ' | '\t')
}

fn has_scheme(text: &str, scheme: &str) -> bool {
    let text = text.strip_prefix('<').unwrap_or(text);
    text.get(..scheme.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
}

/// Splits `number;param;param` into the number and the parameter string (without the first ';').
fn split_params(text: &str) -> (&str, &str) {
    text.split_once(';').unwrap_or((text, ""))
}

/// The `phone-context` parameter when it is a global number prefix (`+44-20`); a domain name
/// context says nothing about digits and is ignored.
fn phone_context(params: &str) -> Option<&str> {
    params
        .split(';')
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("phone-context"))
        .map(|(_, value)| value)
        .filter(|value| value.starts_with('+'))
}

fn percent_decode(text: &str, input: &str) -> Result<String, NumberError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).filter(|h| h.len() == 2);
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => {
                    return Err(NumberError::InvalidCharacter {
                        input: input.to_owned(),
                        found: '%',
                    });
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| NumberError::InvalidCharacter {
        input: input.to_owned(),
        found: char::REPLACEMENT_CHARACTER,
    })
}

/// Strips separators; returns whether a leading '+' was present and the digits.
fn clean(number: &str, input: &str) -> Result<(bool, String), NumberError> {
    let body = number.trim();
    let (plus, body) = match body.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_separator(c) {
            return Err(NumberError::InvalidCharacter {
                input: input.to_owned(),
                found: c,
            });
        }
    }
    if digits.is_empty() {
        return Err(NumberError::Empty {
            input: input.to_owned(),
        });
    }
    Ok((plus, digits))
}

fn normalize_number(
    number: &str,
    context: Option<&str>,
    country_code: &str,
    input: &str,
) -> Result<E164, NumberError> {
    let (plus, digits) = clean(number, input)?;
    if plus {
        return E164::from_digits(&digits, input);
    }
    // A local number inside a global phone-context: the context supplies the leading digits.
    if let Some(context) = context {
        let (_, prefix) = clean(context, input)?;
        return E164::from_digits(&format!("{prefix}{digits}"), input);
    }
    let cc = country_code.trim().trim_start_matches('+');
    let cc_ok = (1..=3).contains(&cc.len())
        && cc.bytes().all(|b| b.is_ascii_digit())
        && !cc.starts_with('0');
    if !cc_ok {
        return Err(NumberError::BadCountryCode {
            country_code: country_code.to_owned(),
        });
    }
    if cc == "1" {
        north_american(&digits, input)
    } else {
        other_country(&digits, cc, input)
    }
}

/// NANP (+1): exit code 011 (00 also accepted: no NANP number starts with 0), 10-digit national
/// numbers, or 1 + 10 digits.
fn north_american(digits: &str, input: &str) -> Result<E164, NumberError> {
    if let Some(international) = digits
        .strip_prefix("011")
        .or_else(|| digits.strip_prefix("00"))
    {
        return E164::from_digits(international, input);
    }
    let national = match digits.len() {
        10 => digits,
        11 if digits.starts_with('1') => &digits[1..],
        _ => {
            return Err(NumberError::NotNational {
                input: input.to_owned(),
                country_code: "1".to_owned(),
                reason: "expected 10 digits (area code + number), optionally after a leading 1",
            });
        }
    };
    if national.starts_with(['0', '1']) {
        return Err(NumberError::NotNational {
            input: input.to_owned(),
            country_code: "1".to_owned(),
            reason: "area codes start with 2 to 9",
        });
    }
    E164::from_digits(&format!("1{national}"), input)
}

/// Countries whose national numbers keep their leading 0 in E.164 (no trunk prefix to drop):
/// Italy, San Marino, Vatican.
const KEEP_LEADING_ZERO: &[&str] = &["39", "378", "379"];

/// Everywhere else: 00 is the international prefix; a leading 0 is the trunk prefix.
fn other_country(digits: &str, cc: &str, input: &str) -> Result<E164, NumberError> {
    if let Some(international) = digits.strip_prefix("00") {
        return E164::from_digits(international, input);
    }
    if let Some(national) = digits.strip_prefix('0') {
        if KEEP_LEADING_ZERO.contains(&cc) {
            return E164::from_digits(&format!("{cc}{digits}"), input);
        }
        if national.is_empty() {
            return Err(NumberError::TooShort {
                input: input.to_owned(),
                digits: digits.len(),
            });
        }
        return E164::from_digits(&format!("{cc}{national}"), input);
    }
    // Without any prefix: carriers often send international digits without '+'. Taken as such when
    // they begin with the country code and are long enough to be a full number; otherwise they
    // are a national number dialled without its trunk prefix.
    if digits.starts_with(cc) && digits.len() >= 11 {
        return E164::from_digits(digits, input);
    }
    E164::from_digits(&format!("{cc}{digits}"), input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_display_agree() {
        let number = normalize_e164("+15559876543", "1").expect("valid");
        assert_eq!(number.digits(), "15559876543");
        assert_eq!(number.to_string(), "+15559876543");
        assert_eq!(number.as_str(), "+15559876543");
        assert_eq!(
            number.sip_uri("trunk.example"),
            "sip:+15559876543@trunk.example;user=phone"
        );
    }

    #[test]
    fn leading_zero_after_plus_is_rejected() {
        assert!(matches!(
            normalize_e164("+0123456789", "1"),
            Err(NumberError::BadInternational { .. })
        ));
    }
}
