//! Builders for messages the B2BUA originates (requests on its own legs, responses).

use super::edit::{
    EditError, check_content_type, check_name, check_uri, check_value, push_content_length,
    push_header,
};
use super::header::HeaderName;
use super::message::Message;
use super::method::Method;
use super::values::NameAddr;
use crate::vocab::StatusCode;

/// Builds a new request: `RequestBuilder::new(Method::Bye, "sip:bob@host").header("Via", ..)...build()`.
/// Headers are written in the order given; Content-Length is added last.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    start_line: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<(String, Vec<u8>)>,
    error: Option<EditError>,
}

impl RequestBuilder {
    pub fn new(method: Method<'_>, uri: &str) -> RequestBuilder {
        let error = check_uri(uri).err().or_else(|| {
            (!is_method_token(method.as_str()))
                .then(|| EditError::BadHeaderName(method.as_str().to_owned()))
        });
        RequestBuilder {
            start_line: format!("{} {} SIP/2.0", method.as_str(), uri),
            headers: Vec::new(),
            body: None,
            error,
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> RequestBuilder {
        add_header(&mut self.headers, &mut self.error, name, value.as_ref());
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
        Ok(assemble(
            self.start_line.as_bytes(),
            &self.headers,
            self.body.as_ref(),
        ))
    }
}

/// Appends a header; an invalid name or value is remembered (the first fault wins) and
/// reported by `build`.
fn add_header(
    headers: &mut Vec<(String, Vec<u8>)>,
    error: &mut Option<EditError>,
    name: &str,
    value: &[u8],
) {
    if let Err(e) = check_name(name).and_then(|()| check_value(name, value)) {
        error.get_or_insert(e);
    }
    headers.push((name.to_owned(), value.to_vec()));
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

fn assemble(
    start_line: &[u8],
    headers: &[(String, Vec<u8>)],
    body: Option<&(String, Vec<u8>)>,
) -> Vec<u8> {
    let body_len = body.map_or(0, |(_, b)| b.len());
    let mut out = Vec::with_capacity(
        256 + body_len
            + headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>(),
    );
    out.extend_from_slice(start_line);
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        push_header(&mut out, name, value);
    }
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
    status: StatusCode,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    /// Index in `headers` of To, and whether it already has a tag.
    to: Option<(usize, bool)>,
    body: Option<(String, Vec<u8>)>,
    error: Option<EditError>,
}

/// Starts a response to `request`.
pub fn response_to(request: &Message<'_>, status: StatusCode, reason: &str) -> ResponseBuilder {
    let mut headers = Vec::new();
    let mut to = None;
    for h in request.headers() {
        let copy = match h.kind {
            HeaderName::Via => true,
            HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => !headers
                .iter()
                .any(|(n, _): &(String, Vec<u8>)| n == h.kind.as_str()),
            _ => false,
        };
        if !copy {
            continue;
        }
        if h.kind == HeaderName::To {
            let tagged = NameAddr::parse(h.value).is_ok_and(|na| na.tag().is_some());
            to = Some((headers.len(), tagged));
        }
        headers.push((h.kind.as_str().to_owned(), h.value.to_vec()));
    }
    let error = if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
        Some(EditError::LineBreakInReason)
    } else {
        None
    };
    ResponseBuilder {
        status,
        reason: reason.to_owned(),
        headers,
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
        if let Some((i, false)) = self.to {
            let value = &mut self.headers[i].1;
            value.extend_from_slice(b";tag=");
            value.extend_from_slice(tag.as_bytes());
            self.to = Some((i, true));
        }
        self
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> ResponseBuilder {
        add_header(&mut self.headers, &mut self.error, name, value.as_ref());
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
        let start = format!("SIP/2.0 {} {}", self.status, self.reason);
        Ok(assemble(
            start.as_bytes(),
            &self.headers,
            self.body.as_ref(),
        ))
    }
}
