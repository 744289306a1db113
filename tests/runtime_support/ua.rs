//! The runtime tests' driver of the one SIP test agent (`sipwire::agent`) over real UDP sockets.
//! These tests script every message by hand (they check how handoff treats exact messages,
//! retransmissions and strangers), so they use the agent's message construction — the request
//! head of RFC 3261 section 8.1.1, responses per section 8.2.6 — and its readers, not its
//! automatic transactions. Everything is built and read with `sipwire`, independent of
//! handoff's own SIP code so the two cannot share a bug.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipwire::Builder;
use sipwire::agent::{RequestHead, via};

/// A received SIP message: a thin wrapper over [`sipwire::Message`] with the text forms the
/// tests print.
#[derive(Clone, Debug)]
pub struct Msg {
    pub first_line: String,
    pub body: String,
    pub raw: String,
    pub message: sipwire::Message,
}

impl Msg {
    pub fn parse(bytes: &[u8]) -> Option<Msg> {
        let message = sipwire::Message::parse(bytes).ok()?;
        let raw = String::from_utf8(bytes.to_vec()).ok()?;
        let first_line = raw.lines().next()?.to_owned();
        let body = String::from_utf8(message.body.clone()).ok()?;
        Some(Msg {
            first_line,
            body,
            raw,
            message,
        })
    }

    /// First value of header `name` (case-insensitive, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.header(name)
    }

    /// Every header line named `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.message.headers_named(name).collect()
    }

    pub fn status(&self) -> Option<u16> {
        self.message.status()
    }

    pub fn method(&self) -> Option<&str> {
        self.message.method()
    }

    pub fn cseq_method(&self) -> Option<&str> {
        self.message.cseq().map(|(_, method)| method)
    }

    /// The tag parameter of a From/To value.
    pub fn tag(&self, header: &str) -> Option<String> {
        sipwire::tag(self.header(header)?).map(str::to_owned)
    }

    /// The URI of the (first) Contact.
    pub fn contact_uri(&self) -> Option<String> {
        self.message.contact_uri().map(str::to_owned)
    }

    /// The audio destination the SDP announces (session or media c=, m=audio port).
    pub fn sdp_audio(&self) -> Option<SocketAddr> {
        sipwire::agent::sdp_audio(self.body.as_bytes()).map(|(addr, _)| addr)
    }
}

pub struct Ua {
    pub socket: UdpSocket,
    pub name: &'static str,
}

impl Ua {
    pub fn new(socket: UdpSocket, name: &'static str) -> Ua {
        Ua { socket, name }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    pub fn send(&self, to: SocketAddr, text: &str) {
        self.socket.send_to(text.as_bytes(), to).unwrap();
    }

    /// Next SIP message that satisfies `want`, skipping others (100 Trying, retransmissions).
    pub fn expect(
        &self,
        what: &str,
        within: Duration,
        want: impl Fn(&Msg) -> bool,
    ) -> (Msg, SocketAddr) {
        let deadline = Instant::now() + within;
        let mut skipped = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let Ok((n, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            match Msg::parse(&buf[..n]) {
                Some(m) if want(&m) => return (m, from),
                Some(m) => skipped.push(m.first_line),
                None => skipped.push(format!("<{n} bytes unparsable>")),
            }
        }
        panic!(
            "{}: no {what} within {within:?}; skipped: {skipped:?}",
            self.name
        );
    }

    /// Nothing matching `unwanted` arrives within `within`.
    pub fn expect_none(&self, within: Duration, unwanted: impl Fn(&Msg) -> bool) {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            if let Ok((n, _)) = self.socket.recv_from(&mut buf)
                && let Some(m) = Msg::parse(&buf[..n])
            {
                assert!(!unwanted(&m), "{}: unexpected {}", self.name, m.first_line);
            }
        }
    }
}

pub fn sdp(rtp_port: u16) -> String {
    sipwire::agent::AudioSdp {
        origin: "- 1 1",
        ip: "127.0.0.1",
        port: rtp_port,
        formats: &[(0, "PCMU/8000")],
        events: "0-15",
        direction: "sendrecv",
    }
    .text()
}

/// `builder` with `body` as application/sdp (none when empty), as text.
fn with_body(builder: Builder, body: &str) -> String {
    let builder = if body.is_empty() {
        builder
    } else {
        builder.body("application/sdp", body)
    };
    String::from_utf8(builder.build()).unwrap_or_default()
}

/// An out-of-dialog request from `ua` to handoff.
#[allow(clippy::too_many_arguments)]
pub fn request(
    method: &str,
    ua: SocketAddr,
    handoff: SocketAddr,
    user: &str,
    call_id: &str,
    from_tag: &str,
    cseq: u32,
    body: &str,
) -> String {
    let uri = format!("sip:{user}@{handoff}");
    let via = via(ua, &format!("z9hG4bK-{call_id}-{cseq}-{method}"));
    let from = format!("<sip:+15551230000@{ua}>;tag={from_tag}");
    let to = format!("<sip:{user}@{handoff}>");
    let contact = format!("<sip:ua@{ua}>");
    let head = RequestHead {
        method,
        uri: &uri,
        via: &via,
        from: &from,
        to: &to,
        call_id,
        cseq,
        contact: Some(&contact),
    };
    with_body(head.builder(), body)
}

/// An in-dialog request (ACK, BYE...) to `target` (the peer's Contact URI).
#[allow(clippy::too_many_arguments)]
pub fn in_dialog(
    method: &str,
    target: &str,
    ua: SocketAddr,
    call_id: &str,
    from: &str,
    to: &str,
    cseq: u32,
    branch: &str,
) -> String {
    let via = via(ua, &format!("z9hG4bK-{branch}"));
    let contact = format!("<sip:ua@{ua}>");
    let head = RequestHead {
        method,
        uri: target,
        via: &via,
        from,
        to,
        call_id,
        cseq,
        contact: Some(&contact),
    };
    with_body(head.builder(), "")
}

/// A response to `req`, adding `to_tag` to To when it has none (not on a 100).
pub fn response(
    req: &Msg,
    code: u16,
    reason: &str,
    to_tag: &str,
    ua: SocketAddr,
    body: &str,
) -> String {
    let contact = format!("<sip:ua@{ua}>");
    let builder =
        sipwire::agent::response(&req.message, code, reason, Some(to_tag), Some(&contact));
    with_body(builder, body)
}
