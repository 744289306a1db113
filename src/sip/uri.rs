//! SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966), borrowed from the message.
//!
//! Parts are kept exactly as received (%-escapes included) so that a URI re-serialised through
//! [`UriBuf`] is byte-identical unless a part was replaced.

use std::borrow::Cow;
use std::fmt;

use super::error::UriFault;
use super::lex::{find_byte, hex_value};

/// The URI scheme. Matching is case-insensitive; `Other` keeps the scheme as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme<'a> {
    Sip,
    Sips,
    Tel,
    Other(&'a str),
}

/// A parsed URI borrowing its text.
///
/// For `sip:`/`sips:` every part is filled in. For `tel:` the number is [`Uri::user`], the host is
/// empty and the parameters are parsed. For other schemes only [`Uri::opaque`] is meaningful.
///
/// Parts are byte ranges into the text rather than slices: a `Uri` is copied into every parsed
/// name-addr and Via, and ranges keep it under half the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: SchemeKind,
    /// Index of the ':' ending the scheme.
    colon: u32,
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    port: Option<u16>,
    /// The port as written (meaningful when `port` is `Some`).
    port_text: Span,
    /// Everything after the first `;` of the parameters, up to `?` (no leading `;`).
    params: Option<Span>,
    /// Everything after `?` (no leading `?`).
    headers: Option<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeKind {
    Sip,
    Sips,
    Tel,
    Other,
}

/// Byte range of one part of a URI inside its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Offsets fit: [`Uri::parse`] refuses texts longer than `u32::MAX`.
    #[inline]
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    #[inline]
    fn of(self, raw: &str) -> &str {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }
}

/// Byte classes for [`scan_uri`]: 0 refused (controls, spaces, non-ASCII, `<>"\\{}|^` and
/// backquote), 1 plain, 2 needs a look (`%`, `:`, `@`, `;`, `?`).
const fn uri_class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = match b as u8 {
            b'<' | b'>' | b'"' | b'\\' | b'{' | b'}' | b'|' | b'^' | b'`' => 0,
            b'%' | b':' | b'@' | b';' | b'?' => 2,
            _ => 1,
        };
        b += 1;
    }
    t
}

static URI_CLASS: [u8; 256] = uri_class_table();

/// Hostname bytes: letters, digits, '-', '.' and '_'.
const fn host_char_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
        b += 1;
    }
    t
}

pub(crate) static HOST_CHARS: [bool; 256] = host_char_table();

/// Delimiter positions found by [`scan_uri`].
struct Marks {
    /// First ':' (ends the scheme).
    colon: Option<usize>,
    /// First '@' after the scheme (ends the userinfo).
    at: Option<usize>,
    /// First ';' and '?' after the userinfo (or after the scheme when there is none).
    semi: Option<usize>,
    question: Option<usize>,
    /// A ';' between the userinfo and the first '?' that starts an empty parameter (followed
    /// by ';', '=', '?' or the end).
    empty_param: bool,
}

/// Whether the eight bytes from `i` are all plain URI bytes (`false` past the end).
#[inline(always)]
fn plain8(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i..i + 8) {
        Some(chunk) => {
            chunk
                .iter()
                .fold(1, |all, &b| all & URI_CLASS[usize::from(b)])
                == 1
        }
        None => false,
    }
}

/// One pass over the URI: checks every byte and %-escape, and notes the delimiters.
fn scan_uri(s: &str) -> Result<Marks, UriFault> {
    let bytes = s.as_bytes();
    let mut marks = Marks {
        colon: None,
        at: None,
        semi: None,
        question: None,
        empty_param: false,
    };
    let mut i = 0;
    loop {
        while plain8(bytes, i) {
            i += 8;
        }
        while i < bytes.len() && URI_CLASS[usize::from(bytes[i])] == 1 {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            return Ok(marks);
        };
        match b {
            b'%' => {
                let ok = i + 2 < bytes.len()
                    && hex_value(bytes[i + 1]).is_some()
                    && hex_value(bytes[i + 2]).is_some();
                if !ok {
                    return Err(UriFault::BadEscape);
                }
                i += 3;
                continue;
            }
            b':' => {
                marks.colon.get_or_insert(i);
            }
            b'@' if marks.at.is_none() && marks.colon.is_some() => {
                marks.at = Some(i);
                // Delimiters seen so far were inside the userinfo.
                marks.semi = None;
                marks.question = None;
                marks.empty_param = false;
            }
            b'@' => {}
            b';' => {
                marks.semi.get_or_insert(i);
                if marks.question.is_none() {
                    marks.empty_param |=
                        matches!(bytes.get(i + 1), None | Some(b';' | b'=' | b'?'));
                }
            }
            b'?' => {
                marks.question.get_or_insert(i);
            }
            _ => {
                return Err(if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                    UriFault::Whitespace
                } else {
                    UriFault::BadCharacter
                });
            }
        }
        i += 1;
    }
}

