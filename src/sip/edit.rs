//! Edits recorded against a parsed message ("lumps", as in Kamailio) and applied when the
//! message is serialised. The original bytes of every untouched line are copied as they are;
//! Content-Length is always recomputed.

use super::error::UriFault;
use super::header::HeaderName;
use super::lex::is_token;
use super::message::{MAX_HEADERS, Message};
use super::uri::Uri;
use crate::vocab::StatusCode;

/// A refused edit or builder input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("header name {0:?} is not a token")]
    BadHeaderName(String),
    #[error("value for header {0} has a line break not followed by whitespace")]
    LineBreakInValue(String),
    #[error("Content-Length is computed on serialisation and cannot be set")]
    ContentLengthIsComputed,
    #[error("cannot set the Request-URI of a response")]
    NotARequest,
    #[error("cannot set the status of a request")]
    NotAResponse,
    #[error("reason phrase has a line break")]
    LineBreakInReason,
    #[error("URI {uri:?} {fault}")]
    BadUri { uri: String, fault: UriFault },
    #[error("content type {0:?} is not type/subtype")]
    BadContentType(String),
}

pub(crate) fn check_name(name: &str) -> Result<(), EditError> {
    if !is_token(name.as_bytes()) {
        return Err(EditError::BadHeaderName(name.to_owned()));
    }
    if HeaderName::from_bytes(name.as_bytes()) == HeaderName::ContentLength {
        return Err(EditError::ContentLengthIsComputed);
    }
    Ok(())
}

/// A value may only contain CR or LF as a fold (CRLF followed by SP or HTAB).
pub(crate) fn check_value(name: &str, value: &[u8]) -> Result<(), EditError> {
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\r'
                if value.get(i + 1) == Some(&b'\n')
                    && matches!(value.get(i + 2), Some(b' ' | b'\t')) =>
            {
                i += 3
            }
            b'\r' | b'\n' | 0 => return Err(EditError::LineBreakInValue(name.to_owned())),
            _ => i += 1,
        }
    }
    Ok(())
}

pub(crate) fn check_uri(uri: &str) -> Result<(), EditError> {
    Uri::parse(uri)
        .map(|_| ())
        .map_err(|fault| EditError::BadUri {
            uri: uri.to_owned(),
            fault,
        })
}

pub(crate) fn check_content_type(ct: &str) -> Result<(), EditError> {
    super::values::MediaType::parse(ct.as_bytes())
        .map(|_| ())
        .map_err(|_| EditError::BadContentType(ct.to_owned()))
}

pub(crate) fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn push_content_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without allocating.
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Pending edits of one message. Create with [`Message::edit`] (or `MessageEdit::new`).
#[derive(Debug, Clone)]
pub struct MessageEdit<'m, 'a> {
    msg: &'m Message<'a>,
    /// Bit i set: header slot i is dropped.
    removed: u64,
    replaced: Vec<(usize, Vec<u8>)>,
    /// Every header line added (prepended or appended), serialised ("Name: value\r\n") one
    /// after the other: one buffer instead of two allocations per header.
    added: Vec<u8>,
    prepended: Vec<Added>,
    appended: Vec<Added>,
    start_line: Option<Vec<u8>>,
    body: Option<(Option<String>, Vec<u8>)>,
}

const _: () = assert!(MAX_HEADERS <= 64, "the removal mask is a u64");

/// One added header line: its kind and where its serialised line is in `MessageEdit::added`.
#[derive(Debug, Clone, Copy)]
struct Added {
    kind: HeaderName,
    start: usize,
    end: usize,
}

impl<'m, 'a> MessageEdit<'m, 'a> {
    /// Serialises a header line into `added` and returns where it is.
    fn push_added(&mut self, name: &str, value: &[u8]) -> Added {
        if self.added.capacity() == 0 {
            // A forwarded request's added lines (Via, From, To, Contact...) in one allocation.
            self.added.reserve(512);
        }
        let start = self.added.len();
        push_header(&mut self.added, name, value);
        Added {
            kind: HeaderName::from_bytes(name.as_bytes()),
            start,
            end: self.added.len(),
        }
    }

    fn added_line(&self, added: &Added) -> &[u8] {
        &self.added[added.start..added.end]
    }
}

impl<'m, 'a> MessageEdit<'m, 'a> {
    pub fn new(msg: &'m Message<'a>) -> Self {
        MessageEdit {
            msg,
            removed: 0,
            replaced: Vec::new(),
            added: Vec::new(),
            prepended: Vec::new(),
            appended: Vec::new(),
            start_line: None,
            body: None,
        }
    }

    fn live(&self, i: usize) -> bool {
        self.removed & (1u64 << i) == 0
    }

