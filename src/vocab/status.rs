//! The SIP response status (RFC 3261 section 7.2 and 21): a number in 100..=699, typed so that
//! nothing inside handoff confuses it with a port, a count or a leg. Parsers make one at the
//! edge (`sip::Message::status`, `sip::parse_sipfrag`); the audit, the metrics and the logs
//! render it as its number.

use std::fmt;

/// A SIP response status code, always within 100..=699.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

/// A number that is not a SIP status code (outside 100..=699).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a SIP status code (100..=699)")]
pub struct InvalidStatusCode(pub u16);

/// The class of a status code, its first digit (RFC 3261 section 7.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    /// 1xx
    Provisional,
    /// 2xx
    Success,
    /// 3xx
    Redirection,
    /// 4xx
    ClientError,
    /// 5xx
    ServerError,
    /// 6xx
    GlobalFailure,
}

impl StatusCode {
    pub const TRYING: StatusCode = StatusCode(100);
    pub const RINGING: StatusCode = StatusCode(180);
    pub const CALL_IS_BEING_FORWARDED: StatusCode = StatusCode(181);
    pub const QUEUED: StatusCode = StatusCode(182);
    pub const SESSION_PROGRESS: StatusCode = StatusCode(183);
    pub const OK: StatusCode = StatusCode(200);
    pub const ACCEPTED: StatusCode = StatusCode(202);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const NOT_ACCEPTABLE: StatusCode = StatusCode(406);
    pub const PROXY_AUTHENTICATION_REQUIRED: StatusCode = StatusCode(407);
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    pub const GONE: StatusCode = StatusCode(410);
    pub const REQUEST_ENTITY_TOO_LARGE: StatusCode = StatusCode(413);
    pub const REQUEST_URI_TOO_LONG: StatusCode = StatusCode(414);
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    pub const UNSUPPORTED_URI_SCHEME: StatusCode = StatusCode(416);
    pub const BAD_EXTENSION: StatusCode = StatusCode(420);
    pub const EXTENSION_REQUIRED: StatusCode = StatusCode(421);
    pub const SESSION_INTERVAL_TOO_SMALL: StatusCode = StatusCode(422);
    pub const INTERVAL_TOO_BRIEF: StatusCode = StatusCode(423);
    pub const TEMPORARILY_UNAVAILABLE: StatusCode = StatusCode(480);
    pub const CALL_OR_TRANSACTION_DOES_NOT_EXIST: StatusCode = StatusCode(481);
    pub const LOOP_DETECTED: StatusCode = StatusCode(482);
    pub const TOO_MANY_HOPS: StatusCode = StatusCode(483);
    pub const ADDRESS_INCOMPLETE: StatusCode = StatusCode(484);
    pub const AMBIGUOUS: StatusCode = StatusCode(485);
    pub const BUSY_HERE: StatusCode = StatusCode(486);
    pub const REQUEST_TERMINATED: StatusCode = StatusCode(487);
    pub const NOT_ACCEPTABLE_HERE: StatusCode = StatusCode(488);
    pub const BAD_EVENT: StatusCode = StatusCode(489);
    pub const REQUEST_PENDING: StatusCode = StatusCode(491);
    pub const UNDECIPHERABLE: StatusCode = StatusCode(493);
    pub const SERVER_INTERNAL_ERROR: StatusCode = StatusCode(500);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const BAD_GATEWAY: StatusCode = StatusCode(502);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const SERVER_TIME_OUT: StatusCode = StatusCode(504);
    pub const VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);
    pub const MESSAGE_TOO_LARGE: StatusCode = StatusCode(513);
    pub const BUSY_EVERYWHERE: StatusCode = StatusCode(600);
    pub const DECLINE: StatusCode = StatusCode(603);
    pub const DOES_NOT_EXIST_ANYWHERE: StatusCode = StatusCode(604);
    pub const NOT_ACCEPTABLE_ANYWHERE: StatusCode = StatusCode(606);

    /// `code` as a status, if it lies within 100..=699.
    pub const fn new(code: u16) -> Result<StatusCode, InvalidStatusCode> {
        if code >= 100 && code <= 699 {
            Ok(StatusCode(code))
        } else {
            Err(InvalidStatusCode(code))
        }
    }

    /// The number, for the wire, the audit, the metrics and the logs.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    pub const fn class(self) -> StatusClass {
        match self.0 / 100 {
            1 => StatusClass::Provisional,
            2 => StatusClass::Success,
            3 => StatusClass::Redirection,
            4 => StatusClass::ClientError,
            5 => StatusClass::ServerError,
            _ => StatusClass::GlobalFailure,
        }
    }

    /// 1xx.
    pub const fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// 2xx-6xx: ends a transaction.
    pub const fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// 3xx-6xx.
    pub const fn is_failure(self) -> bool {
        self.0 >= 300
    }

    /// The default reason phrase: RFC 3261 section 21's (and RFC 3515/3891/4028's) text, or the
    /// class's name for a code without one. What handoff puts on the status line of every
    /// response it generates: the details of why it refused go to its log, never to the peer
    /// (topology hiding: no addresses, trunk names, numbers or parse errors on the wire).
    pub const fn reason_phrase(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            410 => "Gone",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            421 => "Extension Required",
            422 => "Session Interval Too Small",
            423 => "Interval Too Brief",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            484 => "Address Incomplete",
            485 => "Ambiguous",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            489 => "Bad Event",
            491 => "Request Pending",
            493 => "Undecipherable",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            513 => "Message Too Large",
            600 => "Busy Everywhere",
            603 => "Decline",
            604 => "Does Not Exist Anywhere",
            606 => "Not Acceptable",
            _ => match self.class() {
                StatusClass::Provisional => "Progress",
                StatusClass::Success => "OK",
                StatusClass::Redirection => "Redirection",
                StatusClass::ClientError => "Client Error",
                StatusClass::ServerError => "Server Error",
                StatusClass::GlobalFailure => "Global Failure",
            },
        }
    }
}

