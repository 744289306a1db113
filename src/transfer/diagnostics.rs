//! The SIP ladder of one transfer attempt: the "trunk diagnostic log" an auditor needs to show a
//! failed transfer was technical. A record whose outcome is not `handed_off` carries it as
//! `diagnostics` (see [`super::TransferRecord`]).
//!
//! Each entry is one SIP message handoff sent or received on any leg of the call while the
//! attempt ran: its offset from the attempt's start, direction, the leg's trunk, source and
//! destination, start line, and the headers that say what happened (Call-ID, CSeq, Refer-To,
//! Event, Subscription-State, Reason, Warning) plus the sipfrag body of a NOTIFY. Whole bodies
//! only with `sbc.audit_bodies`. Pure: bytes and times in, entries out.
//!
//! Bounded, since a peer writes what goes in: at most [`MAX_ENTRIES`] entries (then
//! `truncated`), each value cut at [`MAX_VALUE`] bytes and a body at [`MAX_BODY`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use crate::sip::{HeaderName, Message};
use crate::vocab::Time;

/// Entries kept per attempt; a blind REFER with fallback takes about 15.
pub const MAX_ENTRIES: usize = 64;
/// Bytes kept of a start line or a header value.
pub const MAX_VALUE: usize = 256;
/// Bytes kept of a body (`audit_bodies`) or a sipfrag.
pub const MAX_BODY: usize = 2048;

/// The headers a ladder keeps, as they are named in the entry.
const KEPT: [(&str, HeaderName); 8] = [
    ("Call-ID", HeaderName::CallId),
    ("CSeq", HeaderName::CSeq),
    ("Refer-To", HeaderName::ReferTo),
    ("Referred-By", HeaderName::ReferredBy),
    ("Event", HeaderName::Event),
    ("Subscription-State", HeaderName::SubscriptionState),
    ("Reason", HeaderName::Reason),
    ("Warning", HeaderName::Warning),
];

/// Digest challenge and credentials headers a ladder keeps; credentials only as
/// [`crate::sip::digest::summary`] (no response hash, no nonces).
const CHALLENGE_HEADERS: [&str; 4] = [
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
];

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// handoff received it.
    In,
    /// handoff sent it.
    Out,
}

/// One SIP message of the ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LadderEntry {
    /// Milliseconds since the attempt began (the platform's REFER arrived).
    pub offset_ms: u64,
    pub direction: Direction,
    /// The trunk of the leg the message travelled on.
    pub trunk: String,
    pub from: String,
    pub to: String,
    pub start_line: String,
    /// The headers that matter, by name (present ones only).
    pub headers: BTreeMap<&'static str, String>,
    /// The `message/sipfrag` body (a NOTIFY's), or any body with `audit_bodies`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The ladder of one attempt, while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    started: Time,
    bodies: bool,
    pub entries: Vec<LadderEntry>,
    /// More messages came than [`MAX_ENTRIES`]; the later ones are not kept.
    pub truncated: bool,
}

fn text(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    String::from_utf8_lossy(cut).into_owned()
}

impl Ladder {
    /// A ladder for an attempt that begins at `started`; `bodies`: keep whole bodies.
    pub fn new(started: Time, bodies: bool) -> Ladder {
        Ladder {
            started,
            bodies,
            entries: Vec::new(),
            truncated: false,
        }
    }

    /// Adds `message` (already parsed), sent or received at `now` on a leg of `trunk`.
    pub fn push(
        &mut self,
        now: Time,
        direction: Direction,
        trunk: &str,
        from: SocketAddr,
        to: SocketAddr,
        message: &Message,
    ) {
        if self.entries.len() >= MAX_ENTRIES {
            self.truncated = true;
            return;
        }
        let mut headers = BTreeMap::new();
        for (name, kind) in KEPT {
            if let Some(value) = message.header(kind) {
                headers.insert(name, text(value, MAX_VALUE));
            }
        }
        // Challenges and credentials (RFC 3261 section 22): which algorithm and realm were
        // offered and answered; the credentials' response and nonces are never kept.
        for header in message.headers() {
            let name = CHALLENGE_HEADERS
                .iter()
                .find(|n| n.eq_ignore_ascii_case(header.name));
            if let Some(&name) = name {
                let value = String::from_utf8_lossy(header.value);
                let value = if name.ends_with("Authorization") {
                    crate::sip::digest::summary(&value)
                } else {
                    value.into_owned()
                };
                headers.insert(name, text(value.as_bytes(), MAX_VALUE));
            }
        }
        let is_sipfrag = message.header(HeaderName::ContentType).is_some_and(|v| {
            let media_type = v.split(|b| *b == b';').next().unwrap_or(v);
            media_type
                .trim_ascii()
                .eq_ignore_ascii_case(b"message/sipfrag")
        });
        let body = message.body();
        let body = ((self.bodies || is_sipfrag) && !body.is_empty()).then(|| text(body, MAX_BODY));
        self.entries.push(LadderEntry {
            offset_ms: now.millis_since(self.started),
            direction,
            trunk: trunk.to_owned(),
            from: from.to_string(),
            to: to.to_string(),
            start_line: text(message.start_line(), MAX_VALUE),
            headers,
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    /// RFC 3515 section 2.4.5's NOTIFY: its sipfrag body is kept, with Event and
    /// Subscription-State.
    #[test]
    fn a_notify_keeps_event_state_and_its_sipfrag() {
        let notify = b"NOTIFY sip:a@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnotify1\r\n\
To: <sip:a@atlanta.example.com>;tag=1928301774\r\n\
From: <sip:b@biloxi.example.com>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 73 NOTIFY\r\n\
Max-Forwards: 70\r\n\
Event: refer\r\n\
Subscription-State: terminated;reason=noresource\r\n\
Content-Type: message/sipfrag;version=2.0\r\n\
Content-Length: 23\r\n\r\nSIP/2.0 403 Forbidden\r\n";
        let message = Message::parse(notify).expect("parses");
        let mut ladder = Ladder::new(Time::from_millis(1000), false);
        ladder.push(
            Time::from_millis(1250),
            Direction::In,
            "carrier-a",
            addr(5070),
            addr(5060),
            &message,
        );
        let entry = &ladder.entries[0];
        assert_eq!(entry.offset_ms, 250);
        assert_eq!(entry.start_line, "NOTIFY sip:a@192.0.2.4 SIP/2.0");
        assert_eq!(entry.headers["Event"], "refer");
        assert_eq!(
            entry.headers["Subscription-State"],
            "terminated;reason=noresource"
        );
        assert_eq!(entry.headers["CSeq"], "73 NOTIFY");
        assert_eq!(entry.body.as_deref(), Some("SIP/2.0 403 Forbidden\r\n"));
    }

    #[test]
    fn entries_are_bounded() {
        let options = b"OPTIONS sip:x@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nTo: <sip:x@y>\r\nFrom: <sip:y@z>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let message = Message::parse(options).expect("parses");
        let mut ladder = Ladder::new(Time::from_millis(0), false);
        for _ in 0..MAX_ENTRIES + 5 {
            ladder.push(
                Time::from_millis(1),
                Direction::Out,
                "t",
                addr(1),
                addr(2),
                &message,
            );
        }
        assert_eq!(ladder.entries.len(), MAX_ENTRIES);
        assert!(ladder.truncated);
        assert!(ladder.entries[0].body.is_none());
    }
}