    fn matching(&self, name: HeaderName) -> impl Iterator<Item = usize> + '_ {
        self.msg
            .raw_slots()
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.kind == name)
            .map(|(i, _)| i)
    }

    fn matching_name<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        let kind = HeaderName::from_bytes(name.as_bytes());
        let msg = self.msg;
        msg.headers()
            .enumerate()
            .filter(move |(_, h)| {
                h.kind == kind && (kind != HeaderName::Other || h.name.eq_ignore_ascii_case(name))
            })
            .map(|(i, _)| i)
    }

    /// Drops every occurrence of the header.
    pub fn remove_header(&mut self, name: HeaderName) -> &mut Self {
        let mask = self.matching(name).fold(0u64, |m, i| m | 1 << i);
        self.removed |= mask;
        self
    }

    /// Drops every occurrence of a header given by its name (for headers without a [`HeaderName`]).
    pub fn remove_header_named(&mut self, name: &str) -> &mut Self {
        let mask = self.matching_name(name).fold(0u64, |m, i| m | 1 << i);
        self.removed |= mask;
        self
    }

    /// Drops the first remaining occurrence (e.g. our own Via on a response).
    pub fn remove_first(&mut self, name: HeaderName) -> &mut Self {
        let first = self.matching(name).find(|&i| self.live(i));
        if let Some(i) = first {
            self.removed |= 1 << i;
        }
        self
    }

    /// Replaces the header's value in place of its first occurrence, dropping the others (those
    /// added by earlier edits included); appends it when the message has none.
    pub fn replace_header(
        &mut self,
        name: HeaderName,
        value: &[u8],
    ) -> Result<&mut Self, EditError> {
        let canonical = name.as_str();
        if name == HeaderName::Other {
            return Err(EditError::BadHeaderName(canonical.to_owned()));
        }
        check_name(canonical)?;
        check_value(canonical, value)?;
        // Headers of this kind added by earlier edits are replaced too.
        self.appended.retain(|h| h.kind != name);
        self.prepended.retain(|h| h.kind != name);
        let mut occurrences = self
            .matching(name)
            .filter(|&i| self.live(i))
            .collect::<Vec<_>>()
            .into_iter();
        match occurrences.next() {
            Some(first) => {
                self.replaced.retain(|(i, _)| *i != first);
                self.replaced.push((first, value.to_vec()));
                for rest in occurrences {
                    self.removed |= 1 << rest;
                }
            }
            None => {
                let added = self.push_added(canonical, value);
                self.appended.push(added);
            }
        }
        Ok(self)
    }

    /// Adds a header after the existing ones.
    pub fn add_header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, EditError> {
        check_name(name)?;
        check_value(name, value)?;
        let added = self.push_added(name, value);
        self.appended.push(added);
        Ok(self)
    }

    /// Adds a header before all others (a Via on a forwarded request). Each call goes on top.
    pub fn prepend_header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, EditError> {
        check_name(name)?;
        check_value(name, value)?;
        let added = self.push_added(name, value);
        self.prepended.push(added);
        Ok(self)
    }

    pub fn set_request_uri(&mut self, uri: &str) -> Result<&mut Self, EditError> {
        let method = self.msg.method().ok_or(EditError::NotARequest)?;
        check_uri(uri)?;
        if uri.bytes().any(|b| b == b' ') {
            return Err(EditError::BadUri {
                uri: uri.to_owned(),
                fault: UriFault::Whitespace,
            });
        }
        self.start_line = Some(format!("{} {} SIP/2.0", method.as_str(), uri).into_bytes());
        Ok(self)
    }

    pub fn set_status(&mut self, code: StatusCode, reason: &str) -> Result<&mut Self, EditError> {
        if self.msg.is_request() {
            return Err(EditError::NotAResponse);
        }
        if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(EditError::LineBreakInReason);
        }
        self.start_line = Some(format!("SIP/2.0 {code} {reason}").into_bytes());
        Ok(self)
    }

    /// Replaces the body. `content_type` replaces Content-Type (`None` keeps the current one);
    /// an empty body drops Content-Type. Content-Length follows.
    pub fn set_body(
        &mut self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<&mut Self, EditError> {
        if let Some(ct) = content_type {
            check_content_type(ct)?;
        }
        self.body = Some((content_type.map(str::to_owned), body.to_vec()));
        Ok(self)
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        let msg = self.msg;
        let bytes = msg.as_bytes();
        let body = match &self.body {
            Some((_, b)) => b.as_slice(),
            None => msg.body(),
        };
        out.reserve(bytes.len() + self.added.len() + body.len() + 64);
        match &self.start_line {
            Some(line) => {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(&bytes[..msg.first_header_offset()]),
        }
        for added in self.prepended.iter().rev() {
            out.extend_from_slice(self.added_line(added));
        }
        let drop_content_type = match &self.body {
            Some((ct, b)) => ct.is_some() || b.is_empty(),
            None => false,
        };
        for (i, slot) in msg.raw_slots().iter().enumerate() {
            let skip = !self.live(i)
                || slot.kind == HeaderName::ContentLength
                || (drop_content_type && slot.kind == HeaderName::ContentType);
            if skip {
                continue;
            }
            match self.replaced.iter().find(|(r, _)| *r == i) {
                Some((_, value)) => {
                    out.extend_from_slice(&bytes[slot.line_start as usize..slot.name_end as usize]);
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(value);
                    out.extend_from_slice(b"\r\n");
                }
                None => {
                    out.extend_from_slice(&bytes[slot.line_start as usize..slot.line_end as usize])
                }
            }
        }
        for added in &self.appended {
            out.extend_from_slice(self.added_line(added));
        }
        if let Some((Some(ct), b)) = &self.body
            && !b.is_empty()
        {
            push_header(out, "Content-Type", ct.as_bytes());
        }
        push_content_length(out, body.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
}

impl<'a> Message<'a> {
    /// Starts an edit list on this message.
    pub fn edit(&self) -> MessageEdit<'_, 'a> {
        MessageEdit::new(self)
    }
}
