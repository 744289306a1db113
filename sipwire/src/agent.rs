//! The one SIP test agent: a sans-IO user agent (UAC and UAS) that every test driver of handoff
//! runs — the deterministic simulation (`handoff::sim`, on its virtual clock and network), the
//! real-binary tests (`tests/runtime_support`, over UDP sockets) and `handoff demo` (over UDP,
//! in the release binary).
//!
//! # Sans-IO
//!
//! The agent never reads a clock or touches a socket. A driver feeds it
//! [`Agent::on_datagram`] (bytes, source address, the current [`Time`]) and [`Agent::on_wake`]
//! (a deadline it asked for has come), and drains what it wants done:
//!
//! | out | drained with |
//! | --- | --- |
//! | datagrams to send `(to, bytes)` | [`Agent::take_outbox`] / [`Agent::poll_transmit`] |
//! | wake-up deadlines | [`Agent::take_wakeups`] (a wake-up with nothing due is harmless) |
//! | events (a new request, a response, a transaction timeout) | [`Agent::poll_event`] |
//!
//! Scripts act on it directly: [`Agent::invite`], [`Agent::request`] (any in-dialog request),
//! [`Agent::answer`] / [`Agent::respond`], [`Agent::cancel`], [`Agent::options`],
//! [`Agent::send_raw`]. [`Time`] is nanoseconds since the driver's origin; identifiers (Call-ID,
//! tags, branches) come from a seeded PRNG, so a simulation replays exactly.
//!
//! # What it does (RFC 3261, a transactions-lite layer)
//!
//! - UAC: a request is retransmitted from T1, doubling (INVITE, section 17.1.1.2, Timer A) or
//!   doubling up to T2 (non-INVITE, 17.1.2.2, Timer E), until a response stops it (any response
//!   for INVITE, a final for the others); without one it times out after 64*T1 (Timer B/F). A 2xx
//!   to an INVITE is ACKed in a new transaction: new branch, the 2xx's To tag, sent to the remote
//!   target (13.2.2.4); a non-2xx final is ACKed with the INVITE's branch (17.1.1.3). A
//!   retransmitted final is ACKed again (the same ACK).
//! - UAS: a retransmitted request gets the last response again and is not delivered twice
//!   (17.2); a 2xx to an INVITE is retransmitted from T1, doubling up to T2, until the ACK
//!   arrives or 64*T1 passes (13.3.1.4). Responses copy Via, From, To, Call-ID and CSeq and add
//!   the dialog's To tag (8.2.6). BYE is answered 200 (481 outside a dialog); CANCEL is answered
//!   200 and its INVITE 487 (when not yet answered, 9.2); in-dialog re-INVITEs and UPDATEs are
//!   answered with [`Agent::auto_answer_sdp`] when set; methods in [`Agent::auto_ok`] are
//!   answered 200. Every other new request waits in the inbox for the script.
//! - Dialogs (12): the UAC's from the first 1xx/2xx with a To tag, its remote target from the
//!   2xx's Contact; the UAS's from the INVITE (tag minted here). In-dialog requests take the next
//!   local CSeq (12.2.1.1).
//!
//! # Independent of handoff
//!
//! Like the codec it is built on, the agent shares no code with handoff (no `handoff::sip`,
//! `sdp` or `transfer`): what it sends and what it expects is written here from the RFC text, so
//! a bug in handoff's SIP code cannot be hidden by the same bug in the agent that checks it. The
//! values scripts put in Replaces, Target-Dialog or Refer-To are literal strings in the scripts.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::{Builder, Message};

/// Nanoseconds since the driver's origin (a virtual clock in a simulation, an `Instant` origin
/// over real sockets).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    /// Never (a deadline that does not come).
    pub const NEVER: Time = Time(u64::MAX);

    pub const fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(1_000_000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    pub const fn plus_millis(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms.saturating_mul(1_000_000)))
    }
}

/// RFC 3261's T1 and T2 (section 17.1.1.1, table 4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timers {
    pub t1_ms: u64,
    pub t2_ms: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1_ms: 500,
            t2_ms: 4000,
        }
    }
}

/// splitmix64: the agent's identifiers (Call-ID, tags, branches) from a seed.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A reason phrase for the statuses the agents send (any other gets "Whatever": the phrase
/// carries no meaning, RFC 3261 section 21).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Whatever",
    }
}

// ---------------------------------------------------------------------------------------------
// Message construction (also used directly by drivers that script every message by hand).

/// A Via value for UDP: `SIP/2.0/UDP sent-by;branch=...` (RFC 3261 section 8.1.1.7).
pub fn via(sent_by: impl std::fmt::Display, branch: &str) -> String {
    format!("SIP/2.0/UDP {sent_by};branch={branch}")
}

/// The header fields every request carries (RFC 3261 section 8.1.1): Via, Max-Forwards 70,
/// From, To, Call-ID, CSeq (`cseq method`), and a Contact when given, in that order. Further
/// headers and a body are added to the returned [`Builder`].
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    /// The whole Via value (see [`via`]).
    pub via: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub contact: Option<&'a str>,
}

