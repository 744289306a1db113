//! Typed header values: name-addr, Via, CSeq, Replaces, Target-Dialog, Event, ... All borrow the
//! message. Parsers return a [`Fault`]; the message accessors attach the header name.

use std::borrow::Cow;

use super::error::{Fault, UriFault};
use super::lex::{
    ascii_str, find_byte, is_lws, is_token, is_token_char, quoted_string_end, skip_lws, trim_lws,
};
use super::method::Method;
use super::uri::{HOST_CHARS, Uri, parse_port};

/// Header parameters (`;name[=value]` with optional LWS around `;` and `=`), already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

/// One header parameter. `value` is as written: a quoted value keeps its quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a [u8]>,
}

/// Spans of one lexed parameter: name, value (as written) and the index after it.
struct ParamSpan {
    name: (usize, usize),
    value: Option<(usize, usize)>,
    next: usize,
}

/// Lexes one `SWS ";" SWS name [SWS "=" SWS value]` starting at `i` (at `;` after optional
/// LWS). Works on spans so validation needs no UTF-8 conversions.
fn lex_param_span(s: &[u8], i: usize) -> Result<ParamSpan, Fault> {
    let mut i = skip_lws(s, i);
    if s.get(i) != Some(&b';') {
        return Err(Fault::BadParam);
    }
    i = skip_lws(s, i + 1);
    let name_start = i;
    while i < s.len() && is_token_char(s[i]) {
        i += 1;
    }
    if i == name_start {
        return Err(Fault::EmptyParam);
    }
    let name = (name_start, i);
    let j = skip_lws(s, i);
    if s.get(j) != Some(&b'=') {
        return Ok(ParamSpan {
            name,
            value: None,
            next: i,
        });
    }
    let v = skip_lws(s, j + 1);
    let end = match s.get(v) {
        Some(b'"') => quoted_string_end(s, v).ok_or(Fault::UnterminatedQuote)?,
        Some(b'[') => find_byte(b']', &s[v..])
            .map(|e| v + e + 1)
            .ok_or(Fault::BadParam)?,
        _ => {
            let mut e = v;
            while e < s.len() && (is_token_char(s[e]) || s[e] == b':') {
                e += 1;
            }
            if e == v {
                return Err(Fault::BadParam);
            }
            e
        }
    };
    Ok(ParamSpan {
        name,
        value: Some((v, end)),
        next: end,
    })
}

fn lex_param(s: &[u8], i: usize) -> Result<(Param<'_>, usize), Fault> {
    let span = lex_param_span(s, i)?;
    // Token characters are ASCII.
    let name = ascii_str(&s[span.name.0..span.name.1]).ok_or(Fault::BadParam)?;
    let value = span.value.map(|(a, b)| &s[a..b]);
    Ok((Param { name, value }, span.next))
}

/// Validates the parameters starting at `i` and returns them plus the index where they stop
/// (the first byte that is neither LWS nor part of a parameter).
fn parse_params(s: &[u8], i: usize) -> Result<(Params<'_>, usize), Fault> {
    let start = i;
    let mut i = i;
    loop {
        let j = skip_lws(s, i);
        if s.get(j) != Some(&b';') {
            return Ok((Params { raw: &s[start..i] }, j));
        }
        i = lex_param_span(s, j)?.next;
    }
}

impl<'a> Params<'a> {
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { s: self.raw, i: 0 }
    }
    /// `Some(None)` for a flag parameter, `Some(Some(value))` when it has a value.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        let s = self.raw;
        let mut i = 0;
        while let Ok(span) = lex_param_span(s, i) {
            if s[span.name.0..span.name.1].eq_ignore_ascii_case(name.as_bytes()) {
                return Some(span.value.map(|(a, b)| &s[a..b]));
            }
            i = span.next;
        }
        None
    }
    /// The value as text, quotes removed; `None` if absent, a flag, or not ASCII.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        let v = self.get(name)??;
        let v = if v.len() >= 2 && v[0] == b'"' {
            &v[1..v.len() - 1]
        } else {
            v
        };
        ascii_str(v)
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The parameters as written, starting at the first `;` (possibly after LWS).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;
    fn next(&mut self) -> Option<Param<'a>> {
        let (p, next) = lex_param(self.s, self.i).ok()?;
        self.i = next;
        Some(p)
    }
}

