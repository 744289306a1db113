//! Simulated SIP agents for the demo and the end-to-end tests: RFC 3261 text over real UDP
//! sockets, built and read with `sipwire` (the test agents' codec, written apart from handoff's
//! own SIP code so the two cannot share a bug).
//!
//! A [`Cast`] holds every agent of a scenario. Its [`Cast::wait`] polls all their sockets at
//! once, so an agent the script is not looking at still answers what it must: NOTIFY, BYE,
//! OPTIONS and in-dialog re-INVITEs are answered 200 automatically, INVITE final responses are
//! ACKed, and retransmitted requests get the stored response again. Everything else lands in
//! the agent's inbox for the script to take. RTP arriving on an agent's media socket is kept.
//! Every message sent or received goes into the agent's ladder.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipwire::Builder;

use crate::media::g711::G711Law;

/// A received SIP message: a thin wrapper over [`sipwire::Message`] with the text forms the
/// ladders print.
#[derive(Clone, Debug)]
pub struct Msg {
    pub first_line: String,
    pub body: String,
    pub message: sipwire::Message,
}

impl Msg {
    pub fn parse(bytes: &[u8]) -> Option<Msg> {
        let message = sipwire::Message::parse(bytes).ok()?;
        let first_line = std::str::from_utf8(bytes).ok()?.lines().next()?.to_owned();
        let body = String::from_utf8(message.body.clone()).ok()?;
        Some(Msg {
            first_line,
            body,
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

    pub fn is_request(&self, method: &str) -> bool {
        self.method() == Some(method)
    }

    pub fn is_response(&self, status: u16, method: &str) -> bool {
        self.status() == Some(status) && self.cseq_method() == Some(method)
    }

    pub fn method(&self) -> Option<&str> {
        self.message.method()
    }

    pub fn cseq_method(&self) -> Option<&str> {
        self.message.cseq().map(|(_, method)| method)
    }

    pub fn call_id(&self) -> &str {
        self.header("call-id").unwrap_or_default()
    }

    /// The tag parameter of a From/To value.
    pub fn tag(&self, header: &str) -> Option<String> {
        sipwire::tag(self.header(header)?).map(str::to_owned)
    }

    /// The URI of the (first) Contact.
    pub fn contact_uri(&self) -> Option<String> {
        self.message.contact_uri().map(str::to_owned)
    }

    /// Audio address and first payload type of the SDP body.
    pub fn sdp_audio(&self) -> Option<(SocketAddr, u8)> {
        let mut ip: Option<IpAddr> = None;
        let mut media = None;
        for line in self.body.lines() {
            if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                ip = c.trim().parse().ok();
            }
            if let Some(m) = line.strip_prefix("m=audio ") {
                let mut words = m.split_whitespace();
                let port: u16 = words.next()?.parse().ok()?;
                let pt: u8 = words.nth(1)?.parse().ok()?;
                media = Some((port, pt));
            }
        }
        let (port, pt) = media?;
        Some((SocketAddr::new(ip?, port), pt))
    }

    /// The sipfrag status line of a NOTIFY body ("SIP/2.0 200 OK" -> 200).
    pub fn sipfrag_status(&self) -> Option<u16> {
        let rest = self.body.trim_start().strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// One line for a ladder: request method and URI user, or status and reason.
    pub fn summary(&self) -> String {
        match self.status() {
            Some(_) => {
                let status = self.status().unwrap_or_default();
                let reason = self.message.reason().unwrap_or_default();
                format!("{status} {reason} ({})", self.cseq_method().unwrap_or("?"))
            }
            None => {
                let mut s = self.method().unwrap_or("?").to_owned();
                if let Some(refer_to) = self.header("refer-to") {
                    let _ = write!(s, " Refer-To: {refer_to}");
                } else if self.is_request("NOTIFY") {
                    let _ = write!(s, " [{}]", self.body.lines().next().unwrap_or_default());
                } else if self.is_request("INVITE") && self.tag("to").is_none() {
                    let target = self.first_line.split(' ').nth(1).unwrap_or_default();
                    let _ = write!(s, " {target}");
                }
                s
            }
        }
    }
}

/// An SDP offer or answer with one G.711 law and telephone-event.
pub fn sdp(rtp: SocketAddr, law: G711Law, direction: &str) -> String {
    let (pt, name) = (law.payload_type(), law.name());
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={direction}\r\n",
        ip = rtp.ip(),
        port = rtp.port(),
    )
}

/// One side of a dialog, as an agent sees it.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub call_id: String,
    pub local: String,
    pub remote: String,
    pub remote_target: String,
    pub cseq: u32,
    /// Where the peer (handoff) wants RTP, from its SDP.
    pub remote_rtp: Option<SocketAddr>,
}

impl Dialog {
    /// The callee's dialog from an INVITE it answered with `local_tag`.
    pub fn uas(invite: &Msg, local_tag: &str) -> Dialog {
        Dialog {
            call_id: invite.call_id().to_owned(),
            local: format!(
                "{};tag={local_tag}",
                invite.header("to").unwrap_or_default()
            ),
            remote: invite.header("from").unwrap_or_default().to_owned(),
            remote_target: invite.contact_uri().unwrap_or_default(),
            cseq: 100,
            remote_rtp: invite.sdp_audio().map(|(a, _)| a),
        }
    }

