//! What the transaction layer reads from messages (matching facts and keys) and the few
//! messages it writes itself: its own responses (100, 200 to CANCEL, 408, 481, 482, 483), the ACK
//! for a non-2xx final and the CANCEL of an INVITE (RFC 3261 17.1.1.3 and 9.1), with the SIP
//! layer's builders. Those copy header values verbatim from the messages they answer.

use crate::sip::{EditError, HeaderName, Message, Method, ParseError, RequestBuilder, response_to};
use crate::vocab::StatusCode;

const MAGIC_COOKIE: &str = "z9hG4bK";

/// Why a message cannot take part in a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageFault {
    #[error("expected a request, got a response")]
    NotARequest,
    #[error("expected a response, got a request")]
    NotAResponse,
    #[error("top Via has no branch parameter")]
    MissingBranch,
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("cannot build the message: {0}")]
    Build(#[from] EditError),
}

/// The request fields transaction matching uses (RFC 3261 17.2.3 and its RFC 2543 fallback).
#[derive(Clone, Debug)]
pub(crate) struct RequestFacts<'a> {
    pub method: Method<'a>,
    pub request_uri: &'a str,
    pub branch: Option<&'a str>,
    pub sent_by_host: &'a str,
    pub sent_by_port: Option<u16>,
    /// The top Via element as written (RFC 2543 matching compares it whole).
    pub top_via: &'a [u8],
    pub call_id: &'a str,
    pub from_tag: Option<&'a str>,
    pub to_tag: Option<&'a str>,
    pub cseq: u32,
    pub cseq_method: Method<'a>,
    pub max_forwards: Option<u32>,
}

fn push_field(buf: &mut Vec<u8>, field: &[u8]) {
    buf.extend_from_slice(field);
    buf.push(0);
}

fn push_number(buf: &mut Vec<u8>, n: u64) {
    crate::sip::push_decimal(buf, n);
    buf.push(0);
}

/// ACK matches the INVITE it acknowledges (RFC 3261 17.2.3).
fn matching_method<'a>(method: Method<'a>) -> Method<'a> {
    if method == Method::Ack {
        Method::Invite
    } else {
        method
    }
}

impl<'a> RequestFacts<'a> {
    pub fn of(request: &Message<'a>) -> Result<RequestFacts<'a>, MessageFault> {
        let method = request.method().ok_or(MessageFault::NotARequest)?;
        let request_uri = request
            .request_uri()
            .ok_or(MessageFault::NotARequest)?
            .as_str();
        let via = request.top_via()?;
        let top_via = request.header_values(HeaderName::Via).next().unwrap_or(b"");
        let cseq = request.cseq()?;
        Ok(RequestFacts {
            method,
            request_uri,
            branch: via.branch(),
            sent_by_host: via.host,
            sent_by_port: via.port,
            top_via,
            call_id: request.call_id()?,
            from_tag: request.from()?.tag(),
            to_tag: request.to()?.tag(),
            cseq: cseq.seq,
            cseq_method: cseq.method,
            max_forwards: request.max_forwards()?,
        })
    }

    pub fn branch_is_rfc3261(&self) -> bool {
        self.branch.is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The server-transaction key of this request as if its method were `method`: branch +
    /// sent-by + method (ACK counts as INVITE), or, for an RFC 2543 peer, Request-URI + From tag +
    /// Call-ID + CSeq number + top Via + method (To tags are compared separately).
    pub fn server_key<'s>(&self, method: Method, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        scratch.clear();
        let method = matching_method(method);
        match self.branch.filter(|_| self.branch_is_rfc3261()) {
            Some(branch) => {
                push_field(scratch, b"3");
                push_field(scratch, branch.as_bytes());
                push_field(scratch, self.sent_by_host.as_bytes());
                push_number(scratch, u64::from(self.sent_by_port.unwrap_or(0)));
            }
            None => {
                push_field(scratch, b"2");
                push_field(scratch, self.request_uri.as_bytes());
                push_field(scratch, self.from_tag.unwrap_or("").as_bytes());
                push_field(scratch, self.call_id.as_bytes());
                push_number(scratch, u64::from(self.cseq));
                push_field(scratch, self.top_via);
            }
        }
        push_field(scratch, method.as_str().as_bytes());
        scratch
    }

    /// From tag + Call-ID + CSeq: equal for the copies of a request that forked and merged back
    /// (RFC 3261 8.2.2.2).
    pub fn merged_key<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        scratch.clear();
        push_field(scratch, self.from_tag.unwrap_or("").as_bytes());
        push_field(scratch, self.call_id.as_bytes());
        push_number(scratch, u64::from(self.cseq));
        push_field(scratch, self.cseq_method.as_str().as_bytes());
        scratch
    }
}

