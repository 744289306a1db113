//! %-escaping of SIP URI header values (RFC 3261 section 25.1, `hvalue`).
//!
//! A Replaces value travels inside a Refer-To URI as `?Replaces=call%40host%3Bto-tag%3D..`. The
//! characters allowed unescaped there are `unreserved` and `hnv-unreserved`; everything else is
//! written as `%XX` with upper-case hex, the form carriers and RFC 3891's examples use.

use std::fmt;

/// A `%` not followed by two hex digits, or an escape that does not decode to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BadEscape {
    /// The offending text, as received.
    pub text: String,
}

impl fmt::Display for BadEscape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: malformed %-escape (sender's fault): expected %XX hex pairs decoding to UTF-8",
            self.text
        )
    }
}

/// RFC 3261: `hvalue = *( hnv-unreserved / unreserved / escaped )`.
fn allowed_in_hvalue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            // mark
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            // hnv-unreserved
            | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$'
        )
}

/// Escapes `text` for use as a URI header value.
pub fn escape_hvalue(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() + 16);
    for &byte in text.as_bytes() {
        if allowed_in_hvalue(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes (either hex case). Never panics.
pub fn unescape(text: &str) -> Result<String, BadEscape> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let pair = bytes.get(i + 1..i + 3);
            let decoded =
                pair.and_then(|pair| Some(hex_value(pair[0])? * 16 + hex_value(pair[1])?));
            match decoded {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    return Err(BadEscape {
                        text: text.to_owned(),
                    });
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| BadEscape {
        text: text.to_owned(),
    })
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_separators_and_at_sign_upper_case() {
        assert_eq!(
            escape_hvalue("a84b@pc33.example;to-tag=x y;from-tag=1%"),
            "a84b%40pc33.example%3Bto-tag%3Dx%20y%3Bfrom-tag%3D1%25"
        );
    }

    #[test]
    fn unescape_inverts_escape_and_accepts_lower_case_hex() {
        let text = "12@host;to-tag=a;from-tag=b;early-only";
        assert_eq!(unescape(&escape_hvalue(text)).as_deref(), Ok(text));
        assert_eq!(unescape("a%3bb%3D").as_deref(), Ok("a;b="));
    }

    #[test]
    fn truncated_or_non_hex_escape_is_an_error() {
        for bad in ["abc%", "abc%4", "abc%zz", "%ff"] {
            assert!(unescape(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