    /// The caller's dialog from the 2xx to its INVITE.
    pub fn uac(ok: &Msg, cseq: u32) -> Dialog {
        Dialog {
            call_id: ok.call_id().to_owned(),
            local: ok.header("from").unwrap_or_default().to_owned(),
            remote: ok.header("to").unwrap_or_default().to_owned(),
            remote_target: ok.contact_uri().unwrap_or_default(),
            cseq,
            remote_rtp: ok.sdp_audio().map(|(a, _)| a),
        }
    }

    pub fn remote_tag(&self) -> String {
        tag_of(&self.remote)
    }

    pub fn local_tag(&self) -> String {
        tag_of(&self.local)
    }
}

fn tag_of(value: &str) -> String {
    sipwire::tag(value).unwrap_or_default().to_owned()
}

/// One line of a ladder.
#[derive(Clone, Debug)]
pub struct Step {
    pub at: Instant,
    pub agent: &'static str,
    pub sent: bool,
    pub what: String,
}

pub struct Agent {
    pub name: &'static str,
    socket: UdpSocket,
    pub media: UdpSocket,
    pub handoff: SocketAddr,
    pub law: G711Law,
    inbox: VecDeque<Msg>,
    /// Requests answered (by Via branch + CSeq), with the response, for retransmissions.
    answered: Vec<(String, String)>,
    /// Requests already delivered to the inbox and not answered yet (retransmissions dropped).
    seen: HashSet<String>,
    /// Final responses to INVITEs already handled (retransmissions are only re-ACKed).
    finals: HashSet<String>,
    pub rtp_in: Vec<(Instant, Vec<u8>)>,
    pub ladder: Vec<Step>,
    /// The Call-ID the next [`Agent::invite`] uses (it picks the owning shard); minted if unset.
    pub next_call_id: Option<String>,
    counter: u64,
}

fn transaction_key(m: &Msg) -> String {
    let via = m.message.top_via().unwrap_or_default();
    let branch = sipwire::param(via, "branch").unwrap_or(via);
    format!("{branch}|{}", m.header("cseq").unwrap_or_default())
}

impl Agent {
    /// Binds a SIP and an RTP socket on loopback (port 0 = any).
    pub fn bind(name: &'static str, sip_port: u16, law: G711Law) -> io::Result<Agent> {
        let socket = UdpSocket::bind(("127.0.0.1", sip_port))?;
        socket.set_nonblocking(true)?;
        let media = UdpSocket::bind("127.0.0.1:0")?;
        media.set_nonblocking(true)?;
        Ok(Agent {
            name,
            socket,
            media,
            handoff: SocketAddr::from(([127, 0, 0, 1], 5060)),
            law,
            inbox: VecDeque::new(),
            answered: Vec::new(),
            seen: HashSet::new(),
            finals: HashSet::new(),
            rtp_in: Vec::new(),
            ladder: Vec::new(),
            next_call_id: None,
            counter: 0,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn rtp_addr(&self) -> SocketAddr {
        self.media
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{}-{what}-{}", self.name, self.counter)
    }

    fn send_text(&mut self, text: &str) -> io::Result<()> {
        if let Some(m) = Msg::parse(text.as_bytes()) {
            self.ladder.push(Step {
                at: Instant::now(),
                agent: self.name,
                sent: true,
                what: m.summary(),
            });
        }
        self.socket.send_to(text.as_bytes(), self.handoff)?;
        Ok(())
    }

    /// `builder` with `body` of `content_type` (none when empty), as text.
    fn with_body(builder: Builder, content_type: &str, body: &str) -> String {
        let builder = if body.is_empty() {
            builder
        } else {
            builder.body(content_type, body)
        };
        String::from_utf8(builder.build()).unwrap_or_default()
    }

    /// Sends a new INVITE (with an SDP offer in the agent's law) to `user` at handoff. Returns
    /// its Call-ID.
    pub fn invite(&mut self, user: &str, extra: &[(&str, &str)]) -> io::Result<String> {
        let call_id = match self.next_call_id.take() {
            Some(id) => id,
            None => self.fresh("call"),
        };
        let tag = self.fresh("tag");
        let branch = self.fresh("br");
        let me = self.addr();
        let handoff = self.handoff;
        let mut head = Builder::request("INVITE", &format!("sip:{user}@{handoff}"))
            .header(
                "Via",
                format!("SIP/2.0/UDP {me};branch=z9hG4bK-{branch};rport"),
            )
            .header("Max-Forwards", "70")
            .header("From", format!("<sip:+15551230000@{me}>;tag={tag}"))
            .header("To", format!("<sip:{user}@{handoff}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:{}@{me}>", self.name));
        for (name, value) in extra {
            head = head.header(name, value);
        }
        let body = sdp(self.rtp_addr(), self.law, "sendrecv");
        let text = Self::with_body(head, "application/sdp", &body);
        self.send_text(&text)?;
        Ok(call_id)
    }

    /// Answers `request`; a To without tag gets `to_tag`. The response is kept for
    /// retransmissions of the request.
    pub fn respond(
        &mut self,
        request: &Msg,
        status: u16,
        reason: &str,
        to_tag: &str,
        body: Option<(&str, &str)>,
    ) -> io::Result<()> {
        let mut head = Builder::response_to(&request.message, status, reason);
        if status != 100 {
            head = head.to_tag(to_tag);
        }
        let me = self.addr();
        let head = head.header("Contact", format!("<sip:{}@{me}>", self.name));
        let (content_type, body) = body.unwrap_or(("", ""));
        let text = Self::with_body(head, content_type, body);
        if status >= 200 {
            let key = transaction_key(request);
            self.answered.push((key, text.clone()));
        }
        self.send_text(&text)
    }

    /// 200 OK with an SDP answer in the agent's law.
    pub fn answer(&mut self, invite: &Msg, to_tag: &str) -> io::Result<Dialog> {
        let body = sdp(self.rtp_addr(), self.law, "sendrecv");
        self.respond(invite, 200, "OK", to_tag, Some(("application/sdp", &body)))?;
        Ok(Dialog::uas(invite, to_tag))
    }

    /// An in-dialog request (BYE, REFER, NOTIFY, re-INVITE...).
    pub fn request(
        &mut self,
        dialog: &mut Dialog,
        method: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> io::Result<()> {
        dialog.cseq += 1;
        let branch = self.fresh("br");
        let me = self.addr();
        let mut head = Builder::request(method, &dialog.remote_target)
            .header(
                "Via",
                format!("SIP/2.0/UDP {me};branch=z9hG4bK-{branch};rport"),
            )
            .header("Max-Forwards", "70")
            .header("From", &dialog.local)
            .header("To", &dialog.remote)
            .header("Call-ID", &dialog.call_id)
            .header("CSeq", format!("{} {method}", dialog.cseq))
            .header("Contact", format!("<sip:{}@{me}>", self.name));
        for (name, value) in extra {
            head = head.header(name, value);
        }
        let (content_type, body) = body.unwrap_or(("", ""));
        let text = Self::with_body(head, content_type, body);
        self.send_text(&text)
    }

    /// ACK for a final response to an INVITE: a new transaction for 2xx, the INVITE's branch
    /// otherwise.
    fn ack(&mut self, response: &Msg) -> io::Result<()> {
        let me = self.addr();
        let cseq = response.message.cseq().map_or(1, |(seq, _)| seq);
        let (target, via) = if response.status().is_some_and(|s| s < 300) {
            let branch = self.fresh("ack");
            (
                response
                    .contact_uri()
                    .unwrap_or_else(|| format!("sip:{}", self.handoff)),
                format!("SIP/2.0/UDP {me};branch=z9hG4bK-{branch};rport"),
            )
        } else {
            (
                format!("sip:{}", self.handoff),
                response.header("via").unwrap_or_default().to_owned(),
            )
        };
        let head = Builder::request("ACK", &target)
            .header("Via", via)
            .header("Max-Forwards", "70")
            .header("From", response.header("from").unwrap_or_default())
            .header("To", response.header("to").unwrap_or_default())
            .header("Call-ID", response.call_id())
            .header("CSeq", format!("{cseq} ACK"));
        let text = Self::with_body(head, "", "");
        self.send_text(&text)
    }

    /// Reads everything waiting on the agent's sockets, answering what it answers by itself.
    pub fn poll(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 65536];
        loop {
            match self.media.recv_from(&mut buf) {
                Ok((n, _)) => self.rtp_in.push((Instant::now(), buf[..n].to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        loop {
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            let Some(m) = Msg::parse(&buf[..n]) else {
                continue;
            };
            self.on_message(m)?;
        }
    }

    fn on_message(&mut self, m: Msg) -> io::Result<()> {
        let key = transaction_key(&m);
        if m.method().is_some() && m.method() != Some("ACK") {
            if let Some((_, text)) = self.answered.iter().find(|(k, _)| *k == key) {
                let text = text.clone();
                return self
                    .socket
                    .send_to(text.as_bytes(), self.handoff)
                    .map(|_| ());
            }
            if !self.seen.insert(key) {
                return Ok(());
            }
        }
        if m.status() == Some(100) {
            return Ok(());
        }
        if m.status().is_some() && m.cseq_method() == Some("INVITE") && m.status() >= Some(200) {
            let final_key = format!(
                "{}|{}|{:?}",
                m.call_id(),
                m.header("cseq").unwrap_or_default(),
                m.tag("to")
            );
            if !self.finals.insert(final_key) {
                // A retransmitted final response: our ACK was lost.
                return self.ack(&m);
            }
            self.ladder.push(Step {
                at: Instant::now(),
                agent: self.name,
                sent: false,
                what: m.summary(),
            });
            self.ack(&m)?;
            self.inbox.push_back(m);
            return Ok(());
        }
        self.ladder.push(Step {
            at: Instant::now(),
            agent: self.name,
            sent: false,
            what: m.summary(),
        });
        match m.method() {
            Some("NOTIFY" | "BYE" | "OPTIONS" | "INFO" | "UPDATE") => {
                self.respond(&m, 200, "OK", "auto", None)?;
            }
            Some("INVITE") if m.tag("to").is_some() => {
                // A re-INVITE (hold, codec change): accept in the law offered when it is G.711.
                let law = m
                    .sdp_audio()
                    .and_then(|(_, pt)| G711Law::from_payload_type(pt))
                    .unwrap_or(self.law);
                let body = sdp(self.rtp_addr(), law, "sendrecv");
                self.respond(&m, 200, "OK", "auto", Some(("application/sdp", &body)))?;
            }
            _ => {}
        }
        self.inbox.push_back(m);
        Ok(())
    }

    /// Whether the inbox holds a message `want` accepts (it stays there).
    pub fn has(&self, want: &dyn Fn(&Msg) -> bool) -> bool {
        self.inbox.iter().any(want)
    }

    /// Removes and returns the first inbox message `want` accepts.
    pub fn take(&mut self, want: &dyn Fn(&Msg) -> bool) -> Option<Msg> {
        let i = self.inbox.iter().position(want)?;
        self.inbox.remove(i)
    }

    /// Sends one 20 ms G.711 RTP packet to `to`.
    pub fn send_rtp(&self, to: SocketAddr, ssrc: u32, seq: u16, payload: &[u8]) -> io::Result<()> {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.extend([0x80, self.law.payload_type()]);
        p.extend(seq.to_be_bytes());
        p.extend((u32::from(seq) * 160).to_be_bytes());
        p.extend(ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.media.send_to(&p, to)?;
        Ok(())
    }
}

/// Why a scripted flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{agent}: waited {waited:?} for {what}; inbox had: {inbox:?}")]
    Timeout {
        agent: &'static str,
        what: String,
        waited: Duration,
        inbox: Vec<String>,
    },
    #[error("{agent}: socket error: {source}")]
    Io {
        agent: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Unexpected(String),
}

/// The agents of one scenario, polled together.
pub struct Cast {
    pub agents: Vec<Agent>,
}

impl Cast {
    pub fn poll(&mut self) -> Result<(), FlowError> {
        for agent in &mut self.agents {
            let name = agent.name;
            agent.poll().map_err(|source| FlowError::Io {
                agent: name,
                source,
            })?;
        }
        Ok(())
    }

    /// Polls every agent until agent `who` has a message `want` accepts.
    pub fn wait(
        &mut self,
        who: usize,
        what: &str,
        within: Duration,
        want: impl Fn(&Msg) -> bool,
    ) -> Result<Msg, FlowError> {
        let deadline = Instant::now() + within;
        loop {
            self.poll()?;
            if let Some(m) = self.agents[who].take(&want) {
                return Ok(m);
            }
            if Instant::now() >= deadline {
                return Err(FlowError::Timeout {
                    agent: self.agents[who].name,
                    what: what.to_owned(),
                    waited: within,
                    inbox: self.agents[who]
                        .inbox
                        .iter()
                        .map(|m| m.first_line.clone())
                        .collect(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Keeps every agent answering for `duration`.
    pub fn idle(&mut self, duration: Duration) -> Result<(), FlowError> {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            self.poll()?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Keeps every agent answering until `done` holds (true) or `within` passed (false).
    pub fn idle_until(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&Cast) -> bool,
    ) -> Result<bool, FlowError> {
        let deadline = Instant::now() + within;
        loop {
            self.poll()?;
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether agent `who` received a request or response `want` accepts within `within`.
    pub fn arrives(
        &mut self,
        who: usize,
        within: Duration,
        want: impl Fn(&Msg) -> bool,
    ) -> Result<bool, FlowError> {
        match self.wait(who, "", within, want) {
            Ok(_) => Ok(true),
            Err(FlowError::Timeout { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The ladders of all agents since `since`, merged in time order.
    pub fn ladder_since(&self, since: Instant) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .agents
            .iter()
            .flat_map(|a| a.ladder.iter().filter(|s| s.at >= since).cloned())
            .collect();
        steps.sort_by_key(|s| s.at);
        steps
    }
}

impl std::ops::Index<usize> for Cast {
    type Output = Agent;
    fn index(&self, i: usize) -> &Agent {
        &self.agents[i]
    }
}

impl std::ops::IndexMut<usize> for Cast {
    fn index_mut(&mut self, i: usize) -> &mut Agent {
        &mut self.agents[i]
    }
}

/// Renders a ladder: time, agent, arrow to or from handoff, message.
pub fn render_ladder(steps: &[Step], origin: Instant) -> String {
    let mut out = String::new();
    for step in steps {
        let ms = step.at.saturating_duration_since(origin).as_millis();
        let (left, arrow) = if step.sent {
            (step.agent, "───>")
        } else {
            (step.agent, "<───")
        };
        let _ = writeln!(
            out,
            "  {ms:>6} ms  {left:>10} {arrow} handoff   {}",
            step.what
        );
    }
    out
}