/// `name-addr` or `addr-spec` with header parameters (From, To, Contact, Route, Refer-To, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written: inside the quotes (escapes kept) or the bare tokens.
    pub display_name: Option<&'a [u8]>,
    pub uri: Uri<'a>,
    pub params: Params<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub angle_brackets: bool,
    /// Whether the display name was a quoted string.
    display_quoted: bool,
}

fn uri_in(s: &[u8]) -> Result<Uri<'_>, Fault> {
    // Uri::parse refuses non-ASCII bytes itself.
    let text = std::str::from_utf8(s).map_err(|_| Fault::Uri(UriFault::BadCharacter))?;
    Uri::parse(text).map_err(Fault::Uri)
}

impl<'a> NameAddr<'a> {
    /// Parses one element (already comma-split, if the header is a list).
    pub fn parse(value: &'a [u8]) -> Result<NameAddr<'a>, Fault> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err(Fault::Empty);
        }
        let (display_name, open) = if s[0] == b'"' {
            let end = quoted_string_end(s, 0).ok_or(Fault::UnterminatedQuote)?;
            let open = skip_lws(s, end);
            if s.get(open) != Some(&b'<') {
                return Err(Fault::UnclosedAngle);
            }
            (Some(&s[1..end - 1]), Some(open))
        } else {
            match find_byte(b'<', s) {
                Some(open) => {
                    let dn = trim_lws(&s[..open]);
                    if !dn.iter().all(|&b| is_token_char(b) || is_lws(b)) {
                        return Err(Fault::UnquotedDisplayName);
                    }
                    (if dn.is_empty() { None } else { Some(dn) }, Some(open))
                }
                None => (None, None),
            }
        };
        let (uri, after, angle) = match open {
            Some(open) => {
                let close = find_byte(b'>', &s[open..])
                    .map(|c| open + c)
                    .ok_or(Fault::UnclosedAngle)?;
                let inner = &s[open + 1..close];
                if inner.first().is_some_and(|&b| is_lws(b))
                    || inner.last().is_some_and(|&b| is_lws(b))
                {
                    return Err(Fault::SpaceInsideAngles);
                }
                (uri_in(inner)?, close + 1, true)
            }
            None => {
                // addr-spec: the URI ends at the first ';' or LWS; its ';' belong to the header.
                let end = s
                    .iter()
                    .position(|&b| b == b';' || is_lws(b))
                    .unwrap_or(s.len());
                let text = &s[..end];
                if text.contains(&b'?') || text.contains(&b',') {
                    return Err(Fault::UnenclosedUri);
                }
                (uri_in(text)?, end, false)
            }
        };
        let (params, stop) = parse_params(s, after)?;
        if stop != s.len() {
            return Err(Fault::Trailing(
                String::from_utf8_lossy(&s[stop..]).into_owned(),
            ));
        }
        Ok(NameAddr {
            display_name,
            uri,
            params,
            angle_brackets: angle,
            display_quoted: s[0] == b'"',
        })
    }

    /// The name-addr as a header value with the URI and/or the tag replaced; the display name
    /// and the other parameters are kept as written. The URI is always enclosed in `<>`.
    pub fn rewrite(&self, uri: Option<&str>, tag: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.params.as_bytes().len());
        if let Some(dn) = self.display_name {
            if self.display_quoted {
                out.push(b'"');
                out.extend_from_slice(dn);
                out.extend_from_slice(b"\" ");
            } else {
                out.extend_from_slice(dn);
                out.push(b' ');
            }
        }
        out.push(b'<');
        out.extend_from_slice(uri.unwrap_or(self.uri.as_str()).as_bytes());
        out.push(b'>');
        let mut tag_written = false;
        for p in self.params.iter() {
            out.push(b';');
            out.extend_from_slice(p.name.as_bytes());
            let value = match tag {
                Some(t) if p.name.eq_ignore_ascii_case("tag") => {
                    tag_written = true;
                    Some(t.as_bytes())
                }
                _ => p.value,
            };
            if let Some(v) = value {
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
        if let (Some(t), false) = (tag, tag_written) {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(t.as_bytes());
        }
        out
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.params.get_str("tag")
    }

    /// The display name with quoted-pair escapes removed.
    pub fn display_name_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        let dn = self.display_name?;
        if !dn.contains(&b'\\') {
            return Some(Cow::Borrowed(dn));
        }
        let mut out = Vec::with_capacity(dn.len());
        let mut i = 0;
        while i < dn.len() {
            if dn[i] == b'\\' && i + 1 < dn.len() {
                i += 1;
            }
            out.push(dn[i]);
            i += 1;
        }
        Some(Cow::Owned(out))
    }
}