fn valid_ipv6_reference(h: &[u8]) -> bool {
    h.len() >= 4
        && h[0] == b'['
        && h[h.len() - 1] == b']'
        && h[1..h.len() - 1]
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        && h[1..h.len() - 1].contains(&b':')
}

/// Parses `host [":" port]`, returning (host, port).
pub(crate) fn parse_hostport(s: &str) -> Result<(&str, Option<u16>), UriFault> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(UriFault::MissingHost);
    }
    let (host, rest) = if b[0] == b'[' {
        let close = find_byte(b']', b).ok_or(UriFault::UnterminatedIpv6)?;
        let host = &s[..=close];
        if !valid_ipv6_reference(host.as_bytes()) {
            return Err(UriFault::BadHost);
        }
        (host, &s[close + 1..])
    } else {
        // One pass: the host runs over hostname bytes up to ':' (or the end).
        let mut end = 0;
        while end < b.len() && HOST_CHARS[usize::from(b[end])] {
            end += 1;
        }
        let host = &s[..end];
        if host.is_empty() || (end < b.len() && b[end] != b':') {
            return Err(if host.is_empty() {
                UriFault::MissingHost
            } else {
                UriFault::BadHost
            });
        }
        (host, &s[end..])
    };
    if rest.is_empty() {
        return Ok((host, None));
    }
    let Some(port) = rest.strip_prefix(':') else {
        return Err(UriFault::BadHost);
    };
    Ok((
        host,
        Some(parse_port(port.as_bytes()).ok_or(UriFault::BadPort)?),
    ))
}

pub(crate) fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u32 = 0;
    for &d in p {
        v = v * 10 + u32::from(d - b'0');
    }
    u16::try_from(v).ok()
}

