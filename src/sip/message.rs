//! The zero-copy SIP message: start line, an inline header index and the body, all borrowing
//! the datagram.

use super::error::{Fault, ParseError, UriFault};
use super::header::{Header, HeaderName};
use super::lex::{CommaSplit, ascii_str, is_token, is_token_char, is_wsp, parse_decimal, trim_lws};
use super::method::Method;
use super::uri::{Scheme, Uri};
use super::values::{
    CSeq, Event, MediaType, NameAddr, Replaces, SubscriptionState, TargetDialog, Via, parse_call_id,
};
use crate::vocab::StatusCode;

/// Most header lines a message may have; more is rejected ("too many headers").
pub const MAX_HEADERS: usize = 64;

/// Largest Max-Forwards value (RFC 3261 section 20.22 makes it 0-255 in practice).
const MAX_MAX_FORWARDS: u64 = 255;

/// Largest message accepted: the largest UDP payload. Offsets in the header index are `u16`,
/// which keeps the whole [`Message`] small enough to move cheaply.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Byte offsets of one header line inside the message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// First byte of the line (= first byte of the name).
    pub(crate) line_start: u16,
    pub(crate) name_end: u16,
    pub(crate) value_start: u16,
    pub(crate) value_end: u16,
    /// Just past the line's final LF (continuation lines included).
    pub(crate) line_end: u16,
    pub(crate) kind: HeaderName,
}

/// Slots past `count` are never read. All zero bytes (`Via` is discriminant 0), so filling the
/// index is a memset rather than a loop.
const EMPTY_SLOT: Slot = Slot {
    line_start: 0,
    name_end: 0,
    value_start: 0,
    value_end: 0,
    line_end: 0,
    kind: HeaderName::Via,
};

#[derive(Clone, Copy, Debug)]
pub(crate) enum StartLine<'a> {
    Request {
        method: Method<'a>,
        uri: Uri<'a>,
    },
    Response {
        status: StatusCode,
        reason: &'a [u8],
    },
}

/// A parsed SIP message borrowing its datagram.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// From the start line to the end of the body (trailing datagram bytes excluded).
    bytes: &'a [u8],
    start: StartLine<'a>,
    /// Just past the start line's LF.
    first_header: u16,
    slots: [Slot; MAX_HEADERS],
    count: u8,
    body_start: u16,
    content_length_conflict: Option<(u64, u64)>,
    /// Values parsed while validating, so the hot accessors do not parse twice. Empty after
    /// [`Message::parse_framing`].
    cache: Cache<'a>,
}

/// First occurrences of the headers every transaction reads.
#[derive(Clone, Debug, Default)]
struct Cache<'a> {
    from: Option<NameAddr<'a>>,
    to: Option<NameAddr<'a>>,
    top_via: Option<Via<'a>>,
    call_id: Option<&'a str>,
    cseq: Option<CSeq<'a>>,
}

/// Index of the first LF. Header lines are a few dozen bytes, where `memchr::memchr`'s per-call
/// CPU-feature dispatch costs more than the search: SSE2 is always there on x86_64.
#[inline]
fn find_lf(hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(sse2) = memchr::arch::x86_64::sse2::memchr::One::new(b'\n') {
        return sse2.find(hay);
    }
    memchr::memchr(b'\n', hay)
}

/// (end of line content without CR, index after LF)
#[inline]
fn line_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let nl = pos + find_lf(&buf[pos..])?;
    let end = if nl > pos && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

fn is_sip_version(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"SIP/2.0")
}

fn version_error(v: &[u8]) -> ParseError {
    ParseError::UnsupportedVersion(String::from_utf8_lossy(v).into_owned())
}

