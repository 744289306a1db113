//! Scripted user agents for the simulation: a carrier, a platform, a partner. They speak real SIP
//! bytes, built and read with `sipwire`, a SIP codec kept independent of handoff's own `crate::sip`
//! on purpose (so a bug in handoff's SIP code cannot hide behind the same bug in the agent that
//! checks it; see the `sipwire` crate documentation), and carry a transactions-lite
//! layer so scripts survive loss: requests are retransmitted (T1 doubling; capped at T2 for
//! non-INVITE) until answered, retransmitted requests get the last response again, a UAS
//! retransmits its 2xx to INVITE until the ACK arrives, and a UAC re-ACKs retransmitted finals.
//!
//! Automatic behaviour: BYE is answered 200; CANCEL is answered 200 and its INVITE 487 (when not
//! yet answered). Every other new request goes to the inbox, for the script to answer.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::net::SimRng;
use crate::config::SipTimers;
use crate::core::Time;
use sipwire::{Builder, Message};

/// Index of a dialog in a [`UserAgent`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId(pub usize);

/// Index of a received request (its server transaction) in a [`UserAgent`].
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
    /// ACKs we sent per CSeq, re-sent when a 2xx is retransmitted.
    last_ack: Option<(u32, Vec<u8>)>,
    /// Our 2xx to an INVITE, retransmitted until ACK: (cseq, bytes, next, interval_ms, give_up).
    pending_2xx: Option<(u32, Vec<u8>, Time, u64, Time)>,
    /// 2xx to an INVITE of ours were received this many times (incl. retransmissions).
    pub invite_2xx_received: u32,
    /// ACKs received for 2xx this dialog sent.
    pub acks_received: u32,
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

struct ClientTxLite {
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

struct ServerTxLite {
    branch: String,
    method: String,
    last_response: Option<Vec<u8>>,
    final_sent: bool,
}

pub struct UserAgent {
    pub name: String,
    pub addr: SocketAddr,
    pub sbc: SocketAddr,
    timers: SipTimers,
    rng: SimRng,
    clients: Vec<ClientTxLite>,
    servers: Vec<ServerTxLite>,
    requests: Vec<IncomingRequest>,
    inbox: VecDeque<RequestId>,
    dialogs: Vec<UaDialog>,
    pub responses: Vec<ResponseSeen>,
    /// Every datagram received, raw (for topology-hiding checks).
    pub received: Vec<Vec<u8>>,
    /// Client transactions that got no final response in 64*T1.
    pub timeouts: Vec<String>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    wakeups: Vec<Time>,
    now: Time,
    /// Answer re-INVITEs and UPDATEs automatically with 200 + `auto_answer_sdp`.
    pub auto_answer_sdp: Option<Vec<u8>>,
    /// Swallow this many ACKs to 2xx (to test handoff's 2xx retransmission).
    pub drop_acks: u32,
    /// SDP answer to put in ACKs to 2xx (late offer: the offer came in the 2xx).
    pub ack_sdp: Option<Vec<u8>>,
    /// Call-ID for the next initial INVITE (tests place calls on chosen shards with it).
    pub next_call_id: Option<String>,
}

impl UserAgent {
    pub fn new(
        name: &str,
        addr: SocketAddr,
        sbc: SocketAddr,
        timers: SipTimers,
        seed: u64,
    ) -> Self {
        UserAgent {
            name: name.to_string(),
            addr,
            sbc,
            timers,
            rng: SimRng::new(seed),
            clients: Vec::new(),
            servers: Vec::new(),
            requests: Vec::new(),
            inbox: VecDeque::new(),
            dialogs: Vec::new(),
            responses: Vec::new(),
            received: Vec::new(),
            timeouts: Vec::new(),
            outbox: Vec::new(),
            wakeups: Vec::new(),
            now: Time::ZERO,
            auto_answer_sdp: None,
            drop_acks: 0,
            ack_sdp: None,
            next_call_id: None,
        }
    }