/// One Via element (RFC 3261 section 20.42).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// "UDP", "TCP", "TLS", ... as written.
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

fn lex_token(s: &[u8], i: usize) -> (usize, usize) {
    let start = skip_lws(s, i);
    let mut e = start;
    while e < s.len() && is_token_char(s[e]) {
        e += 1;
    }
    (start, e)
}

fn expect_slash(s: &[u8], i: usize) -> Result<usize, Fault> {
    let j = skip_lws(s, i);
    if s.get(j) == Some(&b'/') {
        Ok(j + 1)
    } else {
        Err(Fault::BadSentProtocol)
    }
}

impl<'a> Via<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Via<'a>, Fault> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err(Fault::Empty);
        }
        let (ns, ne) = lex_token(s, 0);
        let i = expect_slash(s, ne)?;
        let (vs, ve) = lex_token(s, i);
        let i = expect_slash(s, ve)?;
        let (ts, te) = lex_token(s, i);
        if !s[ns..ne].eq_ignore_ascii_case(b"SIP") || &s[vs..ve] != b"2.0" || ts == te {
            return Err(Fault::BadSentProtocol);
        }
        let transport = ascii_str(&s[ts..te]).ok_or(Fault::BadSentProtocol)?;
        let hs = skip_lws(s, te);
        if hs == te {
            return Err(Fault::BadSentBy);
        }
        let mut he = hs;
        if s.get(hs) == Some(&b'[') {
            he = find_byte(b']', &s[hs..])
                .map(|c| hs + c + 1)
                .ok_or(Fault::BadSentBy)?;
        } else {
            while he < s.len() && HOST_CHARS[usize::from(s[he])] {
                he += 1;
            }
        }
        let host = ascii_str(&s[hs..he]).ok_or(Fault::BadSentBy)?;
        if host.is_empty() || (host.starts_with('[') && super::uri::parse_hostport(host).is_err()) {
            return Err(Fault::BadSentBy);
        }
        let mut i = he;
        let mut port = None;
        let j = skip_lws(s, i);
        if s.get(j) == Some(&b':') {
            let ps = skip_lws(s, j + 1);
            let mut pe = ps;
            while pe < s.len() && s[pe].is_ascii_digit() {
                pe += 1;
            }
            port = Some(parse_port(&s[ps..pe]).ok_or(Fault::BadSentBy)?);
            i = pe;
        }
        // The parameters, lexed once: the first rport, if it has a value, must be a port.
        let start = i;
        let mut rport_seen = false;
        let mut rport_bad = false;
        loop {
            let j = skip_lws(s, i);
            if s.get(j) != Some(&b';') {
                if j != s.len() {
                    return Err(Fault::Trailing(
                        String::from_utf8_lossy(&s[j..]).into_owned(),
                    ));
                }
                break;
            }
            let span = lex_param_span(s, j)?;
            if !rport_seen && s[span.name.0..span.name.1].eq_ignore_ascii_case(b"rport") {
                rport_seen = true;
                rport_bad = span
                    .value
                    .is_some_and(|(a, b)| parse_port(&s[a..b]).is_none());
            }
            i = span.next;
        }
        if rport_bad {
            return Err(Fault::BadParam);
        }
        Ok(Via {
            transport,
            host,
            port,
            params: Params { raw: &s[start..i] },
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.params.get_str("branch")
    }
    pub fn received(&self) -> Option<&'a str> {
        self.params.get_str("received")
    }
    /// `None`: no rport; `Some(None)`: rport requested (no value); `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(parse_port))
    }
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get_str("maddr")
    }
}