/// The response fields client matching uses (RFC 3261 17.1.3).
pub(crate) struct ResponseFacts<'a> {
    pub status: StatusCode,
    pub branch: &'a str,
    pub cseq_method: Method<'a>,
}

impl<'a> ResponseFacts<'a> {
    pub fn of(response: &Message<'a>) -> Result<ResponseFacts<'a>, MessageFault> {
        let status = response.status().ok_or(MessageFault::NotAResponse)?;
        let branch = response
            .top_via()?
            .branch()
            .ok_or(MessageFault::MissingBranch)?;
        Ok(ResponseFacts {
            status,
            branch,
            cseq_method: response.cseq()?.method,
        })
    }
}

/// Branch + CSeq method.
pub(crate) fn client_key<'s>(branch: &str, method: &str, scratch: &'s mut Vec<u8>) -> &'s [u8] {
    scratch.clear();
    push_field(scratch, branch.as_bytes());
    push_field(scratch, method.as_bytes());
    scratch
}

/// A response of the layer's own to `request` (Vias, From, To plus `to_tag` when given, Call-ID,
/// CSeq; no body).
pub(crate) fn response(
    request: &Message,
    status: StatusCode,
    reason: &str,
    to_tag: Option<&str>,
) -> Result<Vec<u8>, MessageFault> {
    let builder = response_to(request, status, reason);
    let builder = match to_tag {
        Some(tag) => builder.to_tag(tag),
        None => builder,
    };
    Ok(builder.build()?)
}

/// Single top Via, Max-Forwards, From, To, Call-ID and CSeq `{seq} {method}`, the INVITE's
/// Routes, no body: the shape of both ACK (non-2xx) and CANCEL.
fn request_from_invite(
    invite: &Message,
    method: Method,
    to: &[u8],
) -> Result<Vec<u8>, MessageFault> {
    let uri = invite.request_uri().ok_or(MessageFault::NotARequest)?;
    let top_via = invite
        .header_values(HeaderName::Via)
        .next()
        .ok_or(ParseError::MissingHeader(HeaderName::Via))?;
    let from = invite
        .header(HeaderName::From)
        .ok_or(ParseError::MissingHeader(HeaderName::From))?;
    let call_id = invite.call_id()?;
    let seq = invite.cseq()?.seq;
    let mut builder = RequestBuilder::new(method, uri.as_str())
        .header("Via", top_via)
        .header("Max-Forwards", "70")
        .header("From", from)
        .header("To", to)
        .header("Call-ID", call_id)
        .header("CSeq", format!("{seq} {method}"));
    for route in invite.header_lines(HeaderName::Route) {
        builder = builder.header("Route", route);
    }
    Ok(builder.build()?)
}

/// The ACK for a non-2xx final (RFC 3261 17.1.1.3): the INVITE's Request-URI, Call-ID, From,
/// top Via, CSeq number and Routes; the To of the response.
pub(crate) fn ack_for(invite_bytes: &[u8], response: &Message) -> Result<Vec<u8>, MessageFault> {
    let invite = Message::parse(invite_bytes)?;
    let to = response
        .header(HeaderName::To)
        .ok_or(ParseError::MissingHeader(HeaderName::To))?;
    request_from_invite(&invite, Method::Ack, to)
}

/// The CANCEL of an INVITE (RFC 3261 9.1): same Request-URI, Call-ID, To, From, CSeq number,
/// top Via (hence branch) and Routes. Returns the branch with the bytes.
pub(crate) fn cancel_for(invite_bytes: &[u8]) -> Result<(String, Vec<u8>), MessageFault> {
    let invite = Message::parse(invite_bytes)?;
    let branch = invite
        .top_via()?
        .branch()
        .ok_or(MessageFault::MissingBranch)?
        .to_owned();
    let to = invite
        .header(HeaderName::To)
        .ok_or(ParseError::MissingHeader(HeaderName::To))?;
    Ok((branch, request_from_invite(&invite, Method::Cancel, to)?))
}