impl RequestHead<'_> {
    pub fn builder(&self) -> Builder {
        let builder = Builder::request(self.method, self.uri)
            .header("Via", self.via)
            .header("Max-Forwards", "70")
            .header("From", self.from)
            .header("To", self.to)
            .header("Call-ID", self.call_id)
            .header("CSeq", format!("{} {}", self.cseq, self.method));
        match self.contact {
            Some(contact) => builder.header("Contact", contact),
            None => builder,
        }
    }
}

/// A response to `request` (RFC 3261 section 8.2.6): Via, From, To, Call-ID and CSeq copied;
/// `to_tag` added to a To without a tag (never on a 100, section 8.2.6.2); then a Contact when
/// given.
pub fn response(
    request: &Message,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<&str>,
) -> Builder {
    let mut builder = Builder::response_to(request, status, reason);
    if status != 100
        && let Some(tag) = to_tag
    {
        builder = builder.to_tag(tag);
    }
    match contact {
        Some(contact) => builder.header("Contact", contact),
        None => builder,
    }
}

/// The ACK for a non-2xx final response to an INVITE (RFC 3261 section 17.1.1.3): the INVITE's
/// Request-URI, Call-ID, From and top Via (so the same branch), the response's To (with its
/// tag), CSeq number of the INVITE with method ACK.
pub fn ack_for_failure(
    invite_uri: &str,
    invite_via: &str,
    from: &str,
    response: &Message,
    call_id: &str,
    cseq: u32,
) -> Builder {
    RequestHead {
        method: "ACK",
        uri: invite_uri,
        via: invite_via,
        from,
        to: response.header("To").unwrap_or_default(),
        call_id,
        cseq,
        contact: None,
    }
    .builder()
}

/// An audio SDP body as the agents offer and answer (RFC 4566, RFC 3264 section 5): one
/// `m=audio` with static payload types and their rtpmap, then telephone-event on 101 (RFC 4733)
/// and a direction attribute. Enough SDP for a test agent; not a generator of handoff's kind.
pub struct AudioSdp<'a> {
    /// The `o=` line's username, session id and version (`- 1 1`).
    pub origin: &'a str,
    /// The address in `o=` and `c=` (IPv4).
    pub ip: &'a str,
    pub port: u16,
    /// (payload type, `encoding/clock rate`), e.g. `(0, "PCMU/8000")`.
    pub formats: &'a [(u8, &'a str)],
    /// The telephone-event `fmtp` (`0-15`, `0-16`).
    pub events: &'a str,
    /// `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub direction: &'a str,
}

impl AudioSdp<'_> {
    pub fn text(&self) -> String {
        let ip = self.ip;
        let mut pts: Vec<String> = self.formats.iter().map(|(pt, _)| pt.to_string()).collect();
        pts.push("101".to_string());
        let mut text = format!(
            "v=0\r\no={} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
            self.origin,
            self.port,
            pts.join(" ")
        );
        for (pt, name) in self.formats {
            text.push_str(&format!("a=rtpmap:{pt} {name}\r\n"));
        }
        text.push_str(&format!(
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 {}\r\na={}\r\n",
            self.events, self.direction
        ));
        text
    }
}

/// The audio address and first payload type an SDP body announces (the `c=IN IP4` line in
/// effect and the `m=audio` port and first format). Enough SDP for the agents' checks; not a
/// parser of handoff's kind.
pub fn sdp_audio(body: &[u8]) -> Option<(SocketAddr, u8)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip: Option<std::net::IpAddr> = None;
    let mut media = None;
    for line in text.lines() {
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

/// The status of a message/sipfrag body (`SIP/2.0 200 OK` -> 200; RFC 3420, RFC 3515 2.4.5).
pub fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.trim_start().strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The agent.

/// Index of a dialog in an [`Agent`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId(pub usize);

/// Index of a received request (its server transaction) in an [`Agent`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(pub usize);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UaDialogState {
    /// INVITE sent or received, no final yet.
    Early,
    Confirmed,
    Terminated,
}

#[derive(Clone, Debug)]
pub struct UaDialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// From value (with our tag) for requests we send.
    pub local_party: String,
    /// To value for requests we send.
    pub remote_party: String,
    pub local_cseq: u32,
    pub remote_target: String,
    pub state: UaDialogState,
    /// Final status of the initial INVITE (sent or received).
    pub final_status: Option<u16>,
    pub is_uac: bool,
    /// Branch and CSeq of our initial INVITE (for CANCEL).
    invite_branch: String,
    invite_cseq: u32,
    invite_request_uri: String,
    /// The INVITE's server transaction (UAS dialogs).
    pub invite_request: Option<RequestId>,
    pub bye_received: bool,
    /// Last remote SDP body seen (offer or answer).
    pub remote_sdp: Option<Vec<u8>>,
    /// The ACK we sent for a 2xx (by CSeq), re-sent when the 2xx is retransmitted.
    last_ack: Option<(u32, Vec<u8>)>,
    /// Our 2xx to an INVITE, retransmitted until ACK.
    pending_2xx: Option<Pending2xx>,
    /// 2xx to an INVITE of ours were received this many times (incl. retransmissions).
    pub invite_2xx_received: u32,
    /// ACKs received for 2xx this dialog sent.
    pub acks_received: u32,
}

#[derive(Clone, Debug)]
struct Pending2xx {
    cseq: u32,
    bytes: Vec<u8>,
    next: Time,
    interval_ms: u64,
    give_up: Time,
}

