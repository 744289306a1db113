//! Byte-level lexing shared by the SIP parsers (RFC 3261 section 25.1 basic rules).

const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    t
}

static TOKEN_CHARS: [bool; 256] = token_table();

/// RFC 3261 `token` characters.
#[inline(always)]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS[usize::from(b)]
}

/// Space or horizontal tab.
#[inline]
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Linear white space inside a header value: folding has already been checked when the header
/// section was split, so a CR or LF here is always part of a fold.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |p| p + 1);
    &s[start..end]
}

/// Index just past the closing quote of the quoted string opening at `s[open]`, or `None` when
/// the string is unterminated. Backslash escapes any byte (RFC 3261 `quoted-pair`).
pub(crate) fn quoted_string_end(s: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The ASCII bytes as `&str`. Callers only pass bytes they have checked to be ASCII.
pub(crate) fn ascii_str(s: &[u8]) -> Option<&str> {
    if s.is_ascii() {
        std::str::from_utf8(s).ok()
    } else {
        None
    }
}

/// Splits a header value at top-level commas: never inside a quoted string or `<...>`.
/// Pieces are trimmed of LWS; empty pieces are yielded (callers decide whether they are faults).
#[derive(Clone, Debug)]
pub(crate) struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(value: &'a [u8]) -> Self {
        CommaSplit { rest: Some(value) }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        let mut i = 0;
        // Jump between the only bytes that matter: quotes, angle brackets and commas.
        while let Some(off) = memchr::memchr3(b'"', b'<', b',', &s[i..]) {
            i += off;
            let next = match s[i] {
                b'"' => quoted_string_end(s, i),
                // Inside <...> only the closing '>' matters.
                b'<' => memchr::memchr(b'>', &s[i..]).map(|close| i + close + 1),
                _ => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(trim_lws(&s[..i]));
                }
            };
            match next {
                Some(n) => i = n,
                None => break,
            }
        }
        self.rest = None;
        Some(trim_lws(s))
    }
}

/// Position of `needle` in `hay`: a plain loop for the short slices of header values, where
/// memchr's setup costs more than it saves.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < 64 {
        hay.iter().position(|&b| b == needle)
    } else {
        memchr::memchr(needle, hay)
    }
}

/// Value of one hex digit.
#[inline]
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses an unsigned decimal made only of digits, saturating detection of overflow as `None`.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return if s.len() > 19 && s.iter().all(u8::is_ascii_digit) {
            // Leading zeros may make a small number long ("0068").
            let trimmed = &s[s.iter().position(|&b| b != b'0').unwrap_or(s.len())..];
            if trimmed.len() <= 19 {
                parse_decimal_exact(trimmed)
            } else {
                None
            }
        } else {
            None
        };
    }
    parse_decimal_exact(s)
}

fn parse_decimal_exact(s: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let parts: Vec<&[u8]> = CommaSplit::new(b"\"a,b\" <sip:x,y@h>, c ,").collect();
        assert_eq!(parts, vec![&b"\"a,b\" <sip:x,y@h>"[..], b"c", b""]);
    }

    #[test]
    fn decimal_handles_leading_zeros_and_overflow() {
        assert_eq!(parse_decimal(b"0068"), Some(68));
        assert_eq!(parse_decimal(b"000000000000000000000000042"), Some(42));
        assert_eq!(parse_decimal(b"36893488147419103232"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b""), None);
    }
}