fn parse_request_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::BadRequestLine("has no spaces"))?;
    let sp_last = memchr::memrchr(b' ', line).unwrap_or(sp1);
    if sp1 == sp_last {
        return Err(ParseError::BadRequestLine("has no SIP version"));
    }
    let method = &line[..sp1];
    if !is_token(method) {
        return Err(ParseError::BadRequestLine("has a malformed method"));
    }
    let version = &line[sp_last + 1..];
    if version.is_empty() {
        return Err(ParseError::BadRequestLine("ends with whitespace"));
    }
    if !is_sip_version(version) {
        return Err(
            if version.len() >= 4 && version[..4].eq_ignore_ascii_case(b"SIP/") {
                version_error(version)
            } else {
                ParseError::BadRequestLine("has a malformed SIP version")
            },
        );
    }
    let uri = &line[sp1 + 1..sp_last];
    if uri.is_empty() || uri[0] == b' ' || uri[uri.len() - 1] == b' ' {
        return Err(ParseError::BadRequestLine(
            "separates its elements with more than one space",
        ));
    }
    if memchr::memchr2(b' ', b'\t', uri).is_some() {
        return Err(ParseError::BadRequestUri(UriFault::Whitespace));
    }
    // Uri::parse refuses non-ASCII bytes itself.
    let uri_text =
        std::str::from_utf8(uri).map_err(|_| ParseError::BadRequestUri(UriFault::BadCharacter))?;
    let uri = Uri::parse(uri_text).map_err(ParseError::BadRequestUri)?;
    if matches!(uri.scheme(), Scheme::Sip | Scheme::Sips) && uri.headers().next().is_some() {
        return Err(ParseError::BadRequestUri(UriFault::HeadersInRequestUri));
    }
    // The method is a token, hence ASCII.
    let method = ascii_str(method).ok_or(ParseError::BadRequestLine("has a malformed method"))?;
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri,
    })
}

pub(crate) fn parse_status_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::BadStatusLine("has no status code"))?;
    if !is_sip_version(&line[..sp1]) {
        return Err(version_error(&line[..sp1]));
    }
    let rest = &line[sp1 + 1..];
    let code_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let code = &rest[..code_end];
    let status = match code {
        // Three digits, the first 1-6 (RFC 3261 section 7.2): always a `StatusCode`.
        [a @ b'1'..=b'6', b, c] if b.is_ascii_digit() && c.is_ascii_digit() => StatusCode::new(
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
        )
        .map_err(|_| ParseError::BadStatusCode(String::from_utf8_lossy(code).into_owned()))?,
        _ => {
            return Err(ParseError::BadStatusCode(
                String::from_utf8_lossy(code).into_owned(),
            ));
        }
    };
    let reason = if code_end < rest.len() {
        &rest[code_end + 1..]
    } else {
        &rest[code_end..]
    };
    if reason.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Err(ParseError::BadStatusLine(
            "has control characters in the reason phrase",
        ));
    }
    Ok(StartLine::Response { status, reason })
}

/// Parses a header value as a decimal with an upper bound, naming the header on failure.
fn bounded_decimal(header: HeaderName, value: &[u8], max: u64) -> Result<u64, ParseError> {
    let v = trim_lws(value);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::header(
            header,
            Fault::NotANumber(String::from_utf8_lossy(v).into_owned()),
        ));
    }
    parse_decimal(v).filter(|&n| n <= max).ok_or_else(|| {
        ParseError::header(
            header,
            Fault::TooLarge {
                value: String::from_utf8_lossy(v).into_owned(),
                max,
            },
        )
    })
}

