//! The SIP message layer: a zero-copy parser (RFC 3261 grammar, hand-written on `memchr`),
//! typed header accessors, an edit list applied on serialisation, and builders for the
//! messages the B2BUA originates.
//!
//! - [`Message::parse`] borrows the datagram; the header index is an inline array of
//!   [`MAX_HEADERS`] slots, so parsing allocates nothing.
//! - Typed values ([`NameAddr`], [`Via`], [`CSeq`], [`Replaces`], ...) are parsed on access and
//!   borrow the message too. Errors name the header and the fault.
//! - [`MessageEdit`] records edits; [`MessageEdit::serialize`] copies untouched lines verbatim
//!   and recomputes Content-Length.

mod build;
pub mod digest;
mod edit;
mod error;
mod header;
mod lex;
mod message;
mod method;
mod sipfrag;
mod uri;
mod values;

/// The status a response carries (shared vocabulary, re-exported for the parser's users).
pub use crate::vocab::StatusCode;
pub use build::{RequestBuilder, ResponseBuilder, response_to};
pub(crate) use edit::push_decimal;
pub use edit::{EditError, MessageEdit};
pub use error::{Fault, ParseError, UriFault};
pub use header::{Header, HeaderName};
pub use message::{MAX_HEADERS, MAX_MESSAGE_LEN, Message};
pub use method::Method;
pub use sipfrag::{SipFragStatus, parse_sipfrag};
pub use uri::{Scheme, Uri, UriBuf, UriHeaders, UriParams, escape_uri_header_value, unescape};
pub use values::{
    CSeq, Event, MAX_CSEQ, MediaType, NameAddr, Param, ParamIter, Params, Replaces,
    SubscriptionState, TargetDialog, Via, parse_call_id,
};
