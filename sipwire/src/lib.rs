//! `sipwire`: a small SIP text codec for handoff's test agents, and the one test agent built on
//! it ([`agent`]).
//!
//! # Independent on purpose
//!
//! handoff's own SIP code (`handoff::sip`: zero-copy parser, edit list, builders) is the code under
//! test. When the agents that exercise handoff build and read their messages with that same code,
//! a bug on both sides cancels out: a header handoff writes wrong is read back "right" by the same
//! wrong parser, and the test passes. `sipwire` shares nothing with it: it was written from the
//! text of RFC 3261 section 7 (message format, header folding, compact forms, framing) and
//! section 20 (the header fields, their compact forms), not from `src/sip`, and it takes a
//! different shape on purpose (owned strings, a line-based reader, no typed header registry), so
//! a misreading in one is unlikely to be repeated in the other. It does not depend on handoff.
//!
//! # Why hand-written, not `rsip`
//!
//! `rsip` is the obvious third-party SIP crate. What `cargo info rsip` and its published
//! manifest showed when this crate was written: the newest release is 0.4.0, edition 2018, with
//! dependencies on superseded majors (`bstr` 0.2, `md-5` 0.9, `sha2` 0.9, `uuid` 0.8, `nom` 7)
//! and crates.io licence metadata "unknown" (a `license-file`; MIT in the tarball). It would
//! compile, but it would pull second copies of several crates into every test build, its typed
//! model would have to be worked around for the deliberately odd messages the tests send, and a
//! dependency frozen on those old majors is not one we could count on being kept up. The agents
//! need little: read a start line and
//! headers, find a few parameters, build a message with Content-Length right. That is a few
//! hundred lines we control and can read in one sitting, so a hand-written codec is the smaller
//! and more reviewable dependency.
//!
//! # What it does
//!
//! - [`Message::parse`] reads one datagram: the start line (request method, Request-URI and
//!   `SIP/2.0`; or `SIP/2.0`, status code and reason phrase), the header fields in order as
//!   (name, value) with compact forms expanded to full names (RFC 3261 section 7.3.3 and 20;
//!   `o`, `r`, `b`, `u` from RFC 3265, 3515 and 3892), continuation lines unfolded (section
//!   7.3.1), and the body framed by Content-Length (section 18.3: a datagram's extra octets after
//!   the body are dropped; without Content-Length the body runs to the end of the datagram).
//! - Lookups by name ignore case and accept compact forms: [`Message::header`] (first value),
//!   [`Message::headers_named`] (every header line), [`Message::values`] (every comma-separated
//!   element); helpers for the things agents ask: [`param`] and [`tag`], [`uri_of`], CSeq number
//!   and method, the top Via's branch, the first Contact URI; headers carried in a URI
//!   ([`uri_header`], [`escape_uri_header`]).
//! - [`Builder`] writes requests and responses: start line, headers in the order given,
//!   Content-Type for a body, Content-Length always computed.
//!
//! - [`agent`]: the one SIP test agent, a sans-IO user agent (UAC and UAS: transactions-lite
//!   with RFC 3261 retransmission timers, ACKs, dialogs, CSeq, automatic answers). Datagrams
//!   and a time value in; datagrams to send, wake-up deadlines and events out; no socket, no
//!   clock. Every driver of handoff's tests runs it: the simulation (`handoff::sim`, virtual
//!   clock and network), `handoff demo` and the end-to-end tests (`handoff::demo::agent`, UDP in
//!   the release binary), and the real-binary tests (`tests/runtime_support/ua.rs`, which script
//!   each message by hand with the agent's constructors and readers). One agent instead of three
//!   near-copies means one place where the agents' reading of RFC 3261 can be wrong, tested by
//!   its own unit tests written from the RFC's text.
//!
//! # The agent is on this side of the line too
//!
//! The agent is independent of handoff for the same reason as the codec: it decides what a
//! correct ACK, response, CSeq or retransmission looks like, and a test passes when handoff
//! agrees with it. Were it built from handoff's `sip`, `sdp` or `transfer` modules, a
//! misreading of the RFC there would be made on both sides and stay invisible. So it uses
//! nothing of handoff (this crate has no dependency on it), and what scripts expect in
//! Replaces, Target-Dialog or Refer-To values are literal strings from the RFCs' examples in
//! the scripts, never produced by handoff's code.
//!
//! It is lenient where the agents must not get stuck (unknown headers, odd tokens) and strict only
//! where a message cannot be read: a bad start line, a header line without a colon, a
//! Content-Length that is not a number or is larger than the body.