impl<'a> Uri<'a> {
    /// Parses a URI as it appears in a Request-URI or inside `<>`. Never panics.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriFault> {
        if s.is_empty() {
            return Err(UriFault::Empty);
        }
        if s.starts_with('<') {
            return Err(UriFault::Enclosed);
        }
        if u32::try_from(s.len()).is_err() {
            return Err(UriFault::TooLong);
        }
        let marks = scan_uri(s)?;
        let colon = marks.colon.ok_or(UriFault::MissingScheme)?;
        let scheme_text = &s[..colon];
        let sb = scheme_text.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(UriFault::MissingScheme);
        }
        let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
            SchemeKind::Sip
        } else if scheme_text.eq_ignore_ascii_case("sips") {
            SchemeKind::Sips
        } else if scheme_text.eq_ignore_ascii_case("tel") {
            SchemeKind::Tel
        } else {
            SchemeKind::Other
        };
        let mut uri = Uri {
            raw: s,
            scheme,
            colon: colon as u32,
            user: None,
            password: None,
            host: Span::default(),
            port: None,
            port_text: Span::default(),
            params: None,
            headers: None,
        };
        match scheme {
            SchemeKind::Sip | SchemeKind::Sips => {
                // Neither user nor password may hold a raw '@', so the first one ends the userinfo.
                let host_start = match marks.at {
                    Some(at) => {
                        let start = colon + 1;
                        let userinfo = &s.as_bytes()[start..at];
                        let user_end = find_byte(b':', userinfo).map_or(at, |c| start + c);
                        if user_end == start {
                            return Err(UriFault::BadCharacter);
                        }
                        uri.user = Some(Span::new(start, user_end));
                        if user_end < at {
                            uri.password = Some(Span::new(user_end + 1, at));
                        }
                        at + 1
                    }
                    None => colon + 1,
                };
                let hp_end = match (marks.semi, marks.question) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => s.len(),
                };
                let hostport = &s[host_start..hp_end];
                let (host, port) = parse_hostport(hostport)?;
                uri.host = Span::new(host_start, host_start + host.len());
                uri.port = port;
                if port.is_some() {
                    uri.port_text = Span::new(host_start + host.len() + 1, hp_end);
                }
                // One split from the scan's marks: params up to '?', headers after it.
                if marks.empty_param {
                    return Err(UriFault::EmptyParam);
                }
                if let Some(semi) = marks.semi.filter(|&p| p == hp_end) {
                    uri.params = Some(Span::new(semi + 1, marks.question.unwrap_or(s.len())));
                }
                if let Some(q) = marks.question {
                    uri.headers = Some(Span::new(q + 1, s.len()));
                }
            }
            SchemeKind::Tel => {
                let rest = &s.as_bytes()[colon + 1..];
                let end = find_byte(b';', rest).unwrap_or(rest.len());
                if end == 0 {
                    return Err(UriFault::MissingHost);
                }
                uri.user = Some(Span::new(colon + 1, colon + 1 + end));
                uri.split_params_and_headers(colon + 1 + end)?;
            }
            SchemeKind::Other => {
                if colon + 1 == s.len() {
                    return Err(UriFault::Empty);
                }
            }
        }
        Ok(uri)
    }

    /// The tail from `from` is empty or starts with ';' or '?'.
    fn split_params_and_headers(&mut self, from: usize) -> Result<(), UriFault> {
        let tail = &self.raw.as_bytes()[from..];
        let q = find_byte(b'?', tail);
        let (params, headers) = match q {
            Some(q) => (&tail[..q], Some(from + q + 1)),
            None => (tail, None),
        };
        if let Some(p) = params.strip_prefix(b";") {
            // Every parameter needs a name: no ";;", no leading "=", no trailing ';'.
            let pb = p;
            let mut empty =
                pb.is_empty() || matches!(pb[0], b'=' | b';') || pb[pb.len() - 1] == b';';
            let mut i = 0;
            while !empty && i + 1 < pb.len() {
                empty = pb[i] == b';' && (pb[i + 1] == b';' || pb[i + 1] == b'=');
                i += 1;
            }
            if empty {
                return Err(UriFault::EmptyParam);
            }
            self.params = Some(Span::new(from + 1, from + params.len()));
        }
        if let Some(h) = headers {
            self.headers = Some(Span::new(h, self.raw.len()));
        }
        Ok(())
    }

    /// The whole URI as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
    pub fn scheme(&self) -> Scheme<'a> {
        match self.scheme {
            SchemeKind::Sip => Scheme::Sip,
            SchemeKind::Sips => Scheme::Sips,
            SchemeKind::Tel => Scheme::Tel,
            SchemeKind::Other => Scheme::Other(self.scheme_str()),
        }
    }
    /// The scheme as written ("SIP", "sip", ...).
    pub fn scheme_str(&self) -> &'a str {
        self.raw.get(..self.colon as usize).unwrap_or("")
    }
    /// User part, still %-escaped (for tel: the number).
    pub fn user(&self) -> Option<&'a str> {
        self.user.map(|u| u.of(self.raw))
    }
    pub fn password(&self) -> Option<&'a str> {
        self.password.map(|p| p.of(self.raw))
    }
    /// Host; IPv6 references keep their brackets. Empty for tel: and unknown schemes.
    pub fn host(&self) -> &'a str {
        self.host.of(self.raw)
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// Everything after "scheme:" (meaningful for unknown schemes).
    pub fn opaque(&self) -> &'a str {
        self.raw.get(self.colon as usize + 1..).unwrap_or("")
    }
    /// The user part with %-escapes decoded.
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user().map(|u| unescape(u.as_bytes()))
    }
    /// URI parameters in order: (name, value) as written, value `None` for a flag like `lr`.
    pub fn params(&self) -> UriParams<'a> {
        UriParams {
            rest: self.params.map(|p| p.of(self.raw)),
        }
    }
    /// The first parameter named `name` (case-insensitive): `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    /// URI headers (`?a=b&c=d`) in order, values still %-escaped.
    pub fn headers(&self) -> UriHeaders<'a> {
        UriHeaders {
            rest: self.headers.map(|h| h.of(self.raw)),
        }
    }
    /// The raw (%-escaped) value of the first URI header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }
    /// The value of URI header `name` with %-escapes decoded (e.g. `Replaces`).
    pub fn header_value_unescaped(&self, name: &str) -> Option<Cow<'a, str>> {
        let raw = self.header(name)?;
        Some(match unescape(raw.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(raw),
            Cow::Owned(v) => match String::from_utf8(v) {
                Ok(s) => Cow::Owned(s),
                Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            },
        })
    }
    /// An owned, editable copy that re-serialises byte-exactly.
    pub fn to_buf(&self) -> UriBuf {
        UriBuf {
            scheme: self.scheme_str().to_owned(),
            user: self.user().map(str::to_owned),
            password: self.password().map(str::to_owned),
            host: self.host().to_owned(),
            port: self.port,
            port_text: self.port.map(|_| self.port_text.of(self.raw).to_owned()),
            params: self
                .params()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect(),
            headers: self
                .headers()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect(),
            opaque: match self.scheme {
                SchemeKind::Other => Some(self.opaque().to_owned()),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Iterator over `;name[=value]` URI parameters.
#[derive(Clone, Debug)]
pub struct UriParams<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for UriParams<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest?;
        let (one, rest) = match find_byte(b';', s.as_bytes()) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        self.rest = rest;
        Some(match find_byte(b'=', one.as_bytes()) {
            Some(e) => (&one[..e], Some(&one[e + 1..])),
            None => (one, None),
        })
    }
}

/// Iterator over `name=value` URI headers; `None` for a header written without `=`.
#[derive(Clone, Debug)]
pub struct UriHeaders<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for UriHeaders<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest?;
        let (one, rest) = match find_byte(b'&', s.as_bytes()) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        self.rest = rest;
        Some(match find_byte(b'=', one.as_bytes()) {
            Some(e) => (&one[..e], Some(&one[e + 1..])),
            None => (one, None),
        })
    }
}

