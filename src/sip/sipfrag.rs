//! message/sipfrag bodies (RFC 3420) as carried by REFER NOTIFYs (RFC 3515 section 2.4.5).

use super::error::ParseError;
use super::message::{StartLine, parse_status_line};
use crate::vocab::StatusCode;

/// The status line of a sipfrag body ("SIP/2.0 200 OK").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipFragStatus<'a> {
    pub code: StatusCode,
    pub reason: &'a [u8],
}

/// Parses the status line at the start of a message/sipfrag body. Any headers after it are
/// ignored. A fragment that starts with a request line is an error: REFER progress is a status.
pub fn parse_sipfrag(body: &[u8]) -> Result<SipFragStatus<'_>, ParseError> {
    let start = body
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(body.len());
    let body = &body[start..];
    if body.is_empty() {
        return Err(ParseError::BadSipFrag("is empty"));
    }
    let line_end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = &body[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !(line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/")) {
        return Err(ParseError::BadSipFrag("does not start with a status line"));
    }
    match parse_status_line(line)? {
        StartLine::Response { status, reason } => Ok(SipFragStatus {
            code: status,
            reason,
        }),
        StartLine::Request { .. } => {
            Err(ParseError::BadSipFrag("does not start with a status line"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 100 Trying\r\n").unwrap(),
            SipFragStatus {
                code: StatusCode::TRYING,
                reason: b"Trying"
            }
        );
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 603 Declined").unwrap().code,
            StatusCode::DECLINE
        );
        assert!(parse_sipfrag(b"INVITE sip:a@b SIP/2.0\r\n").is_err());
        assert!(parse_sipfrag(b"SIP/2.0 99 x").is_err());
    }
}