/// CSeq: sequence number and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method<'a>,
}

/// Largest CSeq number (RFC 3261 section 8.1.1.5: less than 2**31).
pub const MAX_CSEQ: u64 = (1 << 31) - 1;

impl<'a> CSeq<'a> {
    pub fn parse(value: &'a [u8]) -> Result<CSeq<'a>, Fault> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err(Fault::Empty);
        }
        let digits_end = s
            .iter()
            .position(|&b| !b.is_ascii_digit())
            .unwrap_or(s.len());
        let digits = &s[..digits_end];
        if digits.is_empty() {
            return Err(Fault::NotANumber(String::from_utf8_lossy(s).into_owned()));
        }
        let seq = super::lex::parse_decimal(digits)
            .filter(|&v| v <= MAX_CSEQ)
            .ok_or_else(|| Fault::TooLarge {
                value: String::from_utf8_lossy(digits).into_owned(),
                max: MAX_CSEQ,
            })?;
        let ms = skip_lws(s, digits_end);
        if ms == digits_end || ms == s.len() {
            return Err(Fault::MissingMethod);
        }
        let method = &s[ms..];
        if !is_token(method) {
            return Err(Fault::BadMethod);
        }
        let method = ascii_str(method).ok_or(Fault::BadMethod)?;
        Ok(CSeq {
            seq: seq as u32,
            method: Method::from_token(method),
        })
    }
}

/// Call-ID byte classes: 0 refused, 1 RFC 3261 `word` character, 2 '@'.
const fn call_id_class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c == b'@' {
            2
        } else if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'!'
                    | b'%'
                    | b'*'
                    | b'_'
                    | b'+'
                    | b'`'
                    | b'\''
                    | b'~'
                    | b'('
                    | b')'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'{'
                    | b'}'
            )
        {
            1
        } else {
            0
        };
        b += 1;
    }
    t
}

static CALL_ID_CLASS: [u8; 256] = call_id_class_table();

/// Validates a Call-ID: `word ["@" word]`, in one pass.
pub fn parse_call_id(value: &[u8]) -> Result<&str, Fault> {
    let s = trim_lws(value);
    if s.is_empty() || s[0] == b'@' || s[s.len() - 1] == b'@' {
        return Err(if s.is_empty() {
            Fault::Empty
        } else {
            Fault::BadCallId
        });
    }
    let mut ats = 0u32;
    for &b in s {
        let class = CALL_ID_CLASS[usize::from(b)];
        if class == 0 {
            return Err(Fault::BadCallId);
        }
        ats += u32::from(class == 2);
    }
    if ats > 1 {
        return Err(Fault::BadCallId);
    }
    // Every accepted byte is ASCII.
    std::str::from_utf8(s).map_err(|_| Fault::BadCallId)
}

/// Splits `callid *(SEMI param)` as used by Replaces and Target-Dialog.
fn dialog_id(value: &[u8]) -> Result<(&str, Params<'_>), Fault> {
    let s = trim_lws(value);
    let end = s
        .iter()
        .position(|&b| b == b';' || is_lws(b))
        .unwrap_or(s.len());
    let call_id = parse_call_id(&s[..end])?;
    let (params, stop) = parse_params(s, end)?;
    if stop != s.len() {
        return Err(Fault::Trailing(
            String::from_utf8_lossy(&s[stop..]).into_owned(),
        ));
    }
    Ok((call_id, params))
}