use std::fmt;

/// Compact header names (RFC 3261 section 7.3.3 / 20, plus RFC 3265, 3515, 3892) and their full
/// forms.
const COMPACT: &[(char, &str)] = &[
    ('i', "Call-ID"),
    ('f', "From"),
    ('t', "To"),
    ('v', "Via"),
    ('m', "Contact"),
    ('l', "Content-Length"),
    ('c', "Content-Type"),
    ('k', "Supported"),
    ('e', "Content-Encoding"),
    ('s', "Subject"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('b', "Referred-By"),
    ('u', "Allow-Events"),
];

/// The full name of a header: a one-letter compact form is expanded, any other name is returned
/// as given.
pub fn full_name(name: &str) -> &str {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT.iter().find(|(short, _)| *short == c) {
            return full;
        }
    }
    name
}

/// Whether two header names name the same header (case-insensitive, compact forms expanded).
pub fn same_name(a: &str, b: &str) -> bool {
    full_name(a.trim()).eq_ignore_ascii_case(full_name(b.trim()))
}

/// Why a datagram could not be read as a SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// The start line is neither `METHOD URI SIP/2.0` nor `SIP/2.0 NNN reason`.
    StartLine(String),
    /// The header section does not end with an empty line.
    NoEndOfHeaders,
    /// A header line without a colon or with an empty name.
    HeaderLine(String),
    /// Content-Length is not a non-negative number.
    ContentLength(String),
    /// Content-Length is larger than what follows the headers.
    Truncated { declared: usize, available: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty datagram"),
            ParseError::StartLine(line) => write!(f, "bad start line: {line:?}"),
            ParseError::NoEndOfHeaders => write!(f, "header section does not end"),
            ParseError::HeaderLine(line) => write!(f, "bad header line: {line:?}"),
            ParseError::ContentLength(value) => write!(f, "bad Content-Length: {value:?}"),
            ParseError::Truncated {
                declared,
                available,
            } => write!(
                f,
                "Content-Length {declared} but only {available} body bytes"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

/// One SIP message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Header fields in order of appearance, compact names expanded, values unfolded and trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Position of the first `\r\n\r\n` or `\n\n` (end of headers) and the length of that separator.
fn end_of_headers(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes.get(i + 1) == Some(&b'\n') {
                return Some((i, 2));
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::StartLine(line.to_string());
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line.split_once(' ').ok_or_else(bad)?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(bad());
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&status) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_string(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !is_token(method) || uri.is_empty() || !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

impl Message {
    /// Read one datagram (see the crate documentation for what is accepted).
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        // RFC 3261 section 7.5: CRLFs before the start line are ignored.
        let start = datagram
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .ok_or(ParseError::Empty)?;
        let bytes = &datagram[start..];
        let (head_end, separator) = end_of_headers(bytes).ok_or(ParseError::NoEndOfHeaders)?;
        let head = text(&bytes[..head_end]);
        let rest = &bytes[head_end + separator..];
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start = parse_start_line(lines.next().unwrap_or_default())?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // Folded continuation (section 7.3.1): joined with one space.
                let Some((_, value)) = headers.last_mut() else {
                    return Err(ParseError::HeaderLine(line.to_string()));
                };
                let more = line.trim();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ParseError::HeaderLine(line.to_string()));
            };
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(ParseError::HeaderLine(line.to_string()));
            }
            headers.push((full_name(name).to_string(), value.trim().to_string()));
        }
        let mut message = Message {
            start,
            headers,
            body: Vec::new(),
        };
        message.body = match message.header("Content-Length") {
            None => rest.to_vec(),
            Some(value) => {
                let declared: usize = value
                    .parse()
                    .map_err(|_| ParseError::ContentLength(value.to_string()))?;
                if declared > rest.len() {
                    return Err(ParseError::Truncated {
                        declared,
                        available: rest.len(),
                    });
                }
                rest[..declared].to_vec()
            }
        };
        Ok(message)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request's method, as written.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI.
    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The value of the first header named `name` (case-insensitive, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of every header line named `name`, in order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| same_name(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// Every comma-separated element of every header line named `name` (for list headers such as
    /// Via, Contact, Route, Supported; not for Date or the authentication headers).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers_named(name).flat_map(split_list).collect()
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// CSeq number and method (section 20.16). `None` unless the number fits in 32 bits.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let value = self.header("CSeq")?;
        let mut parts = value.split_whitespace();
        let seq = parts.next()?.parse().ok()?;
        let method = parts.next()?;
        parts.next().is_none().then_some((seq, method))
    }

    /// The topmost Via value (first element of the first Via line).
    pub fn top_via(&self) -> Option<&str> {
        self.values("Via").into_iter().next()
    }

    /// The top Via's `branch` parameter.
    pub fn via_branch(&self) -> Option<&str> {
        param(self.top_via()?, "branch")
    }

    pub fn from_tag(&self) -> Option<&str> {
        tag(self.header("From")?)
    }

    pub fn to_tag(&self) -> Option<&str> {
        tag(self.header("To")?)
    }

    /// The URI of the first Contact (without angle brackets or header parameters).
    pub fn contact_uri(&self) -> Option<&str> {
        let first = self.values("Contact").into_iter().next()?;
        Some(uri_of(first))
    }

    /// The message as bytes, headers as stored (Content-Length as parsed, if any).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}\r\n"),
        };
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Scan `s` outside quoted strings and angle brackets; `f(index, byte)` sees only top-level bytes.
fn scan_top_level(s: &str, mut f: impl FnMut(usize, u8) -> bool) {
    let bytes = s.as_bytes();
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if in_angle {
            if b == b'>' {
                in_angle = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b'<' {
            in_angle = true;
        } else if !f(i, b) {
            return;
        }
        i += 1;
    }
}

/// Split a header value at top-level commas (not inside quotes or `<...>`), elements trimmed,
/// empty ones dropped.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut cuts = Vec::new();
    scan_top_level(value, |i, b| {
        if b == b',' {
            cuts.push(i);
        }
        true
    });
    let mut parts = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain(std::iter::once(value.len())) {
        let part = value[from..cut].trim();
        if !part.is_empty() {
            parts.push(part);
        }
        from = cut + 1;
    }
    parts
}

/// The header parameters of one header value (after `>` of a name-addr, or after the first `;`
/// of an addr-spec or a Via), as trimmed (name, value) pairs; a parameter without `=` has value
/// `""`.
pub fn params(value: &str) -> Vec<(&str, &str)> {
    let mut semis = Vec::new();
    scan_top_level(value, |i, b| {
        if b == b';' {
            semis.push(i);
        }
        true
    });
    let mut out = Vec::new();
    for (k, start) in semis.iter().enumerate() {
        let end = semis.get(k + 1).copied().unwrap_or(value.len());
        let piece = &value[start + 1..end];
        let (name, val) = piece.split_once('=').unwrap_or((piece, ""));
        let name = name.trim();
        if !name.is_empty() {
            out.push((name, val.trim().trim_matches('"')));
        }
    }
    out
}

/// The value of header parameter `name` (case-insensitive) in one header value.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    params(value)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The `tag` parameter of a From or To value.
pub fn tag(value: &str) -> Option<&str> {
    param(value, "tag").filter(|t| !t.is_empty())
}

/// The URI in a name-addr (`"Name" <uri>;params` -> `uri`) or addr-spec (`uri;params` -> `uri`).
pub fn uri_of(value: &str) -> &str {
    let mut open = None;
    let mut in_quotes = false;
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => {
                open = Some(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(open) = open {
        let inner = &value[open + 1..];
        return inner.split_once('>').map_or(inner, |(uri, _)| uri).trim();
    }
    value.split(';').next().unwrap_or_default().trim()
}

/// The value of header `name` carried in a SIP URI's headers component (`sip:u@h?Name=value&...`,
/// RFC 3261 section 19.1.1), %-escapes decoded. `uri` may be a name-addr (`<...>`).
pub fn uri_header(uri: &str, name: &str) -> Option<String> {
    let uri = uri_of(uri);
    let (_, headers) = uri.split_once('?')?;
    headers.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        same_name(&unescape(n), name).then(|| unescape(v))
    })
}

/// %-decode (`%3B` -> `;`); a `%` not followed by two hex digits is kept as is.
pub fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// %-escape a value for a URI's headers component: everything but `hnv-unreserved` and
/// `unreserved` characters (RFC 3261 section 25.1) is escaped.
pub fn escape_uri_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes a request or a response: start line, headers in the order given, then Content-Type (for
/// a body) and a computed Content-Length. A Content-Length given as a header is dropped.
#[derive(Clone, Debug)]
pub struct Builder {
    start: StartLine,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl Builder {
    pub fn request(method: &str, uri: &str) -> Builder {
        Builder {
            start: StartLine::Request {
                method: method.to_string(),
                uri: uri.to_string(),
            },
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn response(status: u16, reason: &str) -> Builder {
        Builder {
            start: StartLine::Response {
                status,
                reason: reason.to_string(),
            },
            headers: Vec::new(),
            body: None,
        }
    }

    /// A response to `request` (RFC 3261 section 8.2.6.2): every Via in order, and the first From,
    /// To, Call-ID and CSeq, copied.
    pub fn response_to(request: &Message, status: u16, reason: &str) -> Builder {
        let mut builder = Builder::response(status, reason);
        for (name, value) in &request.headers {
            let copy = if same_name(name, "Via") {
                true
            } else {
                ["From", "To", "Call-ID", "CSeq"]
                    .iter()
                    .any(|n| same_name(n, name))
                    && !builder.headers.iter().any(|(had, _)| same_name(had, name))
            };
            if copy {
                builder.headers.push((name.clone(), value.clone()));
            }
        }
        builder
    }

    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Builder {
        if !same_name(name, "Content-Length") {
            self.headers
                .push((name.to_string(), value.as_ref().to_string()));
        }
        self
    }

    /// Add `;tag=` to the To header unless it has a tag already.
    pub fn to_tag(mut self, new_tag: &str) -> Builder {
        if let Some((_, value)) = self.headers.iter_mut().find(|(n, _)| same_name(n, "To"))
            && tag(value).is_none()
        {
            value.push_str(";tag=");
            value.push_str(new_tag);
        }
        self
    }

    /// A body with its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl AsRef<[u8]>) -> Builder {
        self.body = Some((content_type.to_string(), body.as_ref().to_vec()));
        self
    }

    pub fn build(self) -> Vec<u8> {
        let mut headers = self.headers;
        let body = match self.body {
            Some((content_type, body)) => {
                headers.push(("Content-Type".to_string(), content_type));
                body
            }
            None => Vec::new(),
        };
        headers.push(("Content-Length".to_string(), body.len().to_string()));
        Message {
            start: self.start,
            headers,
            body,
        }
        .to_bytes()
    }
}

#[cfg(test)]
mod tests;

pub mod agent;
