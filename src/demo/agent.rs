//! The demo's and the end-to-end tests' driver of the one SIP test agent,
//! [`sipwire::agent::Agent`], over real UDP sockets and the wall clock (in the release binary:
//! `handoff demo`). The agent does the SIP (transactions, retransmissions, ACKs, dialogs,
//! automatic answers), built and read with `sipwire`, written apart from handoff's own SIP code
//! so the two cannot share a bug; this module moves its datagrams, wakes it on its deadlines,
//! keeps an inbox of [`Msg`]s and a ladder for the scripts, and owns the RTP socket.
//!
//! A [`Cast`] holds every agent of a scenario. Its [`Cast::wait`] polls all their sockets at
//! once, so an agent the script is not looking at still answers what it must: NOTIFY, BYE,
//! OPTIONS, INFO, UPDATE and in-dialog re-INVITEs are answered 200 automatically (a re-INVITE in
//! the G.711 law it offers), INVITE final responses are ACKed, and retransmitted requests get
//! the stored response again. Every new request and every response but 100 lands in the agent's
//! inbox for the script to take. RTP arriving on an agent's media socket is kept. Every message
//! sent (once, not its retransmissions) or received goes into the agent's ladder.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipwire::agent::{self as sip_agent, DialogId, Event, RequestId, Timers, UaDialogState};

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
        sip_agent::sdp_audio(&self.message.body)
    }

    /// The sipfrag status line of a NOTIFY body ("SIP/2.0 200 OK" -> 200).
    pub fn sipfrag_status(&self) -> Option<u16> {
        sip_agent::sipfrag_status(&self.message.body)
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
    let name = format!("{}/8000", law.name());
    sip_agent::AudioSdp {
        origin: "- 1 1",
        ip: &rtp.ip().to_string(),
        port: rtp.port(),
        formats: &[(law.payload_type(), &name)],
        events: "0-15",
        direction,
    }
    .text()
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

/// Requests the agent answers 200 by itself (besides BYE and CANCEL, which it always answers).
const AUTO_OK: [&str; 4] = ["NOTIFY", "OPTIONS", "INFO", "UPDATE"];

pub struct Agent {
    pub name: &'static str,
    socket: UdpSocket,
    pub media: UdpSocket,
    pub handoff: SocketAddr,
    pub law: G711Law,
    /// The SIP agent this drives.
    ua: sip_agent::Agent,
    /// The agent's time origin.
    origin: Instant,
    /// Deadlines the agent asked for, not yet come.
    wakeups: Vec<sip_agent::Time>,
    inbox: VecDeque<Msg>,
    /// Requests delivered to the inbox (by Via branch + CSeq), for [`Agent::respond`].
    requests: HashMap<String, RequestId>,
    /// Datagrams sent so far: a retransmission goes out again but not into the ladder.
    sent: HashSet<Vec<u8>>,
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

fn io_other(what: String) -> io::Error {
    io::Error::other(what)
}

impl Agent {
    /// Binds a SIP and an RTP socket on loopback (port 0 = any).
    pub fn bind(name: &'static str, sip_port: u16, law: G711Law) -> io::Result<Agent> {
        let socket = UdpSocket::bind(("127.0.0.1", sip_port))?;
        socket.set_nonblocking(true)?;
        let media = UdpSocket::bind("127.0.0.1:0")?;
        media.set_nonblocking(true)?;
        let handoff = SocketAddr::from(([127, 0, 0, 1], 5060));
        let seed = u64::from(socket.local_addr()?.port()) ^ u64::from(std::process::id()) << 16;
        let mut ua =
            sip_agent::Agent::new(name, socket.local_addr()?, handoff, Timers::default(), seed);
        ua.from_user = Some("+15551230000".to_owned());
        ua.auto_ok = AUTO_OK.iter().map(|m| m.to_string()).collect();
        Ok(Agent {
            name,
            socket,
            media,
            handoff,
            law,
            ua,
            origin: Instant::now(),
            wakeups: Vec::new(),
            inbox: VecDeque::new(),
            requests: HashMap::new(),
            sent: HashSet::new(),
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

    fn now(&self) -> sip_agent::Time {
        let ns = self.origin.elapsed().as_nanos();
        sip_agent::Time(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Brings the agent's clock and peer up to date before the script acts through it.
    fn prepare(&mut self) {
        let now = self.now();
        self.ua.set_now(now);
        self.ua.sbc = self.handoff;
    }

    fn record(&mut self, sent: bool, m: &Msg) {
        self.ladder.push(Step {
            at: Instant::now(),
            agent: self.name,
            sent,
            what: m.summary(),
        });
    }

    /// Acts on what the agent reported and sends what it wants sent.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(event) = self.ua.poll_event() {
            match event {
                Event::Request(id) => {
                    self.ua.take_request_id(id);
                    let incoming = self.ua.incoming(id);
                    let answered = incoming.answered;
                    let Some(m) = Msg::parse(&incoming.bytes) else {
                        continue;
                    };
                    self.record(false, &m);
                    self.requests.insert(transaction_key(&m), id);
                    if m.is_request("INVITE") && m.tag("to").is_some() && !answered {
                        // A re-INVITE (hold, codec change): accept in the law offered when it is
                        // G.711.
                        let law = m
                            .sdp_audio()
                            .and_then(|(_, pt)| G711Law::from_payload_type(pt))
                            .unwrap_or(self.law);
                        let body = sdp(self.rtp_addr(), law, "sendrecv");
                        self.ua.answer(id, 200, Some(body.into_bytes()));
                    }
                    self.inbox.push_back(m);
                }
                Event::Response(index) => {
                    let Some(seen) = self.ua.responses.get(index) else {
                        continue;
                    };
                    if seen.status == 100 {
                        continue;
                    }
                    let Some(m) = Msg::parse(&seen.bytes) else {
                        continue;
                    };
                    self.record(false, &m);
                    self.inbox.push_back(m);
                }
                Event::Ack { bytes, .. } => {
                    if let Some(m) = Msg::parse(&bytes) {
                        self.record(false, &m);
                        self.inbox.push_back(m);
                    }
                }
                Event::Timeout(_) => {}
            }
        }
        for (to, bytes) in self.ua.take_outbox() {
            if self.sent.insert(bytes.clone())
                && let Some(m) = Msg::parse(&bytes)
            {
                self.record(true, &m);
            }
            self.socket.send_to(&bytes, to)?;
        }
        self.wakeups.extend(self.ua.take_wakeups());
        Ok(())
    }

    /// Sends a new INVITE (with an SDP offer in the agent's law) to `user` at handoff. Returns
    /// its Call-ID.
    pub fn invite(&mut self, user: &str, extra: &[(&str, &str)]) -> io::Result<String> {
        let call_id = match self.next_call_id.take() {
            Some(id) => id,
            None => self.fresh("call"),
        };
        self.prepare();
        self.ua.next_call_id = Some(call_id.clone());
        let body = sdp(self.rtp_addr(), self.law, "sendrecv");
        self.ua.invite_with(user, Some(body.into_bytes()), extra);
        self.flush()?;
        Ok(call_id)
    }

    /// Answers `request`; a To without tag gets `to_tag` (the dialog's tag from then on). A
    /// final response is repeated for retransmissions of the request (a 2xx to an INVITE until
    /// the ACK).
    pub fn respond(
        &mut self,
        request: &Msg,
        status: u16,
        reason: &str,
        to_tag: &str,
        body: Option<(&str, &str)>,
    ) -> io::Result<()> {
        self.prepare();
        let Some(&id) = self.requests.get(&transaction_key(request)) else {
            return Err(io_other(format!(
                "{}: no request {:?} to answer",
                self.name, request.first_line
            )));
        };
        if let Some(dialog) = self.ua.incoming(id).dialog
            && request.tag("to").is_none()
            && !to_tag.is_empty()
        {
            let to = request.header("to").unwrap_or_default().to_owned();
            let d = self.ua.dialog_mut(dialog);
            if !d.is_uac && d.state == UaDialogState::Early {
                d.local_tag = to_tag.to_owned();
                d.local_party = format!("{to};tag={to_tag}");
            }
        }
        let body = body.map(|(content_type, body)| (content_type, body.as_bytes().to_vec()));
        self.ua.respond(id, status, reason, body, &[]);
        self.flush()
    }

    /// 200 OK with an SDP answer in the agent's law.
    pub fn answer(&mut self, invite: &Msg, to_tag: &str) -> io::Result<Dialog> {
        let body = sdp(self.rtp_addr(), self.law, "sendrecv");
        self.respond(invite, 200, "OK", to_tag, Some(("application/sdp", &body)))?;
        Ok(Dialog::uas(invite, to_tag))
    }

    /// The agent's dialog `dialog` stands for (same Call-ID and local tag).
    fn dialog_id(&self, dialog: &Dialog) -> Option<DialogId> {
        let local_tag = dialog.local_tag();
        self.ua
            .dialogs()
            .iter()
            .position(|d| d.call_id == dialog.call_id && d.local_tag == local_tag)
            .map(DialogId)
    }

    /// An in-dialog request (BYE, REFER, NOTIFY, re-INVITE...) with the dialog's next CSeq.
    pub fn request(
        &mut self,
        dialog: &mut Dialog,
        method: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> io::Result<()> {
        self.prepare();
        let Some(id) = self.dialog_id(dialog) else {
            return Err(io_other(format!(
                "{}: no dialog {} to send {method} in",
                self.name, dialog.call_id
            )));
        };
        {
            let d = self.ua.dialog_mut(id);
            d.local_cseq = dialog.cseq;
            d.remote_target = dialog.remote_target.clone();
        }
        let body = body.map(|(content_type, body)| (content_type, body.as_bytes().to_vec()));
        self.ua.request(id, method, body, extra);
        dialog.cseq = self.ua.dialog(id).local_cseq;
        self.flush()
    }

    /// Reads everything waiting on the agent's sockets, answering what it answers by itself,
    /// and wakes the agent when one of its deadlines has come.
    pub fn poll(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 65536];
        loop {
            match self.media.recv_from(&mut buf) {
                Ok((n, _)) => self.rtp_in.push((Instant::now(), buf[..n].to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.prepare();
        let now = self.now();
        if self.wakeups.iter().any(|at| *at <= now) {
            self.wakeups.retain(|at| *at > now);
            self.ua.on_wake(now);
        }
        loop {
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            self.ua.on_datagram(now, from, &buf[..n]);
            self.flush()?;
        }
        self.flush()
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