impl UaDialog {
    pub fn is_confirmed(&self) -> bool {
        self.state == UaDialogState::Confirmed
    }
    pub fn is_terminated(&self) -> bool {
        self.state == UaDialogState::Terminated
    }
}

/// A new request delivered to the script.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: String,
    pub dialog: Option<DialogId>,
    pub bytes: Vec<u8>,
    pub answered: bool,
}

impl IncomingRequest {
    /// The request, read with `sipwire`.
    pub fn message(&self) -> Option<Message> {
        Message::parse(&self.bytes).ok()
    }
    pub fn body(&self) -> Vec<u8> {
        self.message().map(|m| m.body).unwrap_or_default()
    }
    /// First value of a header by name (case-insensitive, compact forms accepted), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.message()?.header(name).map(str::to_string)
    }
}

/// A response received (first copy of each status per transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSeen {
    pub method: String,
    pub status: u16,
    pub reason: String,
    pub call_id: String,
    pub cseq: u32,
    pub dialog: Option<DialogId>,
    pub bytes: Vec<u8>,
}

/// What happened, for drivers that follow the agent message by message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new request (not a retransmission, not an ACK) arrived; it may have been answered
    /// automatically already ([`IncomingRequest::answered`]).
    Request(RequestId),
    /// The first copy of a status for one of our transactions: index into [`Agent::responses`].
    Response(usize),
    /// An ACK arrived (each copy): for a 2xx it stops that 2xx's retransmissions.
    Ack {
        dialog: Option<DialogId>,
        bytes: Vec<u8>,
    },
    /// A client transaction of this method got no final response in 64*T1.
    Timeout(String),
}

struct ClientTx {
    branch: String,
    method: String,
    bytes: Vec<u8>,
    /// `None` once retransmissions stopped.
    next_retransmit: Option<Time>,
    interval_ms: u64,
    give_up: Time,
    done: bool,
    dialog: Option<DialogId>,
    statuses_seen: Vec<u16>,
    /// ACK for a non-2xx final (same branch), re-sent on retransmitted finals.
    non_2xx_ack: Option<Vec<u8>>,
}

struct ServerTx {
    branch: String,
    method: String,
    last_response: Option<Vec<u8>>,
    final_sent: bool,
}

/// The sans-IO user agent (see the module documentation).
pub struct Agent {
    pub name: String,
    /// Our address (sent-by in Via, host of Contact and From).
    pub addr: SocketAddr,
    /// The one peer everything is sent to (handoff).
    pub sbc: SocketAddr,
    timers: Timers,
    rng: Rng,
    clients: Vec<ClientTx>,
    servers: Vec<ServerTx>,
    requests: Vec<IncomingRequest>,
    inbox: VecDeque<RequestId>,
    dialogs: Vec<UaDialog>,
    pub responses: Vec<ResponseSeen>,
    /// Every datagram received, raw (for topology-hiding checks).
    pub received: Vec<Vec<u8>>,
    /// Client transactions that got no final response in 64*T1.
    pub timeouts: Vec<String>,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    wakeups: Vec<Time>,
    events: VecDeque<Event>,
    now: Time,
    /// Answer re-INVITEs and UPDATEs automatically with 200 + `auto_answer_sdp`.
    pub auto_answer_sdp: Option<Vec<u8>>,
    /// Methods answered 200 automatically (no body), in or out of a dialog; the request is
    /// still reported as an [`Event::Request`].
    pub auto_ok: Vec<String>,
    /// Swallow this many ACKs to 2xx (to test handoff's 2xx retransmission).
    pub drop_acks: u32,
    /// SDP answer to put in ACKs to 2xx (late offer: the offer came in the 2xx).
    pub ack_sdp: Option<Vec<u8>>,
    /// Call-ID for the next initial INVITE (tests place calls on chosen shards with it).
    pub next_call_id: Option<String>,
    /// The user part of our From in initial INVITEs (default: the agent's name).
    pub from_user: Option<String>,
    /// Our tag in the next dialog an initial INVITE makes, sent or received (golden tests
    /// replay an RFC's tags).
    pub next_dialog_tag: Option<String>,
    /// BYEs go to the inbox for the script to answer (e.g. with a 401/407 challenge, RFC 3261
    /// section 22) instead of being answered 200 at once.
    pub manual_bye: bool,
}

impl Agent {
    pub fn new(name: &str, addr: SocketAddr, sbc: SocketAddr, timers: Timers, seed: u64) -> Self {
        Agent {
            name: name.to_string(),
            addr,
            sbc,
            timers,
            rng: Rng::new(seed),
            clients: Vec::new(),
            servers: Vec::new(),
            requests: Vec::new(),
            inbox: VecDeque::new(),
            dialogs: Vec::new(),
            responses: Vec::new(),
            received: Vec::new(),
            timeouts: Vec::new(),
            outbox: VecDeque::new(),
            wakeups: Vec::new(),
            events: VecDeque::new(),
            now: Time::ZERO,
            auto_answer_sdp: None,
            auto_ok: Vec::new(),
            drop_acks: 0,
            ack_sdp: None,
            next_call_id: None,
            next_dialog_tag: None,
            from_user: None,
            manual_bye: false,
        }
    }