/// Replaces (RFC 3891): the dialog an INVITE is to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces<'a> {
    pub call_id: Cow<'a, str>,
    pub to_tag: Cow<'a, str>,
    pub from_tag: Cow<'a, str>,
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Replaces<'a>, Fault> {
        let (call_id, params) = dialog_id(value)?;
        let to_tag = params.get_str("to-tag").ok_or(Fault::BadParam)?;
        let from_tag = params.get_str("from-tag").ok_or(Fault::BadParam)?;
        Ok(Replaces {
            call_id: Cow::Borrowed(call_id),
            to_tag: Cow::Borrowed(to_tag),
            from_tag: Cow::Borrowed(from_tag),
            early_only: params.get("early-only").is_some(),
        })
    }

    /// Parses the unescaped value of a `?Replaces=` URI header (owned or borrowed).
    pub fn parse_cow(value: Cow<'a, str>) -> Result<Replaces<'a>, Fault> {
        match value {
            Cow::Borrowed(s) => Replaces::parse(s.as_bytes()),
            Cow::Owned(s) => Replaces::parse(s.as_bytes()).map(Replaces::into_owned),
        }
    }

    pub fn into_owned(self) -> Replaces<'static> {
        Replaces {
            call_id: Cow::Owned(self.call_id.into_owned()),
            to_tag: Cow::Owned(self.to_tag.into_owned()),
            from_tag: Cow::Owned(self.from_tag.into_owned()),
            early_only: self.early_only,
        }
    }

    /// The header value: `callid;to-tag=..;from-tag=..[;early-only]` (escape it with
    /// [`super::uri::escape_uri_header_value`] to embed it in a Refer-To URI).
    pub fn to_value(&self) -> String {
        let mut s = format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        );
        if self.early_only {
            s.push_str(";early-only");
        }
        s
    }
}

/// Target-Dialog (RFC 4538).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDialog<'a> {
    pub call_id: &'a str,
    pub local_tag: &'a str,
    pub remote_tag: &'a str,
}

impl<'a> TargetDialog<'a> {
    pub fn parse(value: &'a [u8]) -> Result<TargetDialog<'a>, Fault> {
        let (call_id, params) = dialog_id(value)?;
        Ok(TargetDialog {
            call_id,
            local_tag: params.get_str("local-tag").ok_or(Fault::BadParam)?,
            remote_tag: params.get_str("remote-tag").ok_or(Fault::BadParam)?,
        })
    }
}

/// `token *(SEMI param)`, the shape of Event and Subscription-State.
fn token_with_params(value: &[u8]) -> Result<(&str, Params<'_>), Fault> {
    let s = trim_lws(value);
    if s.is_empty() {
        return Err(Fault::Empty);
    }
    let end = s.iter().position(|&b| !is_token_char(b)).unwrap_or(s.len());
    let token = ascii_str(&s[..end])
        .filter(|t| !t.is_empty())
        .ok_or(Fault::NotAToken)?;
    let (params, stop) = parse_params(s, end)?;
    if stop != s.len() {
        return Err(Fault::Trailing(
            String::from_utf8_lossy(&s[stop..]).into_owned(),
        ));
    }
    Ok((token, params))
}

/// Event (RFC 6665): package ("refer") and optional id (the REFER's CSeq for implicit subscriptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub package: &'a str,
    pub id: Option<&'a str>,
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Event<'a>, Fault> {
        let (package, params) = token_with_params(value)?;
        Ok(Event {
            package,
            id: params.get_str("id"),
            params,
        })
    }
}

/// Subscription-State (RFC 6665): "active", "pending", "terminated" plus expires/reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    pub state: &'a str,
    pub expires: Option<u32>,
    pub reason: Option<&'a str>,
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    pub fn parse(value: &'a [u8]) -> Result<SubscriptionState<'a>, Fault> {
        let (state, params) = token_with_params(value)?;
        let expires = match params.get_str("expires") {
            Some(e) => Some(
                super::lex::parse_decimal(e.as_bytes())
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| Fault::NotANumber(e.to_owned()))?,
            ),
            None => None,
        };
        Ok(SubscriptionState {
            state,
            expires,
            reason: params.get_str("reason"),
            params,
        })
    }

    pub fn is_terminated(&self) -> bool {
        self.state.eq_ignore_ascii_case("terminated")
    }
}

