//! Parse errors. Each names the part of the message at fault and what is wrong with it.

use super::header::HeaderName;

/// Why a datagram, header value or URI was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is empty")]
    Empty,
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("start line is not terminated by CRLF")]
    UnterminatedStartLine,
    #[error("request line {0}")]
    BadRequestLine(&'static str),
    #[error("status line {0}")]
    BadStatusLine(&'static str),
    #[error("unsupported SIP version {0:?} (only SIP/2.0)")]
    UnsupportedVersion(String),
    #[error("status code {0:?} is not a 3-digit code between 100 and 699")]
    BadStatusCode(String),
    #[error("header line {line} {fault}")]
    BadHeaderLine { line: usize, fault: &'static str },
    #[error("too many headers (more than {limit})")]
    TooManyHeaders { limit: usize },
    #[error("header section is not terminated by an empty line")]
    MissingHeaderEnd,
    #[error("Content-Length {declared} exceeds body of {actual} bytes")]
    ContentLengthExceedsBody { declared: u64, actual: usize },
    #[error("Content-Length values disagree: {first} and {second}")]
    ConflictingContentLength { first: u64, second: u64 },
    #[error("CSeq method {cseq} does not match request method {request}")]
    CSeqMethodMismatch { cseq: String, request: String },
    #[error("missing {0} header")]
    MissingHeader(HeaderName),
    #[error("{0} header appears more than once")]
    DuplicateHeader(HeaderName),
    #[error("{header} header {fault}")]
    BadHeader { header: HeaderName, fault: Fault },
    #[error("Request-URI {0}")]
    BadRequestUri(UriFault),
    #[error("URI {0}")]
    BadUri(UriFault),
    #[error("message/sipfrag {0}")]
    BadSipFrag(&'static str),
}

impl ParseError {
    pub(crate) fn header(header: HeaderName, fault: Fault) -> ParseError {
        ParseError::BadHeader { header, fault }
    }
}

/// What is wrong with a header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("is empty")]
    Empty,
    #[error("has an empty element between commas")]
    EmptyElement,
    #[error("has an unterminated quoted string")]
    UnterminatedQuote,
    #[error("has '<' without a closing '>'")]
    UnclosedAngle,
    #[error("has a display name with characters that need quoting")]
    UnquotedDisplayName,
    #[error("has whitespace inside <> around the URI")]
    SpaceInsideAngles,
    #[error("has a URI with '?', ',' or ';' that is not enclosed in <>")]
    UnenclosedUri,
    #[error("has an invalid URI: {0}")]
    Uri(UriFault),
    #[error("has an empty parameter")]
    EmptyParam,
    #[error("has a malformed parameter")]
    BadParam,
    #[error("has unexpected text {0:?}")]
    Trailing(String),
    #[error("value {value} exceeds the maximum {max}")]
    TooLarge { value: String, max: u64 },
    #[error("is not a decimal number: {0:?}")]
    NotANumber(String),
    #[error("has a malformed method")]
    BadMethod,
    #[error("has no method after the sequence number")]
    MissingMethod,
    #[error("has a malformed sent-protocol (expected SIP/2.0/transport)")]
    BadSentProtocol,
    #[error("has a malformed sent-by host or port")]
    BadSentBy,
    #[error("is not a token")]
    NotAToken,
    #[error("has an invalid call-id")]
    BadCallId,
}

/// What is wrong with a URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriFault {
    #[error("is empty")]
    Empty,
    #[error("has no scheme")]
    MissingScheme,
    #[error("contains whitespace")]
    Whitespace,
    #[error("contains a character not allowed in a URI")]
    BadCharacter,
    #[error("has no host")]
    MissingHost,
    #[error("has an invalid host")]
    BadHost,
    #[error("has an unterminated IPv6 reference")]
    UnterminatedIpv6,
    #[error("has an invalid port")]
    BadPort,
    #[error("is enclosed in <>")]
    Enclosed,
    #[error("carries ?headers, which a Request-URI must not")]
    HeadersInRequestUri,
    #[error("has a malformed %-escape")]
    BadEscape,
    #[error("has an empty parameter")]
    EmptyParam,
    #[error("is longer than 4 GiB")]
    TooLong,
}