    /// The agent's clock moves forward only.
    pub fn set_now(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Every datagram to send, in order.
    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.outbox.drain(..).collect()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// Deadlines asked for since the last call: call [`Agent::on_wake`] at (or after) each.
    pub fn take_wakeups(&mut self) -> Vec<Time> {
        std::mem::take(&mut self.wakeups)
    }

    /// The next event, in order of occurrence.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn dialog(&self, id: DialogId) -> &UaDialog {
        &self.dialogs[id.0]
    }

    pub fn dialog_mut(&mut self, id: DialogId) -> &mut UaDialog {
        &mut self.dialogs[id.0]
    }

    pub fn dialogs(&self) -> &[UaDialog] {
        &self.dialogs
    }

    pub fn incoming(&self, id: RequestId) -> &IncomingRequest {
        &self.requests[id.0]
    }

    /// Every request received so far, answered or not, in arrival order.
    pub fn all_incoming(&self) -> impl Iterator<Item = &IncomingRequest> {
        self.requests.iter()
    }

    pub fn has_request(&self, method: &str) -> bool {
        self.inbox
            .iter()
            .any(|id| self.requests[id.0].method == method)
    }

    /// Take the oldest unread request of `method` from the inbox.
    pub fn take_request(&mut self, method: &str) -> Option<RequestId> {
        let position = self
            .inbox
            .iter()
            .position(|id| self.requests[id.0].method == method)?;
        self.inbox.remove(position)
    }

    /// Take `request` out of the inbox (the script handled it another way).
    pub fn take_request_id(&mut self, request: RequestId) -> bool {
        let position = self.inbox.iter().position(|id| *id == request);
        position.and_then(|p| self.inbox.remove(p)).is_some()
    }