/// Decodes %-escapes; malformed escapes are kept literally.
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if find_byte(b'%', s).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && i + 2 < s.len()
            && let (Some(h), Some(l)) = (hex_value(s[i + 1]), hex_value(s[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// %-escapes a URI header value (RFC 3261 `hvalue`): everything outside unreserved and
/// hnv-unreserved, so `;`, `=`, `@` and `%` become escapes. Used to embed `Replaces` in a URI.
pub fn escape_uri_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for &b in value.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
            || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$');
        if keep {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// An owned URI whose parts can be replaced; `Display` re-serialises it. Parts are stored as
/// written (escaped), so an unmodified copy prints exactly the original text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriBuf {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The port as written ("05060"), reused while it still spells `port`.
    port_text: Option<String>,
    pub params: Vec<(String, Option<String>)>,
    /// (name, escaped value; `None` when written without `=`)
    pub headers: Vec<(String, Option<String>)>,
    /// For unknown schemes: everything after "scheme:".
    pub opaque: Option<String>,
}

impl UriBuf {
    /// A `sip:` URI with the given user (already escaped) and host.
    pub fn sip(user: Option<&str>, host: &str) -> UriBuf {
        UriBuf {
            scheme: "sip".to_owned(),
            user: user.map(str::to_owned),
            password: None,
            host: host.to_owned(),
            port: None,
            port_text: None,
            params: Vec::new(),
            headers: Vec::new(),
            opaque: None,
        }
    }

    /// Sets (replacing the first of that name, case-insensitive) or appends a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value.map(str::to_owned),
            None => self
                .params
                .push((name.to_owned(), value.map(str::to_owned))),
        }
        self
    }

    pub fn remove_param(&mut self, name: &str) -> &mut Self {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sets a URI header from its unescaped value (it is %-escaped here).
    pub fn set_header_unescaped(&mut self, name: &str, value: &str) -> &mut Self {
        let escaped = Some(escape_uri_header_value(value));
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = escaped,
            None => self.headers.push((name.to_owned(), escaped)),
        }
        self
    }

    pub fn remove_header(&mut self, name: &str) -> &mut Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
}

impl fmt::Display for UriBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        f.write_str(":")?;
        if let Some(opaque) = &self.opaque {
            return f.write_str(opaque);
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            if !self.scheme.eq_ignore_ascii_case("tel") {
                f.write_str("@")?;
            }
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            match &self.port_text {
                Some(text) if parse_port(text.as_bytes()) == Some(port) => write!(f, ":{text}")?,
                _ => write!(f, ":{port}")?,
            }
        }
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            match value {
                Some(v) => write!(f, "{sep}{name}={v}")?,
                None => write!(f, "{sep}{name}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sip_uri_parts() {
        let u =
            Uri::parse("sip:alice:pw@[2001:db8::1]:5070;transport=udp;lr?Subject=hi&X=1").unwrap();
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("pw"));
        assert_eq!(u.host(), "[2001:db8::1]");
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.param("TRANSPORT"), Some(Some("udp")));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.header("x"), Some("1"));
        assert_eq!(u.to_buf().to_string(), u.as_str());
    }

    #[test]
    fn replaces_header_unescapes_and_round_trips() {
        let raw = "sip:partner@host?Replaces=callid%3Bto-tag%3Dx%3Bfrom-tag%3Dy";
        let u = Uri::parse(raw).unwrap();
        assert_eq!(
            u.header_value_unescaped("replaces").as_deref(),
            Some("callid;to-tag=x;from-tag=y")
        );
        assert_eq!(u.to_buf().to_string(), raw);
        let mut b = u.to_buf();
        b.set_header_unescaped("Replaces", "callid;to-tag=x;from-tag=y");
        assert_eq!(b.to_string(), raw);
    }

    #[test]
    fn unusual_spellings_round_trip_exactly() {
        for raw in [
            "sip:h:05060",
            "sip:h?X",
            "sip:h?",
            "sip:u:@h",
            "tel:+1-555;ext=1?a=b&c",
            "SIP:Alice@H",
        ] {
            let u = Uri::parse(raw).unwrap();
            assert_eq!(u.to_buf().to_string(), raw);
        }
        let mut b = Uri::parse("sip:h:05060").unwrap().to_buf();
        b.port = Some(5070);
        assert_eq!(b.to_string(), "sip:h:5070");
    }

    #[test]
    fn rejects_bad_uris() {
        assert_eq!(Uri::parse("sip:a b@h"), Err(UriFault::Whitespace));
        assert_eq!(Uri::parse("<sip:h>"), Err(UriFault::Enclosed));
        assert_eq!(Uri::parse("sip:h:99999"), Err(UriFault::BadPort));
        assert_eq!(Uri::parse("sip:[::1"), Err(UriFault::UnterminatedIpv6));
        assert_eq!(Uri::parse("sip:u@"), Err(UriFault::MissingHost));
        assert_eq!(Uri::parse("sip:%4"), Err(UriFault::BadEscape));
    }

    #[test]
    fn empty_parameters_are_refused_only_between_host_and_headers() {
        for bad in [
            "sip:h;",
            "sip:h;;lr",
            "sip:h;=x",
            "sip:h;lr;",
            "sip:h;lr;?X=1",
            "sip:u;;x@h;lr;;",
            "tel:+1;;x",
            "tel:+1;",
        ] {
            assert_eq!(Uri::parse(bad), Err(UriFault::EmptyParam), "{bad}");
        }
        // ';;' in the userinfo or in ?headers is not a parameter.
        let u = Uri::parse("sip:u;;x@h;lr?X=a;;b").unwrap();
        assert_eq!(u.user(), Some("u;;x"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.header("X"), Some("a;;b"));
        let u = Uri::parse("sip:u:pw@h:5070;transport=udp").unwrap();
        assert_eq!(
            (u.password(), u.host(), u.port()),
            (Some("pw"), "h", Some(5070))
        );
        assert_eq!(u.to_buf().to_string(), "sip:u:pw@h:5070;transport=udp");
        assert_eq!(
            Uri::parse("x-foo:bar").unwrap().scheme(),
            Scheme::Other("x-foo")
        );
    }
}