/// Content-Type: `type/subtype *(;param)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType<'a> {
    pub main: &'a str,
    pub sub: &'a str,
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    pub fn parse(value: &'a [u8]) -> Result<MediaType<'a>, Fault> {
        let s = trim_lws(value);
        let (ms, me) = lex_token(s, 0);
        let j = skip_lws(s, me);
        if ms == me || s.get(j) != Some(&b'/') {
            return Err(Fault::NotAToken);
        }
        let (ss, se) = lex_token(s, j + 1);
        if ss == se {
            return Err(Fault::NotAToken);
        }
        let (params, stop) = parse_params(s, se)?;
        if stop != s.len() {
            return Err(Fault::Trailing(
                String::from_utf8_lossy(&s[stop..]).into_owned(),
            ));
        }
        Ok(MediaType {
            main: ascii_str(&s[ms..me]).ok_or(Fault::NotAToken)?,
            sub: ascii_str(&s[ss..se]).ok_or(Fault::NotAToken)?,
            params,
        })
    }

    /// Case-insensitive match against "type/subtype", parameters ignored.
    pub fn is(&self, essence: &str) -> bool {
        match essence.split_once('/') {
            Some((m, s)) => self.main.eq_ignore_ascii_case(m) && self.sub.eq_ignore_ascii_case(s),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let na = NameAddr::parse(b"\"A \\\"B\\\"\" <sip:a@h;lr>;tag=x ; q=0.5").unwrap();
        assert_eq!(na.display_name, Some(&b"A \\\"B\\\""[..]));
        assert_eq!(na.display_name_unescaped().unwrap().as_ref(), b"A \"B\"");
        assert_eq!(na.uri.param("lr"), Some(None));
        assert_eq!(na.tag(), Some("x"));
        assert_eq!(na.params.get_str("q"), Some("0.5"));
        assert_eq!(
            na.rewrite(Some("sip:b@k"), Some("y")),
            b"\"A \\\"B\\\"\" <sip:b@k>;tag=y;q=0.5"
        );
        let spec = NameAddr::parse(b"sip:a@h;tag=1").unwrap();
        assert_eq!(spec.rewrite(None, None), b"<sip:a@h>;tag=1");
        let plain = NameAddr::parse(b"Bob <sip:b@h>").unwrap();
        assert_eq!(plain.rewrite(None, Some("t1")), b"Bob <sip:b@h>;tag=t1");
        assert_eq!(spec.tag(), Some("1"));
        assert!(spec.uri.params().next().is_none());
        assert_eq!(NameAddr::parse(b"sip:a@h?X=1"), Err(Fault::UnenclosedUri));
        assert_eq!(
            NameAddr::parse(b"Bell, A <sip:a@h>"),
            Err(Fault::UnquotedDisplayName)
        );
    }

    #[test]
    fn via_with_rport_and_ipv6() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1;rport;received=[2001:db8::1]",
        )
        .unwrap();
        assert_eq!(v.host, "[2001:db8::9]");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("[2001:db8::1]"));
        assert_eq!(Via::parse(b"SIP/2.0/UDP h;;"), Err(Fault::EmptyParam));
    }

    #[test]
    fn replaces_and_cseq() {
        let r = Replaces::parse(b"abc@h;to-tag=t;from-tag=f;early-only").unwrap();
        assert_eq!(
            (&*r.call_id, &*r.to_tag, &*r.from_tag, r.early_only),
            ("abc@h", "t", "f", true)
        );
        assert_eq!(r.to_value(), "abc@h;to-tag=t;from-tag=f;early-only");
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
    }
}