    /// Responses received for `method` in `dialog`, statuses in arrival order.
    pub fn statuses(&self, dialog: DialogId, method: &str) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|r| r.dialog == Some(dialog) && r.method == method)
            .map(|r| r.status)
            .collect()
    }

    /// The last final (>= 200) status received for `method` in `dialog`.
    pub fn final_status(&self, dialog: DialogId, method: &str) -> Option<u16> {
        self.statuses(dialog, method)
            .into_iter()
            .rfind(|s| *s >= 200)
    }

    /// A fresh 48-bit identifier in hex (tags, Call-IDs).
    pub fn hex(&mut self) -> String {
        format!("{:012x}", self.rng.next_u64() & 0xffff_ffff_ffff)
    }

    /// A fresh branch with the RFC 3261 magic cookie (section 8.1.1.7).
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.hex())
    }

    fn via(&self, branch: &str) -> String {
        via(self.addr, branch)
    }

    /// Our Contact value.
    pub fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.name, self.addr)
    }

    fn wake_at(&mut self, at: Time) {
        self.wakeups.push(at);
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.outbox.push_back((self.sbc, bytes));
    }

    fn start_client(
        &mut self,
        method: &str,
        branch: String,
        bytes: Vec<u8>,
        dialog: Option<DialogId>,
    ) {
        let t1 = self.timers.t1_ms;
        self.send(bytes.clone());
        let next = self.now.plus_millis(t1);
        self.wake_at(next);
        let give_up = self.now.plus_millis(64 * t1);
        self.wake_at(give_up);
        self.clients.push(ClientTx {
            branch,
            method: method.to_string(),
            bytes,
            next_retransmit: Some(next),
            interval_ms: t1,
            give_up,
            done: false,
            dialog,
            statuses_seen: Vec::new(),
            non_2xx_ack: None,
        });
    }

    /// Send an initial INVITE to handoff for `user` (the dialled number); returns the new dialog.
    pub fn invite(&mut self, user: &str, sdp: Option<Vec<u8>>) -> DialogId {
        self.invite_with(user, sdp, &[])
    }

    /// Initial INVITE with extra headers.
    pub fn invite_with(
        &mut self,
        user: &str,
        sdp: Option<Vec<u8>>,
        extra: &[(&str, &str)],
    ) -> DialogId {
        let unique = self.hex();
        let call_id = self
            .next_call_id
            .take()
            .unwrap_or_else(|| format!("{}-{unique}@{}", self.name, self.addr.ip()));
        let local_tag = match self.next_dialog_tag.take() {
            Some(tag) => tag,
            None => self.hex(),
        };
        let branch = self.branch();
        let request_uri = format!("sip:{user}@{}", self.sbc);
        let from_user = self.from_user.clone().unwrap_or_else(|| self.name.clone());
        let local_party = format!("<sip:{from_user}@{}>;tag={local_tag}", self.addr.ip());
        let remote_party = format!("<{request_uri}>");
        let id = DialogId(self.dialogs.len());
        let via = self.via(&branch);
        let contact = self.contact();
        let mut builder = RequestHead {
            method: "INVITE",
            uri: &request_uri,
            via: &via,
            from: &local_party,
            to: &remote_party,
            call_id: &call_id,
            cseq: 1,
            contact: Some(&contact),
        }
        .builder();
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some(sdp) = &sdp {
            builder = builder.body("application/sdp", sdp);
        }
        let bytes = builder.build();
        self.dialogs.push(UaDialog {
            call_id,
            local_tag,
            remote_tag: None,
            local_party,
            remote_party,
            local_cseq: 1,
            remote_target: request_uri.clone(),
            state: UaDialogState::Early,
            final_status: None,
            is_uac: true,
            invite_branch: branch.clone(),
            invite_cseq: 1,
            invite_request_uri: request_uri,
            invite_request: None,
            bye_received: false,
            remote_sdp: None,
            last_ack: None,
            pending_2xx: None,
            invite_2xx_received: 0,
            acks_received: 0,
        });
        self.start_client("INVITE", branch, bytes, Some(id));
        id
    }

    /// CANCEL our pending initial INVITE (RFC 3261 section 9.1: the INVITE's Request-URI,
    /// Call-ID, To, From, CSeq number and top Via).
    pub fn cancel(&mut self, dialog: DialogId) {
        let d = &self.dialogs[dialog.0];
        let branch = d.invite_branch.clone();
        let to = format!("<{}>", d.invite_request_uri);
        let bytes = RequestHead {
            method: "CANCEL",
            uri: &d.invite_request_uri,
            via: &self.via(&branch),
            from: &d.local_party,
            to: &to,
            call_id: &d.call_id,
            cseq: d.invite_cseq,
            contact: None,
        }
        .builder()
        .build();
        self.start_client("CANCEL", branch, bytes, Some(dialog));
    }

    /// Send an in-dialog request (BYE, re-INVITE, INFO, UPDATE, OPTIONS, NOTIFY, MESSAGE,
    /// REFER...) with the dialog's next local CSeq (RFC 3261 section 12.2.1.1).
    pub fn request(
        &mut self,
        dialog: DialogId,
        method: &str,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) {
        let branch = self.branch();
        let via = self.via(&branch);
        let contact = self.contact();
        let d = &mut self.dialogs[dialog.0];
        d.local_cseq += 1;
        let mut builder = RequestHead {
            method,
            uri: &d.remote_target,
            via: &via,
            from: &d.local_party,
            to: &d.remote_party,
            call_id: &d.call_id,
            cseq: d.local_cseq,
            // Target refresh requests carry a Contact (section 12.2.1.1, RFC 3311).
            contact: (method == "INVITE" || method == "UPDATE").then_some(contact.as_str()),
        }
        .builder();
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some((content_type, bytes)) = &body {
            builder = builder.body(content_type, bytes);
        }
        let bytes = builder.build();
        if method == "BYE" {
            d.state = UaDialogState::Terminated;
        }
        self.start_client(method, branch, bytes, Some(dialog));
    }

    pub fn bye(&mut self, dialog: DialogId) {
        self.request(dialog, "BYE", None, &[]);
    }

    pub fn reinvite(&mut self, dialog: DialogId, sdp: Vec<u8>) {
        self.request(dialog, "INVITE", Some(("application/sdp", sdp)), &[]);
    }

    /// An OPTIONS outside any dialog (keepalive); returns its Call-ID.
    pub fn options(&mut self) -> String {
        let unique = self.hex();
        let call_id = format!("{}-opt-{unique}@{}", self.name, self.addr.ip());
        let tag = self.hex();
        let branch = self.branch();
        let uri = format!("sip:{}", self.sbc);
        let from = format!("<sip:{}@{}>;tag={tag}", self.name, self.addr.ip());
        let to = format!("<{uri}>");
        let bytes = RequestHead {
            method: "OPTIONS",
            uri: &uri,
            via: &self.via(&branch),
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: 1,
            contact: None,
        }
        .builder()
        .build();
        self.start_client("OPTIONS", branch, bytes, None);
        call_id
    }

    /// Send raw bytes to handoff (malformed input tests).
    pub fn send_raw(&mut self, bytes: Vec<u8>) {
        self.send(bytes);
    }

    /// Answer a received request. For an initial INVITE this sets the dialog's state; a 2xx to an
    /// INVITE is retransmitted until the ACK arrives.
    pub fn answer(&mut self, request: RequestId, status: u16, sdp: Option<Vec<u8>>) {
        self.answer_with(request, status, sdp, &[]);
    }

    /// [`Agent::answer`] with extra headers.
    pub fn answer_with(
        &mut self,
        request: RequestId,
        status: u16,
        sdp: Option<Vec<u8>>,
        extra: &[(&str, &str)],
    ) {
        let body = sdp.map(|sdp| ("application/sdp", sdp));
        self.respond(request, status, reason_phrase(status), body, extra);
    }

    /// Answer a received request with any reason phrase and body (see [`Agent::answer`]).
    pub fn respond(
        &mut self,
        request: RequestId,
        status: u16,
        reason: &str,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) {
        let incoming = self.requests[request.0].clone();
        let Ok(message) = Message::parse(&incoming.bytes) else {
            return;
        };
        let to_tag = match incoming.dialog {
            Some(dialog) if message.to_tag().is_none() && status > 100 => {
                Some(self.dialogs[dialog.0].local_tag.clone())
            }
            _ => None,
        };
        let contact =
            (incoming.method == "INVITE" && (101..300).contains(&status)).then(|| self.contact());
        let mut builder = response(
            &message,
            status,
            reason,
            to_tag.as_deref(),
            contact.as_deref(),
        );
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = &body {
            builder = builder.body(content_type, body);
        }
        let bytes = builder.build();
        self.requests[request.0].answered = status >= 200;
        self.server_respond(request.0, status, bytes.clone());
        if incoming.method != "INVITE" {
            return;
        }
        let Some(dialog) = incoming.dialog else {
            return;
        };
        let cseq = message.cseq().map(|c| c.0).unwrap_or(0);
        let t1 = self.timers.t1_ms;
        let now = self.now;
        let d = &mut self.dialogs[dialog.0];
        let initial = d.invite_request == Some(request);
        if (200..300).contains(&status) {
            if initial {
                d.state = UaDialogState::Confirmed;
                d.final_status = Some(status);
            }
            d.pending_2xx = Some(Pending2xx {
                cseq,
                bytes,
                next: now.plus_millis(t1),
                interval_ms: t1,
                give_up: now.plus_millis(64 * t1),
            });
            self.wake_at(now.plus_millis(t1));
        } else if status >= 300 && initial {
            d.state = UaDialogState::Terminated;
            d.final_status = Some(status);
        }
    }

    fn server_respond(&mut self, server: usize, status: u16, bytes: Vec<u8>) {
        let tx = &mut self.servers[server];
        tx.last_response = Some(bytes.clone());
        if status >= 200 {
            tx.final_sent = true;
        }
        self.send(bytes);
    }

    /// A deadline came: retransmit what is due, time out what is over.
    pub fn on_wake(&mut self, now: Time) {
        self.set_now(now);
        let now = self.now;
        let t2 = self.timers.t2_ms;
        let mut resend = Vec::new();
        for tx in &mut self.clients {
            if tx.done {
                continue;
            }
            if now >= tx.give_up {
                tx.done = true;
                self.timeouts.push(tx.method.clone());
                self.events.push_back(Event::Timeout(tx.method.clone()));
                continue;
            }
            if let Some(at) = tx.next_retransmit
                && now >= at
            {
                resend.push(tx.bytes.clone());
                // Timer A doubles without bound (17.1.1.2); Timer E is capped at T2 (17.1.2.2).
                tx.interval_ms = if tx.method == "INVITE" {
                    tx.interval_ms * 2
                } else {
                    (tx.interval_ms * 2).min(t2)
                };
                let next = now.plus_millis(tx.interval_ms);
                tx.next_retransmit = Some(next);
                self.wakeups.push(next);
            }
        }
        for dialog in &mut self.dialogs {
            if let Some(mut pending) = dialog.pending_2xx.take() {
                if now >= pending.give_up {
                    continue;
                }
                if now >= pending.next {
                    resend.push(pending.bytes.clone());
                    pending.interval_ms = (pending.interval_ms * 2).min(t2);
                    pending.next = now.plus_millis(pending.interval_ms);
                    self.wakeups.push(pending.next);
                }
                dialog.pending_2xx = Some(pending);
            }
        }
        for bytes in resend {
            self.send(bytes);
        }
    }

    /// A datagram arrived from `from`.
    pub fn on_datagram(&mut self, now: Time, _from: SocketAddr, bytes: &[u8]) {
        self.set_now(now);
        self.received.push(bytes.to_vec());
        let Ok(message) = Message::parse(bytes) else {
            return;
        };
        if message.is_request() {
            self.on_request(&message, bytes);
        } else {
            self.on_response(&message, bytes);
        }
    }

    fn find_dialog(&self, call_id: &str, local_tag: Option<&str>) -> Option<DialogId> {
        self.dialogs
            .iter()
            .position(|d| d.call_id == call_id && Some(d.local_tag.as_str()) == local_tag)
            .map(DialogId)
    }

    fn on_response(&mut self, message: &Message, bytes: &[u8]) {
        let Some(status) = message.status() else {
            return;
        };
        let Some(branch) = message.via_branch().map(|b| b.to_string()) else {
            return;
        };
        let Some((cseq_seq, cseq_method)) = message.cseq() else {
            return;
        };
        let method = cseq_method.to_string();
        let Some(index) = self
            .clients
            .iter()
            .position(|tx| tx.branch == branch && tx.method == method)
        else {
            return;
        };
        let call_id = message.call_id().unwrap_or_default().to_string();
        let to_value = message.header("To").unwrap_or_default().to_string();
        let to_tag = message.to_tag().map(str::to_string);
        let contact = message.contact_uri().map(str::to_string);
        let body = message.body().to_vec();
        let dialog = self.clients[index].dialog;
        let first_copy = !self.clients[index].statuses_seen.contains(&status);
        if first_copy {
            self.clients[index].statuses_seen.push(status);
            self.events.push_back(Event::Response(self.responses.len()));
            self.responses.push(ResponseSeen {
                method: method.clone(),
                status,
                reason: message.reason().unwrap_or_default().to_string(),
                call_id: call_id.clone(),
                cseq: cseq_seq,
                dialog,
                bytes: bytes.to_vec(),
            });
        }
        let tx = &mut self.clients[index];
        if method == "INVITE" {
            tx.next_retransmit = None;
            // After a provisional the UAS owns the outcome: wait for its final.
            tx.give_up = Time::NEVER;
        }
        if status >= 200 {
            tx.next_retransmit = None;
            tx.done = true;
        }
        if method != "INVITE" {
            return;
        }
        if status >= 300 {
            // ACK for a non-2xx final: same branch, To from the response (RFC 3261 17.1.1.3).
            if tx.non_2xx_ack.is_none()
                && let Some(d) = dialog
            {
                let d = &self.dialogs[d.0];
                let uri = if d.state == UaDialogState::Early {
                    d.invite_request_uri.clone()
                } else {
                    d.remote_target.clone()
                };
                let ack = ack_for_failure(
                    &uri,
                    &self.via(&branch),
                    &d.local_party,
                    message,
                    &d.call_id,
                    cseq_seq,
                )
                .build();
                self.clients[index].non_2xx_ack = Some(ack);
            }
            if let Some(ack) = self.clients[index].non_2xx_ack.clone() {
                self.send(ack);
            }
        }
        let Some(dialog) = dialog else { return };
        let initial =
            self.dialogs[dialog.0].invite_cseq == cseq_seq && self.dialogs[dialog.0].is_uac;
        {
            let d = &mut self.dialogs[dialog.0];
            if !body.is_empty() {
                d.remote_sdp = Some(body);
            }
            if (101..300).contains(&status)
                && d.remote_tag.is_none()
                && let Some(tag) = &to_tag
            {
                d.remote_tag = Some(tag.clone());
                d.remote_party = to_value.clone();
            }
            if (200..300).contains(&status)
                && let Some(contact) = &contact
            {
                d.remote_target = contact.clone();
            }
            if initial && status >= 200 && d.final_status.is_none() {
                d.final_status = Some(status);
                d.state = if status < 300 {
                    UaDialogState::Confirmed
                } else {
                    UaDialogState::Terminated
                };
            }
        }
        if (200..300).contains(&status) {
            self.dialogs[dialog.0].invite_2xx_received += 1;
            let reuse = match &self.dialogs[dialog.0].last_ack {
                Some((seq, bytes)) if *seq == cseq_seq => Some(bytes.clone()),
                _ => None,
            };
            let ack = match reuse {
                Some(bytes) => bytes,
                None => {
                    // ACK for a 2xx (13.2.2.4): a new transaction (new branch), within the
                    // dialog (the To with the 2xx's tag, the remote target), the INVITE's CSeq
                    // number.
                    let branch = self.branch();
                    let via = self.via(&branch);
                    let d = &self.dialogs[dialog.0];
                    let mut builder = RequestHead {
                        method: "ACK",
                        uri: &d.remote_target,
                        via: &via,
                        from: &d.local_party,
                        to: &d.remote_party,
                        call_id: &d.call_id,
                        cseq: cseq_seq,
                        contact: None,
                    }
                    .builder();
                    if let Some(sdp) = &self.ack_sdp {
                        builder = builder.body("application/sdp", sdp);
                    }
                    let bytes = builder.build();
                    self.dialogs[dialog.0].last_ack = Some((cseq_seq, bytes.clone()));
                    bytes
                }
            };
            if self.drop_acks > 0 {
                self.drop_acks -= 1;
            } else {
                self.send(ack);
            }
        }
    }

    fn on_request(&mut self, message: &Message, bytes: &[u8]) {
        let Some(method) = message.method() else {
            return;
        };
        let method = method.to_string();
        let Some(via) = message.top_via() else { return };
        let branch = crate::param(via, "branch").unwrap_or_default().to_string();
        let call_id = message.call_id().unwrap_or_default().to_string();
        let to_tag = message.to_tag().map(str::to_string);
        let cseq = message.cseq().map(|c| c.0).unwrap_or(0);

        if method == "ACK" {
            // ACK for a 2xx: stops our retransmissions. ACK for a non-2xx: absorbed.
            let dialog = self.find_dialog(&call_id, to_tag.as_deref());
            self.events.push_back(Event::Ack {
                dialog,
                bytes: bytes.to_vec(),
            });
            if let Some(d) = dialog {
                let d = &mut self.dialogs[d.0];
                if !message.body().is_empty() {
                    d.remote_sdp = Some(message.body().to_vec());
                }
                if d.pending_2xx.as_ref().is_some_and(|p| p.cseq == cseq) {
                    d.pending_2xx = None;
                    d.acks_received += 1;
                }
            }
            return;
        }
        // Retransmission of a request we already saw: answer again with the last response.
        if let Some(tx) = self
            .servers
            .iter()
            .find(|tx| tx.branch == branch && tx.method == method)
        {
            if let Some(last) = tx.last_response.clone() {
                self.send(last);
            }
            return;
        }
        let server = self.servers.len();
        debug_assert_eq!(server, self.requests.len());
        self.servers.push(ServerTx {
            branch: branch.clone(),
            method: method.clone(),
            last_response: None,
            final_sent: false,
        });
        let request_id = RequestId(self.requests.len());
        let mut dialog = self.find_dialog(&call_id, to_tag.as_deref());
        if method == "INVITE" && to_tag.is_none() {
            let local_tag = match self.next_dialog_tag.take() {
                Some(tag) => tag,
                None => self.hex(),
            };
            let to_value = message.header("To").unwrap_or_default().to_string();
            let from_value = message.header("From").unwrap_or_default().to_string();
            let remote_tag = message.from_tag().map(str::to_string);
            let remote_target = message.contact_uri().unwrap_or_default().to_string();
            let body = message.body().to_vec();
            dialog = Some(DialogId(self.dialogs.len()));
            self.dialogs.push(UaDialog {
                call_id: call_id.clone(),
                local_tag: local_tag.clone(),
                remote_tag,
                local_party: format!("{to_value};tag={local_tag}"),
                remote_party: from_value,
                local_cseq: 0,
                remote_target,
                state: UaDialogState::Early,
                final_status: None,
                is_uac: false,
                invite_branch: branch.clone(),
                invite_cseq: cseq,
                invite_request_uri: String::new(),
                invite_request: Some(request_id),
                bye_received: false,
                remote_sdp: (!body.is_empty()).then_some(body),
                last_ack: None,
                pending_2xx: None,
                invite_2xx_received: 0,
                acks_received: 0,
            });
        }
        self.requests.push(IncomingRequest {
            method: method.clone(),
            dialog,
            bytes: bytes.to_vec(),
            answered: false,
        });
        match method.as_str() {
            "BYE" if !self.manual_bye => {
                let status = if dialog.is_some() { 200 } else { 481 };
                if let Some(d) = dialog {
                    let d = &mut self.dialogs[d.0];
                    d.bye_received = true;
                    d.state = UaDialogState::Terminated;
                    d.pending_2xx = None;
                }
                let bytes = response(message, status, reason_phrase(status), None, None).build();
                self.requests[request_id.0].answered = true;
                self.server_respond(server, status, bytes);
            }
            "CANCEL" => {
                let ok = response(message, 200, "OK", None, None).build();
                self.requests[request_id.0].answered = true;
                self.server_respond(server, 200, ok);
                let invite = self
                    .servers
                    .iter()
                    .position(|tx| tx.branch == branch && tx.method == "INVITE");
                // Server transactions and requests share indices (one request per transaction).
                if let Some(invite) = invite
                    && !self.servers[invite].final_sent
                {
                    self.answer(RequestId(invite), 487, None);
                }
            }
            "INVITE" | "UPDATE"
                if dialog.is_some() && to_tag.is_some() && self.auto_answer_sdp.is_some() =>
            {
                let sdp = self.auto_answer_sdp.clone();
                self.answer(request_id, 200, sdp);
            }
            m if self.auto_ok.iter().any(|auto| auto == m) => {
                self.answer(request_id, 200, None);
            }
            _ => self.inbox.push_back(request_id),
        }
        self.events.push_back(Event::Request(request_id));
    }

    /// A REFER in `dialog` (a platform or desk phone transferring the call).
    pub fn refer(&mut self, dialog: DialogId, refer_to: &str, extra: &[(&str, &str)]) {
        let mut headers = vec![("Refer-To", refer_to)];
        headers.extend_from_slice(extra);
        self.request(dialog, "REFER", None, &headers);
    }

    /// A request outside any dialog that may create one, e.g. an out-of-dialog REFER naming its
    /// call in Target-Dialog (RFC 5589 section 6.1): a new Call-ID and From tag, CSeq 1, our
    /// Contact, To `to` (no tag), Request-URI `uri`, then `extra` in order. Sent as a client
    /// transaction (retransmitted from T1 until a final response; the responses land in
    /// [`Agent::responses`] with no dialog). Returns its (Call-ID, From tag).
    pub fn request_outside_dialog(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        extra: &[(&str, &str)],
    ) -> (String, String) {
        let unique = self.hex();
        let call_id = format!("{}-ood-{unique}@{}", self.name, self.addr.ip());
        let tag = self.hex();
        let branch = self.branch();
        let from_user = self.from_user.clone().unwrap_or_else(|| self.name.clone());
        let from = format!("<sip:{from_user}@{}>;tag={tag}", self.addr.ip());
        let via = self.via(&branch);
        let contact = self.contact();
        let mut builder = RequestHead {
            method,
            uri,
            via: &via,
            from: &from,
            to,
            call_id: &call_id,
            cseq: 1,
            contact: Some(&contact),
        }
        .builder();
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        let bytes = builder.build();
        self.start_client(method, branch, bytes, None);
        (call_id, tag)
    }

    /// Sends `bytes`, a complete request written by the caller (e.g. an RFC's example message),
    /// as a client transaction: retransmitted from T1 until a final response, which lands in
    /// [`Agent::responses`] (no dialog). Its method and top Via branch are read from `bytes`;
    /// false (nothing sent) when they cannot be.
    pub fn send_request_bytes(&mut self, bytes: Vec<u8>) -> bool {
        let Ok(message) = Message::parse(&bytes) else {
            return false;
        };
        let (Some(method), Some(branch)) = (
            message.method().map(str::to_string),
            message.via_branch().map(str::to_string),
        ) else {
            return false;
        };
        self.start_client(&method, branch, bytes, None);
        true
    }

    /// A REFER progress NOTIFY (RFC 3515): Event: refer, a message/sipfrag `SIP/2.0 {status}`.
    pub fn notify_sipfrag(&mut self, dialog: DialogId, status: u16, terminated: bool) {
        let state = if terminated {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let body = format!("SIP/2.0 {status} Whatever\r\n").into_bytes();
        self.request(
            dialog,
            "NOTIFY",
            Some(("message/sipfrag;version=2.0", body)),
            &[("Event", "refer"), ("Subscription-State", state)],
        );
    }
}

#[cfg(test)]
mod tests;
