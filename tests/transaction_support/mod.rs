//! Shared by the tests/transaction_*.rs files: a virtual clock that fires the layer's timers in
//! order, and hand-written SIP messages.
#![allow(dead_code)]

use std::net::SocketAddr;

use handoff::config::SipTimers;
use handoff::core::transaction::{
    ClientAction, ClientTxId, ServerAction, TransactionLayer, TransactionTimeout, TxOutput,
};
use handoff::core::{Time, Transmit};
use handoff::sip::{Message, Method};

pub const CARRIER: &str = "192.0.2.10:5060";
pub const PLATFORM: &str = "198.51.100.20:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The layer plus what a driver would do: collect transmits, advance time to the layer's
/// deadlines (`poll_timeout`) and report it (`handle_timeout`).
pub struct Driver {
    pub layer: TransactionLayer,
    pub now: Time,
    pub sent: Vec<(Time, Transmit)>,
    pub timeouts: Vec<(Time, TransactionTimeout)>,
}

impl Driver {
    pub fn new() -> Driver {
        Driver::with_timers(SipTimers::default())
    }

    pub fn with_timers(timers: SipTimers) -> Driver {
        Driver {
            layer: TransactionLayer::new(timers),
            now: Time::ZERO,
            sent: Vec::new(),
            timeouts: Vec::new(),
        }
    }

    /// Sends handoff's own INVITE (CSeq 1) to the platform and drains what it emits.
    pub fn send_our_invite(&mut self, branch: &str, call_id: &str) -> ClientTxId {
        let tx = self
            .layer
            .send_request(
                self.now,
                addr(PLATFORM),
                Method::Invite,
                branch,
                our_request("INVITE", branch, call_id, 1),
            )
            .expect("a fresh branch is accepted");
        self.drain();
        tx
    }

    pub fn drain(&mut self) {
        while let Some(output) = self.layer.poll_output() {
            match output {
                TxOutput::Transmit(t) => self.sent.push((self.now, t)),
            }
        }
        if let Some(at) = self.layer.poll_timeout() {
            assert!(at >= self.now, "timer armed in the past");
        }
        self.layer.check_invariants();
    }

    /// Fires every timer due up to `ms` (in time order), then sets the clock to `ms`.
    pub fn advance_to_ms(&mut self, ms: u64) {
        let until = Time::from_millis(ms);
        while let Some(at) = self.layer.poll_timeout().filter(|at| *at <= until) {
            self.now = at;
            if let Some(timeout) = self.layer.handle_timeout(at) {
                self.timeouts.push((at, timeout));
            }
            self.drain();
        }
        self.now = until;
    }

    pub fn request(&mut self, from: &str, bytes: &[u8]) -> ServerAction {
        let message = Message::parse(bytes).expect("test request parses");
        let action = self.layer.on_request(self.now, addr(from), &message);
        self.drain();
        action
    }

    pub fn response(&mut self, from: &str, bytes: &[u8]) -> ClientAction {
        let message = Message::parse(bytes).expect("test response parses");
        let action = self.layer.on_response(self.now, addr(from), &message);
        self.drain();
        action
    }

    /// Transmits sent since index `from_index`, as (ms, destination, text).
    pub fn sent_since(&self, from_index: usize) -> Vec<(u64, SocketAddr, String)> {
        self.sent[from_index..]
            .iter()
            .map(|(at, t)| {
                (
                    at.as_millis(),
                    t.to,
                    String::from_utf8_lossy(&t.payload).into_owned(),
                )
            })
            .collect()
    }

    /// Times (ms) at which payloads starting with `prefix` were sent.
    pub fn send_times(&self, prefix: &str) -> Vec<u64> {
        self.sent
            .iter()
            .filter(|(_, t)| t.payload.starts_with(prefix.as_bytes()))
            .map(|(at, _)| at.as_millis())
            .collect()
    }

    pub fn last_sent(&self) -> String {
        let (_, t) = self.sent.last().expect("something was sent");
        String::from_utf8_lossy(&t.payload).into_owned()
    }
}

/// An INVITE as a carrier would send it.
pub fn invite(branch: &str, call_id: &str, from_tag: &str, cseq: u32) -> Vec<u8> {
    request_with(
        "INVITE", branch, call_id, from_tag, None, cseq, "INVITE", 70,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn request_with(
    method: &str,
    branch: &str,
    call_id: &str,
    from_tag: &str,
    to_tag: Option<&str>,
    cseq: u32,
    cseq_method: &str,
    max_forwards: u32,
) -> Vec<u8> {
    let via_branch = if branch.is_empty() {
        String::new()
    } else {
        format!(";branch={branch}")
    };
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:+15551234567@sbc.example.net SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060{via_branch}\r\n\
         Max-Forwards: {max_forwards}\r\n\
         From: \"Carrier\" <sip:+15550001111@carrier.example.com>;tag={from_tag}\r\n\
         To: <sip:+15551234567@sbc.example.net>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {cseq_method}\r\n\
         Contact: <sip:carrier@192.0.2.10:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A response the far end sends to one of our requests.
pub fn response_to_ours(
    status: u16,
    reason: &str,
    branch: &str,
    call_id: &str,
    to_tag: Option<&str>,
    cseq: u32,
    method: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "SIP/2.0 {status} {reason}\r\n\
         Via: SIP/2.0/UDP 203.0.113.5:5060;branch={branch};received=203.0.113.5\r\n\
         From: <sip:handoff@203.0.113.5>;tag=hf00000000aaaaaaaaaaaa\r\n\
         To: <sip:+15559876543@platform.example.net>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A request handoff sends (the TU builds these in real life).
pub fn our_request(method: &str, branch: &str, call_id: &str, cseq: u32) -> Vec<u8> {
    format!(
        "{method} sip:+15559876543@platform.example.net SIP/2.0\r\n\
         Via: SIP/2.0/UDP 203.0.113.5:5060;branch={branch}\r\n\
         Max-Forwards: 69\r\n\
         Route: <sip:edge1.platform.example.net;lr>\r\n\
         Route: <sip:edge2.platform.example.net;lr>\r\n\
         From: <sip:handoff@203.0.113.5>;tag=hf00000000aaaaaaaaaaaa\r\n\
         To: <sip:+15559876543@platform.example.net>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:handoff@203.0.113.5:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A header's value in a sent message (first occurrence), for assertions.
pub fn header_of(text: &str, name: &str) -> Option<String> {
    let message = Message::parse(text.as_bytes()).expect("sent message parses");
    message
        .header_by_name(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn status_of(text: &str) -> u16 {
    Message::parse(text.as_bytes())
        .expect("sent message parses")
        .status()
        .expect("a response")
        .as_u16()
}