impl<'a> Message<'a> {
    /// Parses one SIP message from a datagram. Never panics.
    ///
    /// Checks the framing (start line, header lines, Content-Length against the body; octets
    /// after Content-Length are ignored) and the headers every element interprets: each From,
    /// To, Call-ID, CSeq (whose method must match the request's), Max-Forwards, Via and Contact.
    /// Messages longer than [`MAX_MESSAGE_LEN`] are refused.
    /// Duplicates of single-valued headers are left to the accessors, which report them.
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Message::parse_with(datagram, true)
    }

    /// Framing only: start line, header lines and Content-Length; header values unchecked.
    #[inline]
    pub fn parse_framing(datagram: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Message::parse_with(datagram, false)
    }

    /// One body for both entry points, building the message once in place: the index is
    /// large, and every move of a `Message` is a copy of it.
    #[inline(always)]
    fn parse_with(datagram: &'a [u8], validate: bool) -> Result<Message<'a>, ParseError> {
        // RFC 3261 7.5: ignore CRLFs before the start line.
        let lead = datagram
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(datagram.len());
        let buf = &datagram[lead..];
        if buf.is_empty() {
            return Err(ParseError::Empty);
        }
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(ParseError::TooLong {
                len: buf.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let (start_end, first_header) = line_at(buf, 0).ok_or(ParseError::UnterminatedStartLine)?;
        let start_line = &buf[..start_end];
        let start = if start_line.len() >= 4 && start_line[..4].eq_ignore_ascii_case(b"SIP/") {
            parse_status_line(start_line)?
        } else {
            parse_request_line(start_line)?
        };

        let mut slots = [EMPTY_SLOT; MAX_HEADERS];
        let mut count = 0usize;
        let mut pos = first_header;
        let mut line_no = 1usize;
        let body_start = loop {
            line_no += 1;
            let (end, next) = line_at(buf, pos).ok_or(ParseError::MissingHeaderEnd)?;
            if end == pos {
                break next;
            }
            if is_wsp(buf[pos]) {
                // Folded continuation of the previous header.
                let Some(slot) = count.checked_sub(1).map(|i| &mut slots[i]) else {
                    return Err(ParseError::BadHeaderLine {
                        line: line_no,
                        fault: "starts with whitespace",
                    });
                };
                let content = &buf[pos..end];
                if let Some(first) = content.iter().position(|&b| !is_wsp(b)) {
                    let last = content.iter().rposition(|&b| !is_wsp(b)).unwrap_or(first);
                    if slot.value_start == slot.value_end {
                        slot.value_start = (pos + first) as u16;
                    }
                    slot.value_end = (pos + last + 1) as u16;
                }
                slot.line_end = next as u16;
                pos = next;
                continue;
            }
            let line = &buf[pos..end];
            // One pass: the name is a token, then optional whitespace, then the colon.
            let mut name_end = 0;
            while name_end < line.len() && is_token_char(line[name_end]) {
                name_end += 1;
            }
            let mut colon = name_end;
            while colon < line.len() && is_wsp(line[colon]) {
                colon += 1;
            }
            if name_end == 0 || line.get(colon) != Some(&b':') {
                let fault = if memchr::memchr(b':', line).is_none() {
                    "has no colon"
                } else {
                    "has an invalid header name"
                };
                return Err(ParseError::BadHeaderLine {
                    line: line_no,
                    fault,
                });
            }
            let name = &line[..name_end];
            let mut vs = colon + 1;
            while vs < line.len() && is_wsp(line[vs]) {
                vs += 1;
            }
            let mut ve = line.len();
            while ve > vs && is_wsp(line[ve - 1]) {
                ve -= 1;
            }
            if count == MAX_HEADERS {
                return Err(ParseError::TooManyHeaders { limit: MAX_HEADERS });
            }
            slots[count] = Slot {
                line_start: pos as u16,
                name_end: (pos + name_end) as u16,
                value_start: (pos + vs) as u16,
                value_end: (pos + ve) as u16,
                line_end: next as u16,
                kind: HeaderName::from_bytes(name),
            };
            count += 1;
            pos = next;
        };

        // Content-Length: every occurrence must be a number; disagreeing ones leave the body
        // length unknown (a validated parse refuses them below; after framing-only parsing the
        // accessor reports the conflict).
        let mut declared: Option<u64> = None;
        let mut conflict = None;
        for slot in slots[..count]
            .iter()
            .filter(|s| s.kind == HeaderName::ContentLength)
        {
            let value = &buf[slot.value_start as usize..slot.value_end as usize];
            let n = bounded_decimal(HeaderName::ContentLength, value, u64::from(u32::MAX))?;
            match declared {
                None => declared = Some(n),
                Some(first) if first != n && conflict.is_none() => conflict = Some((first, n)),
                Some(_) => {}
            }
        }
        let available = buf.len() - body_start;
        let body_end = match (declared, conflict) {
            (Some(n), None) => {
                if n > available as u64 {
                    return Err(ParseError::ContentLengthExceedsBody {
                        declared: n,
                        actual: available,
                    });
                }
                body_start + n as usize
            }
            _ => buf.len(),
        };

        // RFC 4475 section 3.3.9: conflicting Content-Length values are, "from a framing
        // perspective, ... equivalent to an invalid Content-Length value", and "An element
        // receiving this message should respond with an error." A validated parse refuses
        // them like any other bad Content-Length; framing-only parsing keeps going.
        if validate && let Some((first, second)) = conflict {
            return Err(ParseError::ConflictingContentLength { first, second });
        }
        let cache = if validate {
            let method = match start {
                StartLine::Request { method, .. } => Some(method),
                StartLine::Response { .. } => None,
            };
            check_core_headers(buf, &slots[..count], method)?
        } else {
            Cache::default()
        };
        Ok(Message {
            bytes: &buf[..body_end],
            start,
            first_header: first_header as u16,
            slots,
            count: count as u8,
            body_start: body_start as u16,
            content_length_conflict: conflict,
            cache,
        })
    }

    #[inline]
    fn slots(&self) -> &[Slot] {
        &self.slots[..usize::from(self.count)]
    }

    #[inline]
    fn value_of(&self, slot: &Slot) -> &'a [u8] {
        &self.bytes[slot.value_start as usize..slot.value_end as usize]
    }

    pub(crate) fn raw_slots(&self) -> &[Slot] {
        self.slots()
    }

    /// Index just past the start line.
    pub(crate) fn first_header_offset(&self) -> usize {
        self.first_header as usize
    }

    /// The whole message: start line to the end of the body (trailing datagram bytes excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Uri<'a>> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The start line without its CRLF.
    pub fn start_line(&self) -> &'a [u8] {
        let end = self.first_header as usize;
        trim_crlf(&self.bytes[..end])
    }

    /// All header lines in order, unknown ones included.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + '_ {
        let bytes = self.bytes;
        self.slots().iter().map(move |s| Header {
            // Names were checked to be tokens, so they are ASCII.
            name: ascii_str(&bytes[s.line_start as usize..s.name_end as usize]).unwrap_or(""),
            value: &bytes[s.value_start as usize..s.value_end as usize],
            kind: s.kind,
        })
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        usize::from(self.count)
    }

    /// The value of the first header of this kind (compact forms match).
    pub fn header(&self, name: HeaderName) -> Option<&'a [u8]> {
        self.slots()
            .iter()
            .find(|s| s.kind == name)
            .map(|s| self.value_of(s))
    }

    /// The value of the first header with this name (case-insensitive, compact forms match for
    /// known headers). For headers without a [`HeaderName`].
    pub fn header_by_name(&self, name: &str) -> Option<&'a [u8]> {
        let kind = HeaderName::from_bytes(name.as_bytes());
        if kind != HeaderName::Other {
            return self.header(kind);
        }
        self.headers()
            .find(|h| h.kind == HeaderName::Other && h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Values of every line of this header, in order (not comma-split).
    pub fn header_lines(&self, name: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.slots()
            .iter()
            .filter(move |s| s.kind == name)
            .map(|s| self.value_of(s))
    }

    /// All values of a list header, split at commas across all its lines (never inside quotes
    /// or `<>`); empty elements are skipped.
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.header_lines(name)
            .flat_map(CommaSplit::new)
            .filter(|v| !v.is_empty())
    }

    /// The value of a header that must appear exactly once.
    fn single(&self, name: HeaderName) -> Result<&'a [u8], ParseError> {
        let mut lines = self.header_lines(name);
        let first = lines.next().ok_or(ParseError::MissingHeader(name))?;
        if lines.next().is_some() {
            return Err(ParseError::DuplicateHeader(name));
        }
        Ok(first)
    }

    /// The value of a header that may appear at most once.
    fn optional(&self, name: HeaderName) -> Result<Option<&'a [u8]>, ParseError> {
        match self.single(name) {
            Ok(v) => Ok(Some(v)),
            Err(ParseError::MissingHeader(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn name_addrs(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.header_lines(name)
            .flat_map(CommaSplit::new)
            .map(move |element| {
                if element.is_empty() {
                    return Err(ParseError::header(name, Fault::EmptyElement));
                }
                NameAddr::parse(element).map_err(|f| ParseError::header(name, f))
            })
    }

    /// Each Via element, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ParseError>> + '_ {
        self.header_lines(HeaderName::Via)
            .flat_map(CommaSplit::new)
            .map(|element| {
                if element.is_empty() {
                    return Err(ParseError::header(HeaderName::Via, Fault::EmptyElement));
                }
                Via::parse(element).map_err(|f| ParseError::header(HeaderName::Via, f))
            })
    }

    pub fn top_via(&self) -> Result<Via<'a>, ParseError> {
        if let Some(via) = self.cache.top_via {
            return Ok(via);
        }
        self.vias()
            .next()
            .unwrap_or(Err(ParseError::MissingHeader(HeaderName::Via)))
    }

    /// From (exactly one).
    pub fn from(&self) -> Result<NameAddr<'a>, ParseError> {
        let value = self.single(HeaderName::From)?;
        match self.cache.from {
            Some(from) => Ok(from),
            None => NameAddr::parse(value).map_err(|f| ParseError::header(HeaderName::From, f)),
        }
    }

    /// To (exactly one).
    pub fn to(&self) -> Result<NameAddr<'a>, ParseError> {
        let value = self.single(HeaderName::To)?;
        match self.cache.to {
            Some(to) => Ok(to),
            None => NameAddr::parse(value).map_err(|f| ParseError::header(HeaderName::To, f)),
        }
    }

    /// Call-ID (exactly one).
    pub fn call_id(&self) -> Result<&'a str, ParseError> {
        let value = self.single(HeaderName::CallId)?;
        match self.cache.call_id {
            Some(call_id) => Ok(call_id),
            None => parse_call_id(value).map_err(|f| ParseError::header(HeaderName::CallId, f)),
        }
    }

    /// CSeq (exactly one).
    pub fn cseq(&self) -> Result<CSeq<'a>, ParseError> {
        let value = self.single(HeaderName::CSeq)?;
        match self.cache.cseq {
            Some(cseq) => Ok(cseq),
            None => CSeq::parse(value).map_err(|f| ParseError::header(HeaderName::CSeq, f)),
        }
    }

    /// Contact elements (a REGISTER's `Contact: *` is an error here; see [`Message::is_contact_wildcard`]).
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Contact)
    }

    pub fn is_contact_wildcard(&self) -> bool {
        self.header(HeaderName::Contact)
            .is_some_and(|v| trim_lws(v) == b"*")
    }

    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Route)
    }

    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.name_addrs(HeaderName::RecordRoute)
    }

    pub fn p_asserted_identities(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.name_addrs(HeaderName::PAssertedIdentity)
    }

    /// `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        match self.optional(HeaderName::MaxForwards)? {
            Some(v) => Ok(Some(
                bounded_decimal(HeaderName::MaxForwards, v, MAX_MAX_FORWARDS)? as u32,
            )),
            None => Ok(None),
        }
    }

    pub fn content_type(&self) -> Result<Option<MediaType<'a>>, ParseError> {
        match self.optional(HeaderName::ContentType)? {
            Some(v) => MediaType::parse(v)
                .map(Some)
                .map_err(|f| ParseError::header(HeaderName::ContentType, f)),
            None => Ok(None),
        }
    }

    /// The declared Content-Length (`None` when absent; an error when values disagree).
    pub fn content_length(&self) -> Result<Option<u64>, ParseError> {
        if let Some((first, second)) = self.content_length_conflict {
            return Err(ParseError::ConflictingContentLength { first, second });
        }
        match self.header(HeaderName::ContentLength) {
            Some(v) => Ok(Some(bounded_decimal(
                HeaderName::ContentLength,
                v,
                u64::from(u32::MAX),
            )?)),
            None => Ok(None),
        }
    }

    /// Refer-To (RFC 3515): exactly one. Its URI may carry `?Replaces=...`.
    pub fn refer_to(&self) -> Result<NameAddr<'a>, ParseError> {
        NameAddr::parse(self.single(HeaderName::ReferTo)?)
            .map_err(|f| ParseError::header(HeaderName::ReferTo, f))
    }

    pub fn referred_by(&self) -> Result<Option<NameAddr<'a>>, ParseError> {
        self.optional(HeaderName::ReferredBy)?
            .map(|v| NameAddr::parse(v).map_err(|f| ParseError::header(HeaderName::ReferredBy, f)))
            .transpose()
    }

    pub fn replaces(&self) -> Result<Option<Replaces<'a>>, ParseError> {
        self.optional(HeaderName::Replaces)?
            .map(|v| Replaces::parse(v).map_err(|f| ParseError::header(HeaderName::Replaces, f)))
            .transpose()
    }

    pub fn target_dialog(&self) -> Result<Option<TargetDialog<'a>>, ParseError> {
        self.optional(HeaderName::TargetDialog)?
            .map(|v| {
                TargetDialog::parse(v).map_err(|f| ParseError::header(HeaderName::TargetDialog, f))
            })
            .transpose()
    }

    pub fn event(&self) -> Result<Option<Event<'a>>, ParseError> {
        self.optional(HeaderName::Event)?
            .map(|v| Event::parse(v).map_err(|f| ParseError::header(HeaderName::Event, f)))
            .transpose()
    }

    pub fn subscription_state(&self) -> Result<Option<SubscriptionState<'a>>, ParseError> {
        self.optional(HeaderName::SubscriptionState)?
            .map(|v| {
                SubscriptionState::parse(v)
                    .map_err(|f| ParseError::header(HeaderName::SubscriptionState, f))
            })
            .transpose()
    }

    fn tokens(&self, name: HeaderName) -> impl Iterator<Item = Result<&'a str, ParseError>> + '_ {
        self.header_values(name).map(move |v| {
            if is_token(v) {
                ascii_str(v).ok_or(ParseError::header(name, Fault::NotAToken))
            } else {
                Err(ParseError::header(name, Fault::NotAToken))
            }
        })
    }

    /// Allow: method names.
    pub fn allow(&self) -> impl Iterator<Item = Result<&'a str, ParseError>> + '_ {
        self.tokens(HeaderName::Allow)
    }

    /// Supported: option tags.
    pub fn supported(&self) -> impl Iterator<Item = Result<&'a str, ParseError>> + '_ {
        self.tokens(HeaderName::Supported)
    }

    /// Require: option tags.
    pub fn require(&self) -> impl Iterator<Item = Result<&'a str, ParseError>> + '_ {
        self.tokens(HeaderName::Require)
    }

    /// The body: exactly Content-Length bytes (or the rest of the datagram without one).
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.body_start as usize..]
    }
}