    pub fn set_now(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    pub fn take_wakeups(&mut self) -> Vec<Time> {
        std::mem::take(&mut self.wakeups)
    }

    pub fn dialog(&self, id: DialogId) -> &UaDialog {
        &self.dialogs[id.0]
    }

    pub fn dialogs(&self) -> &[UaDialog] {
        &self.dialogs
    }

    pub fn incoming(&self, id: RequestId) -> &IncomingRequest {
        &self.requests[id.0]
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

    fn hex(&mut self) -> String {
        format!("{:012x}", self.rng.next_u64() & 0xffff_ffff_ffff)
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.hex())
    }

    fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch}", self.addr)
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.name, self.addr)
    }

    fn wake_at(&mut self, at: Time) {
        self.wakeups.push(at);
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.outbox.push((self.sbc, bytes));
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
        self.clients.push(ClientTxLite {
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
        let local_tag = self.hex();
        let branch = self.branch();
        let request_uri = format!("sip:{user}@{}", self.sbc);
        let local_party = format!("<sip:{}@{}>;tag={local_tag}", self.name, self.addr.ip());
        let remote_party = format!("<{request_uri}>");
        let id = DialogId(self.dialogs.len());
        let mut builder = Builder::request("INVITE", &request_uri)
            .header("Via", self.via(&branch))
            .header("Max-Forwards", "70")
            .header("From", &local_party)
            .header("To", &remote_party)
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", self.contact());
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

    /// CANCEL our pending initial INVITE.
    pub fn cancel(&mut self, dialog: DialogId) {
        let d = &self.dialogs[dialog.0];
        let branch = d.invite_branch.clone();
        let bytes = Builder::request("CANCEL", &d.invite_request_uri)
            .header("Via", self.via(&branch))
            .header("Max-Forwards", "70")
            .header("From", &d.local_party)
            .header("To", format!("<{}>", d.invite_request_uri))
            .header("Call-ID", &d.call_id)
            .header("CSeq", format!("{} CANCEL", d.invite_cseq))
            .build();
        self.start_client("CANCEL", branch, bytes, Some(dialog));
    }

    /// Send an in-dialog request (BYE, re-INVITE, INFO, UPDATE, OPTIONS, NOTIFY, MESSAGE, REFER...).
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
        let cseq = d.local_cseq;
        let mut builder = Builder::request(method, &d.remote_target)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &d.local_party)
            .header("To", &d.remote_party)
            .header("Call-ID", &d.call_id)
            .header("CSeq", format!("{cseq} {method}"));
        if method == "INVITE" || method == "UPDATE" {
            builder = builder.header("Contact", &contact);
        }
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

    /// An OPTIONS outside any dialog (keepalive).
    pub fn options(&mut self) -> String {
        let unique = self.hex();
        let call_id = format!("{}-opt-{unique}@{}", self.name, self.addr.ip());
        let tag = self.hex();
        let branch = self.branch();
        let uri = format!("sip:{}", self.sbc);
        let bytes = Builder::request("OPTIONS", &uri)
            .header("Via", self.via(&branch))
            .header("Max-Forwards", "70")
            .header(
                "From",
                format!("<sip:{}@{}>;tag={tag}", self.name, self.addr.ip()),
            )
            .header("To", format!("<{uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 OPTIONS")
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

    pub fn answer_with(
        &mut self,
        request: RequestId,
        status: u16,
        sdp: Option<Vec<u8>>,
        extra: &[(&str, &str)],
    ) {
        let incoming = self.requests[request.0].clone();
        let Ok(message) = Message::parse(&incoming.bytes) else {
            return;
        };
        let reason = match status {
            100 => "Trying",
            180 => "Ringing",
            183 => "Session Progress",
            200 => "OK",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            491 => "Request Pending",
            202 => "Accepted",
            415 => "Unsupported Media Type",
            603 => "Decline",
            _ => "Whatever",
        };
        let mut builder = Builder::response_to(&message, status, reason);
        if let Some(dialog) = incoming.dialog {
            let has_tag = message.to_tag().is_some();
            if !has_tag && status > 100 {
                builder = builder.to_tag(&self.dialogs[dialog.0].local_tag);
            }
        }
        if incoming.method == "INVITE" && (100..300).contains(&status) && status > 100 {
            builder = builder.header("Contact", self.contact());
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some(sdp) = &sdp {
            builder = builder.body("application/sdp", sdp);
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
            d.pending_2xx = Some((
                cseq,
                bytes,
                now.plus_millis(t1),
                t1,
                now.plus_millis(64 * t1),
            ));
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

    pub fn on_wake(&mut self, now: Time) {
        self.now = now;
        let t2 = self.timers.t2_ms;
        let mut resend = Vec::new();
        for tx in &mut self.clients {
            if tx.done {
                continue;
            }
            if now >= tx.give_up {
                tx.done = true;
                self.timeouts.push(tx.method.clone());
                continue;
            }
            if let Some(at) = tx.next_retransmit
                && now >= at
            {
                resend.push(tx.bytes.clone());
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
            if let Some((cseq, bytes, at, interval, give_up)) = dialog.pending_2xx.take() {
                if now >= give_up {
                    continue;
                }
                if now >= at {
                    resend.push(bytes.clone());
                    let interval = (interval * 2).min(t2);
                    let next = now.plus_millis(interval);
                    self.wakeups.push(next);
                    dialog.pending_2xx = Some((cseq, bytes, next, interval, give_up));
                } else {
                    dialog.pending_2xx = Some((cseq, bytes, at, interval, give_up));
                }
            }
        }
        for bytes in resend {
            self.send(bytes);
        }
    }

    pub fn on_datagram(&mut self, now: Time, _from: SocketAddr, bytes: &[u8]) {
        self.now = now;
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
            tx.give_up = Time(u64::MAX);
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
                let ack = Builder::request("ACK", &uri)
                    .header("Via", format!("SIP/2.0/UDP {};branch={branch}", self.addr))
                    .header("Max-Forwards", "70")
                    .header("From", &d.local_party)
                    .header("To", &to_value)
                    .header("Call-ID", &d.call_id)
                    .header("CSeq", format!("{} ACK", cseq_seq))
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
                    let branch = self.branch();
                    let d = &self.dialogs[dialog.0];
                    let mut builder = Builder::request("ACK", &d.remote_target)
                        .header("Via", self.via(&branch))
                        .header("Max-Forwards", "70")
                        .header("From", &d.local_party)
                        .header("To", &d.remote_party)
                        .header("Call-ID", &d.call_id)
                        .header("CSeq", format!("{} ACK", cseq_seq));
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
        let branch = sipwire::param(via, "branch")
            .unwrap_or_default()
            .to_string();
        let call_id = message.call_id().unwrap_or_default().to_string();
        let to_tag = message.to_tag().map(str::to_string);
        let cseq = message.cseq().map(|c| c.0).unwrap_or(0);

        if method == "ACK" {
            // ACK for a 2xx: stops our retransmissions. ACK for a non-2xx: absorbed.
            if let Some(d) = self.find_dialog(&call_id, to_tag.as_deref()) {
                let d = &mut self.dialogs[d.0];
                if !message.body().is_empty() {
                    d.remote_sdp = Some(message.body().to_vec());
                }
                if let Some((pending, ..)) = &d.pending_2xx
                    && *pending == cseq
                {
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
        self.servers.push(ServerTxLite {
            branch: branch.clone(),
            method: method.clone(),
            last_response: None,
            final_sent: false,
        });
        let request_id = RequestId(self.requests.len());
        let mut dialog = self.find_dialog(&call_id, to_tag.as_deref());
        if method == "INVITE" && to_tag.is_none() {
            let local_tag = self.hex();
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
            "BYE" => {
                let status = if dialog.is_some() { 200 } else { 481 };
                if let Some(d) = dialog {
                    let d = &mut self.dialogs[d.0];
                    d.bye_received = true;
                    d.state = UaDialogState::Terminated;
                    d.pending_2xx = None;
                }
                let bytes = Builder::response_to(
                    message,
                    status,
                    if status == 200 {
                        "OK"
                    } else {
                        "Call/Transaction Does Not Exist"
                    },
                )
                .build();
                self.server_respond(server, status, bytes);
            }
            "CANCEL" => {
                let ok = Builder::response_to(message, 200, "OK").build();
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
            "INVITE" | "UPDATE" if dialog.is_some() && to_tag.is_some() => {
                if let Some(sdp) = self.auto_answer_sdp.clone() {
                    self.answer(request_id, 200, Some(sdp));
                } else {
                    self.inbox.push_back(request_id);
                }
            }
            _ => self.inbox.push_back(request_id),
        }
    }

    /// A REFER in `dialog` (a platform or desk phone transferring the call).
    pub fn refer(&mut self, dialog: DialogId, refer_to: &str, extra: &[(&str, &str)]) {
        let mut headers = vec![("Refer-To", refer_to)];
        headers.extend_from_slice(extra);
        self.request(dialog, "REFER", None, &headers);
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
