//! Builders for messages the B2BUA originates (requests on its own legs, responses).

use super::edit::{
    EditError, check_content_type, check_name, check_uri, check_value, push_content_length,
    push_decimal, push_header,
};
use super::header::HeaderName;
use super::message::Message;
use super::method::Method;
use super::values::NameAddr;
use crate::vocab::StatusCode;

/// Builds a new request: `RequestBuilder::new(Method::Bye, "sip:bob@host").header("Via", ..)...build()`.
/// Headers are written in the order given; Content-Length is added last.
///
/// The start line and each header are serialised into one buffer as they are given (no
/// allocation per header); `build` appends Content-Type, Content-Length and the body.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    /// The start line and the headers so far, each line with its CRLF.
    out: Vec<u8>,
    body: Option<(String, Vec<u8>)>,
    error: Option<EditError>,
}

/// What a built message's start line and headers usually take: one allocation for most.
const INITIAL_CAPACITY: usize = 1024;

impl RequestBuilder {
    pub fn new(method: Method<'_>, uri: &str) -> RequestBuilder {
        let error = check_uri(uri).err().or_else(|| {
            (!is_method_token(method.as_str()))
                .then(|| EditError::BadHeaderName(method.as_str().to_owned()))
        });
        let mut out = Vec::with_capacity(INITIAL_CAPACITY);
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        RequestBuilder {
            out,
            body: None,
            error,
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> RequestBuilder {
        add_header(&mut self.out, &mut self.error, name, value.as_ref());
        self
    }

    pub fn body(mut self, content_type: &str, body: impl AsRef<[u8]>) -> RequestBuilder {
        set_body(&mut self.body, &mut self.error, content_type, body.as_ref());
        self
    }

    /// The serialised request, or the first invalid input given to the builder.
    pub fn build(self) -> Result<Vec<u8>, EditError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(finish(self.out, self.body.as_ref()))
    }
}

/// Appends a header line; an invalid name or value is remembered (the first fault wins) and
/// reported by `build`.
fn add_header(out: &mut Vec<u8>, error: &mut Option<EditError>, name: &str, value: &[u8]) {
    if let Err(e) = check_name(name).and_then(|()| check_value(name, value)) {
        error.get_or_insert(e);
    }
    push_header(out, name, value);
}

/// Sets the body; an invalid content type is remembered like a bad header.
fn set_body(
    slot: &mut Option<(String, Vec<u8>)>,
    error: &mut Option<EditError>,
    content_type: &str,
    body: &[u8],
) {
    if let Err(e) = check_content_type(content_type) {
        error.get_or_insert(e);
    }
    *slot = Some((content_type.to_owned(), body.to_vec()));
}

fn is_method_token(m: &str) -> bool {
    super::lex::is_token(m.as_bytes())
}

/// Start line and headers (`out`) + Content-Type (with a non-empty body) + Content-Length +
/// the blank line + the body.
fn finish(mut out: Vec<u8>, body: Option<&(String, Vec<u8>)>) -> Vec<u8> {
    let body_len = body.map_or(0, |(_, b)| b.len());
    out.reserve(body_len + 64 + body.map_or(0, |(ct, _)| ct.len()));
    if let Some((ct, b)) = body
        && !b.is_empty()
    {
        push_header(&mut out, "Content-Type", ct.as_bytes());
    }
    push_content_length(&mut out, body_len);
    out.extend_from_slice(b"\r\n");
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    out
}

/// Builds a response to a received request (RFC 3261 section 8.2.6): Via(s), From, To,
/// Call-ID and CSeq are copied as received.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    /// The status line and the headers so far, each line with its CRLF (as `RequestBuilder`).
    out: Vec<u8>,
    /// Where the To value ends in `out` (before its CRLF), and whether it already has a tag.
    to: Option<(usize, bool)>,
    body: Option<(String, Vec<u8>)>,
    error: Option<EditError>,
}

/// Starts a response to `request`.
pub fn response_to(request: &Message<'_>, status: StatusCode, reason: &str) -> ResponseBuilder {
    let mut out = Vec::with_capacity(INITIAL_CAPACITY);
    out.extend_from_slice(b"SIP/2.0 ");
    push_decimal(&mut out, u64::from(status.as_u16()));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut to = None;
    // From, To, Call-ID and CSeq are copied once (their first line); every Via is.
    let mut copied = 0u8;
    for h in request.headers() {
        let bit = match h.kind {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 4,
            HeaderName::CSeq => 8,
            _ => continue,
        };
        if copied & bit != 0 {
            continue;
        }
        copied |= bit;
        push_header(&mut out, h.kind.as_str(), h.value);
        if h.kind == HeaderName::To {
            let tagged = NameAddr::parse(h.value).is_ok_and(|na| na.tag().is_some());
            to = Some((out.len() - 2, tagged));
        }
    }
    let error = if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
        Some(EditError::LineBreakInReason)
    } else {
        None
    };
    ResponseBuilder {
        out,
        to,
        body: None,
        error,
    }
}

impl ResponseBuilder {
    /// Adds `;tag=` to To unless the request's To already had one (in-dialog request).
    pub fn to_tag(mut self, tag: &str) -> ResponseBuilder {
        if !super::lex::is_token(tag.as_bytes()) {
            self.error
                .get_or_insert(EditError::LineBreakInValue("To".to_owned()));
            return self;
        }
        if let Some((at, false)) = self.to {
            let param = [b";tag=".as_slice(), tag.as_bytes()].concat();
            self.out.splice(at..at, param);
            self.to = Some((at, true));
        }
        self
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> ResponseBuilder {
        add_header(&mut self.out, &mut self.error, name, value.as_ref());
        self
    }

    pub fn body(mut self, content_type: &str, body: impl AsRef<[u8]>) -> ResponseBuilder {
        set_body(&mut self.body, &mut self.error, content_type, body.as_ref());
        self
    }

    pub fn build(self) -> Result<Vec<u8>, EditError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(finish(self.out, self.body.as_ref()))
    }
}