/// Validates every occurrence of the headers an SBC interprets on each message.
/// Returns the first From, To, Via element, Call-ID and CSeq, which the accessors reuse.
fn check_core_headers<'a>(
    buf: &'a [u8],
    slots: &[Slot],
    method: Option<Method<'a>>,
) -> Result<Cache<'a>, ParseError> {
    let mut cache = Cache::default();
    for slot in slots {
        let value = &buf[slot.value_start as usize..slot.value_end as usize];
        let kind = slot.kind;
        let wrap = |f| ParseError::header(kind, f);
        match kind {
            HeaderName::From => {
                let from = NameAddr::parse(value).map_err(wrap)?;
                cache.from.get_or_insert(from);
            }
            HeaderName::To => {
                let to = NameAddr::parse(value).map_err(wrap)?;
                cache.to.get_or_insert(to);
            }
            HeaderName::CallId => {
                let call_id = parse_call_id(value).map_err(wrap)?;
                cache.call_id.get_or_insert(call_id);
            }
            HeaderName::CSeq => {
                let cseq = CSeq::parse(value).map_err(wrap)?;
                cache.cseq.get_or_insert(cseq);
                if let Some(method) = method
                    && cseq.method != method
                {
                    return Err(ParseError::CSeqMethodMismatch {
                        cseq: cseq.method.as_str().to_owned(),
                        request: method.as_str().to_owned(),
                    });
                }
            }
            HeaderName::MaxForwards => {
                bounded_decimal(HeaderName::MaxForwards, value, MAX_MAX_FORWARDS)?;
            }
            HeaderName::Via => {
                for element in CommaSplit::new(value) {
                    if element.is_empty() {
                        return Err(wrap(Fault::EmptyElement));
                    }
                    let via = Via::parse(element).map_err(wrap)?;
                    cache.top_via.get_or_insert(via);
                }
            }
            HeaderName::Contact => {
                if trim_lws(value) == b"*" {
                    continue;
                }
                for element in CommaSplit::new(value) {
                    if element.is_empty() {
                        return Err(wrap(Fault::EmptyElement));
                    }
                    NameAddr::parse(element).map_err(wrap)?;
                }
            }
            _ => {}
        }
    }
    Ok(cache)
}

fn trim_crlf(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}
