//! Bodies and header values for the NOTIFYs a transfer sends to the platform (RFC 3515 section
//! 2.4.5, message/sipfrag per RFC 3420).

use crate::vocab::StatusCode;

/// Content-Type of a REFER NOTIFY body.
pub const SIPFRAG_CONTENT_TYPE: &str = "message/sipfrag;version=2.0";

/// The Event header value of a REFER NOTIFY (a first REFER in the dialog has no id).
pub const REFER_EVENT: &str = "refer";

/// The Event header value of NOTIFYs for the second and later REFER of a dialog: RFC 3515
/// section 2.4.6, "it MUST include an id parameter[2] in the Event header field of each NOTIFY
/// containing the sequence number (the number from the CSeq header field value) of the REFER".
pub fn refer_event_with_id(refer_cseq: u32) -> String {
    format!("{REFER_EVENT};id={refer_cseq}")
}

/// The sipfrag body for `status`: `SIP/2.0 200 OK\r\n`.
pub fn sipfrag_body(status: StatusCode) -> String {
    format!("SIP/2.0 {status} {}\r\n", reason_phrase(status))
}

/// Subscription-State for a NOTIFY: `active;expires=..` while the transfer runs,
/// `terminated;reason=noresource` with the final status (RFC 3515 section 2.4.7).
pub fn subscription_state(subscription_ends: bool, expires_s: u32) -> String {
    if subscription_ends {
        "terminated;reason=noresource".to_owned()
    } else {
        format!("active;expires={expires_s}")
    }
}

/// The RFC 3261 reason phrase for the codes a transfer relays; a generic one by class otherwise
/// (its own table: a sipfrag names an unknown 1xx "Trying", where a status line says "Progress").
pub fn reason_phrase(status: StatusCode) -> &'static str {
    known_reason_phrase(status).unwrap_or(match status.as_u16() {
        100..=199 => "Trying",
        200..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Global Failure",
    })
}

fn known_reason_phrase(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_bodies_carry_the_status_line() {
        let body = |code| sipfrag_body(StatusCode::new(code).unwrap());
        assert_eq!(body(200), "SIP/2.0 200 OK\r\n");
        assert_eq!(body(486), "SIP/2.0 486 Busy Here\r\n");
        assert_eq!(body(499), "SIP/2.0 499 Client Error\r\n");
    }

    #[test]
    fn subscription_state_ends_with_the_final_notify() {
        assert_eq!(subscription_state(false, 60), "active;expires=60");
        assert_eq!(subscription_state(true, 60), "terminated;reason=noresource");
    }
}