impl TryFrom<u16> for StatusCode {
    type Error = InvalidStatusCode;

    fn try_from(code: u16) -> Result<StatusCode, InvalidStatusCode> {
        StatusCode::new(code)
    }
}

impl From<StatusCode> for u16 {
    fn from(status: StatusCode) -> u16 {
        status.0
    }
}

/// Serialized as its number (the audit's `"refer_status": 403`).
impl serde::Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3261 section 7.2: "The Status-Code is a 3-digit integer result code that indicates the
    // outcome of an attempt to understand and satisfy a request." and "The first digit of the
    // Status-Code defines the class of response. ... SIP/2.0 allows six values for the first
    // digit", so a status lies in 100..=699.
    #[test]
    fn only_three_digit_codes_with_a_first_digit_of_one_to_six_are_statuses() {
        assert_eq!(StatusCode::new(99), Err(InvalidStatusCode(99)));
        assert_eq!(StatusCode::new(0), Err(InvalidStatusCode(0)));
        assert_eq!(StatusCode::new(700), Err(InvalidStatusCode(700)));
        assert_eq!(StatusCode::new(1000), Err(InvalidStatusCode(1000)));
        assert_eq!(StatusCode::new(100).map(StatusCode::as_u16), Ok(100));
        assert_eq!(StatusCode::new(699).map(StatusCode::as_u16), Ok(699));
        assert_eq!(StatusCode::try_from(486), Ok(StatusCode::BUSY_HERE));
        assert_eq!(
            InvalidStatusCode(700).to_string(),
            "700 is not a SIP status code (100..=699)"
        );
    }

    // RFC 3261 section 7.2: "1xx: Provisional -- request received, continuing to process the
    // request; 2xx: Success ...; 3xx: Redirection ...; 4xx: Client Error ...; 5xx: Server Error
    // ...; 6xx: Global Failure".
    #[test]
    fn the_first_digit_is_the_class() {
        let class = |code| StatusCode::new(code).unwrap().class();
        assert_eq!(class(100), StatusClass::Provisional);
        assert_eq!(class(199), StatusClass::Provisional);
        assert_eq!(class(200), StatusClass::Success);
        assert_eq!(class(299), StatusClass::Success);
        assert_eq!(class(302), StatusClass::Redirection);
        assert_eq!(class(486), StatusClass::ClientError);
        assert_eq!(class(503), StatusClass::ServerError);
        assert_eq!(class(603), StatusClass::GlobalFailure);

        assert!(StatusCode::RINGING.is_provisional() && !StatusCode::RINGING.is_final());
        assert!(StatusCode::OK.is_success() && StatusCode::OK.is_final());
        assert!(!StatusCode::OK.is_provisional() && !StatusCode::OK.is_failure());
        assert!(StatusCode::ACCEPTED.is_success());
        assert!(StatusCode::FORBIDDEN.is_final() && !StatusCode::FORBIDDEN.is_success());
        assert!(StatusCode::DECLINE.is_failure());
        assert!(StatusCode::OK < StatusCode::FORBIDDEN);
    }

    #[test]
    fn renders_as_its_number_with_a_default_reason_phrase() {
        assert_eq!(StatusCode::FORBIDDEN.to_string(), "403");
        assert_eq!(format!("SIP/2.0 {}", StatusCode::OK), "SIP/2.0 200");
        assert_eq!(
            StatusCode::REQUEST_TIMEOUT.reason_phrase(),
            "Request Timeout"
        );
        assert_eq!(
            StatusCode::new(499).unwrap().reason_phrase(),
            "Client Error"
        );
        assert_eq!(StatusCode::new(199).unwrap().reason_phrase(), "Progress");
        assert_eq!(
            StatusCode::new(650).unwrap().reason_phrase(),
            "Global Failure"
        );
    }
}
