//! A deliberately small SIP user agent for the runtime tests: plain RFC 3261 text over a real
//! UDP socket, independent of handoff's own SIP code so the two cannot share a bug.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Msg {
    pub first_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub raw: String,
}

fn long_name(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "v" => "via".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "i" => "call-id".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        other => other.into(),
    }
}

impl Msg {
    pub fn parse(bytes: &[u8]) -> Option<Msg> {
        let raw = String::from_utf8(bytes.to_vec()).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let first_line = lines.next()?.to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (long_name(n.trim()), v.trim().to_owned()))
            .collect();
        Some(Msg {
            first_line,
            headers,
            body: body.to_owned(),
            raw: raw.clone(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = long_name(name);
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = long_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn status(&self) -> Option<u16> {
        let rest = self.first_line.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    pub fn method(&self) -> Option<&str> {
        if self.first_line.starts_with("SIP/2.0") {
            return None;
        }
        self.first_line.split(' ').next()
    }

    pub fn cseq_method(&self) -> Option<&str> {
        self.header("cseq")?.split_whitespace().nth(1)
    }

    /// The tag parameter of a From/To value.
    pub fn tag(&self, header: &str) -> Option<String> {
        let v = self.header(header)?;
        let i = v.find(";tag=")?;
        Some(v[i + 5..].split([';', '>', ' ']).next()?.to_owned())
    }

    /// The URI inside Contact's angle brackets.
    pub fn contact_uri(&self) -> Option<String> {
        let v = self.header("contact")?;
        let start = v.find('<')? + 1;
        let end = v[start..].find('>')? + start;
        Some(v[start..end].to_owned())
    }

    /// The audio destination the SDP announces (session or media c=, m=audio port).
    pub fn sdp_audio(&self) -> Option<SocketAddr> {
        let mut ip: Option<IpAddr> = None;
        let mut port = None;
        for line in self.body.lines() {
            if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                ip = c.trim().parse().ok();
            }
            if let Some(m) = line.strip_prefix("m=audio ") {
                port = m.split(' ').next()?.parse().ok();
            }
        }
        Some(SocketAddr::new(ip?, port?))
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
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    )
}

fn with_body(head: String, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
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
    with_body(
        format!(
            "{method} sip:{user}@{handoff} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {ua};branch=z9hG4bK-{call_id}-{cseq}-{method}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:+15551230000@{ua}>;tag={from_tag}\r\n\
             To: <sip:{user}@{handoff}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:ua@{ua}>\r\n"
        ),
        body,
    )
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
    with_body(
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {ua};branch=z9hG4bK-{branch}\r\n\
             Max-Forwards: 70\r\n\
             From: {from}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:ua@{ua}>\r\n"
        ),
        "",
    )
}

/// A response to `req`, adding `to_tag` to To when it has none.
pub fn response(
    req: &Msg,
    code: u16,
    reason: &str,
    to_tag: &str,
    ua: SocketAddr,
    body: &str,
) -> String {
    let mut head = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.all("via") {
        head.push_str(&format!("Via: {via}\r\n"));
    }
    let to = req.header("to").unwrap_or_default();
    let to = if to.contains(";tag=") || code == 100 {
        to.to_owned()
    } else {
        format!("{to};tag={to_tag}")
    };
    head.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:ua@{ua}>\r\n",
        req.header("from").unwrap_or_default(),
        req.header("call-id").unwrap_or_default(),
        req.header("cseq").unwrap_or_default(),
    ));
    with_body(head, body)
}
