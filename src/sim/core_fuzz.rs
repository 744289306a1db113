//! Fuzz driver for the whole core: interprets arbitrary bytes as a sequence of operations on two
//! [`ShardCore`]s (raw datagrams from trunk and non-trunk addresses, time steps that fire due
//! timers, well-formed INVITEs, responses and in-dialog requests built from what handoff sent),
//! and checks the invariants after every operation. Used by `fuzz/fuzz_targets/core_datagrams.rs`
//! and by a property test, so it also runs under `cargo test`.
//!
//! The structured operations exist so the fuzzer reaches deep call states (answered, re-INVITE,
//! CANCEL races, BYE glare) instead of spending its time on the parser.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{SBC_ADDR, reuseport_shard, standard_config};
use crate::core::{Event, MediaCommand, Output, ShardCore, ShardId, Time};
use sipwire::{Builder, Message};

const SOURCES: [&str; 4] = [
    "10.0.0.1:5060",
    "10.0.0.2:5060",
    "10.0.0.3:5060",
    "10.9.9.9:5060",
];
const STATUSES: [u16; 10] = [100, 180, 183, 200, 202, 404, 486, 487, 491, 603];
const METHODS: [&str; 8] = [
    "BYE", "INVITE", "INFO", "UPDATE", "OPTIONS", "NOTIFY", "REFER", "MESSAGE",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060)))
}

fn sdp(variant: u8) -> Option<Vec<u8>> {
    match variant % 4 {
        0 => None,
        1 => Some(super::offer_sdp("10.0.0.1", 4000)),
        2 => Some(super::sdp_with("0.0.0.0", 4002, "sendonly", &[18])),
        _ => Some(b"v=0\r\nm=audio x\r\n".to_vec()),
    }
}

/// One datagram of a traced run, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A datagram delivered to handoff.
    In { from: SocketAddr, payload: Vec<u8> },
    /// A datagram handoff sent.
    Out { to: SocketAddr, payload: Vec<u8> },
}

/// What one run did, so a test can check a structured sequence did what it says
/// ([`drive_traced`]). The fuzz target does not record it.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub ladder: Vec<Step>,
    pub events: Vec<Event>,
    pub media: Vec<MediaCommand>,
    /// Per shard after every timer has run out: (calls active, calls held, media ports in use).
    pub end_state: Vec<(usize, usize, usize)>,
}

/// Two shards, a timer queue and a log of what handoff sent.
struct Harness {
    cores: Vec<ShardCore>,
    sbc: SocketAddr,
    now: Time,
    /// (destination, payload) of recent transmits.
    sent: Vec<(SocketAddr, Vec<u8>)>,
    counter: u64,
    trace: Option<Trace>,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let config = Arc::new(standard_config());
        let cores = (0..2)
            .map(|i| ShardCore::new(ShardId(i), 2, config.clone(), seed + u64::from(i)))
            .collect();
        Harness {
            cores,
            sbc: addr(SBC_ADDR),
            now: Time::ZERO,
            sent: Vec::new(),
            counter: 0,
            trace: None,
        }
    }

    fn drain(&mut self) {
        // Shard messages may produce more outputs: loop until every core is quiet.
        loop {
            let mut messages = Vec::new();
            for (index, core) in self.cores.iter_mut().enumerate() {
                while let Some(output) = core.poll_output() {
                    match output {
                        Output::Transmit(t) => {
                            if let Some(trace) = &mut self.trace {
                                trace.ladder.push(Step::Out {
                                    to: t.to,
                                    payload: t.payload.clone(),
                                });
                            }
                            if self.sent.len() >= 64 {
                                self.sent.remove(0);
                            }
                            self.sent.push((t.to, t.payload));
                        }
                        Output::ToShard { shard, message } => {
                            messages.push((index, shard, message))
                        }
                        Output::Media(command) => {
                            if let Some(trace) = &mut self.trace {
                                trace.media.push(command);
                            }
                        }
                        Output::QueryMediaActivity { call } => {
                            // No relay here: the call never had media.
                            core.handle_media_activity(self.now, call, None);
                        }
                        // No hook server here: the core's own deadline decides.
                        Output::ReferHook { .. } => {}
                        Output::Event(event) => {
                            if let Some(trace) = &mut self.trace {
                                trace.events.push(event);
                            }
                        }
                    }
                }
            }
            if messages.is_empty() {
                break;
            }
            for (from, to, message) in messages {
                if let Some(core) = self.cores.get_mut(usize::from(to.0)) {
                    core.handle_shard_message(self.now, ShardId(from as u16), message);
                }
            }
        }
        for core in &self.cores {
            core.check_invariants();
        }
    }

    fn deliver(&mut self, from: SocketAddr, payload: &[u8]) {
        if let Some(trace) = &mut self.trace {
            trace.ladder.push(Step::In {
                from,
                payload: payload.to_vec(),
            });
        }
        let shard = reuseport_shard(from, self.sbc, self.cores.len() as u16);
        self.cores[usize::from(shard.0)].handle_datagram(self.now, from, payload);
        self.drain();
    }

    fn advance(&mut self, ms: u64) {
        let until = self.now.plus_millis(ms);
        // The earliest deadline of any shard, until none is due before `until`.
        while let Some((at, index)) = self
            .cores
            .iter()
            .enumerate()
            .filter_map(|(index, core)| core.poll_timeout().map(|at| (at, index)))
            .min()
        {
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            self.cores[index].handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    fn unique(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn invite(&mut self, source: usize, variant: u8, extra: u8) {
        let n = self.unique();
        let from = addr(SOURCES[source % SOURCES.len()]);
        let number = ["+15551230000", "+445550001", "", "abc"][usize::from(variant) % 4];
        let mut builder = Builder::request("INVITE", &format!("sip:{number}@{}", self.sbc))
            .header("Via", format!("SIP/2.0/UDP {from};branch=z9hG4bKf{n}"))
            .header("Max-Forwards", ["70", "1", "0"][usize::from(extra) % 3])
            .header("From", format!("<sip:fz@{}>;tag=f{n}", from.ip()))
            .header("To", format!("<sip:{number}@{}>", self.sbc.ip()))
            .header("Call-ID", format!("fuzz-{n}@{}", from.ip()))
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:fz@{from}>"));
        if extra & 4 != 0 {
            builder = builder.header("Require", "100rel");
        }
        if let Some(body) = sdp(variant >> 2) {
            builder = builder.body("application/sdp", body);
        }
        self.deliver(from, &builder.build());
    }

    /// The peer answers a request handoff sent.
    fn respond(&mut self, pick: u8, status_pick: u8, variant: u8) {
        let Some((to, request)) = self.pick_sent(pick, true) else {
            return;
        };
        let Ok(message) = Message::parse(&request) else {
            return;
        };
        if message.method() == Some("ACK") {
            return;
        }
        let status = STATUSES[usize::from(status_pick) % STATUSES.len()];
        let mut builder = Builder::response_to(&message, status, "Fuzz")
            .to_tag(&format!("p{}", variant % 3))
            .header("Contact", format!("<sip:peer@{to}>"));
        if (180..300).contains(&status)
            && let Some(body) = sdp(variant)
        {
            builder = builder.body("application/sdp", body);
        }
        self.deliver(to, &builder.build());
    }

    /// The peer sends an in-dialog request (or ACK/CANCEL) built from a message handoff sent.
    fn in_dialog(&mut self, pick: u8, method_pick: u8) {
        let Some((to, bytes)) = self.pick_sent(pick, false) else {
            return;
        };
        let Ok(message) = Message::parse(&bytes) else {
            return;
        };
        let n = self.unique();
        let text = |name| message.header(name).unwrap_or_default().to_string();
        let cseq = message.cseq().map(|c| c.0).unwrap_or(1);
        // Seen from the peer: for a response it sent us, From/To stay; for a request handoff
        // sent, they swap.
        let (from_value, to_value) = if message.is_request() {
            (text("To"), text("From"))
        } else {
            (text("From"), text("To"))
        };
        let method = match method_pick % 10 {
            8 => "ACK",
            9 => "CANCEL",
            m => METHODS[usize::from(m) % METHODS.len()],
        };
        let cseq = if matches!(method, "ACK" | "CANCEL") {
            cseq
        } else {
            cseq + 1 + u32::from(method_pick / 10)
        };
        // Every other REFER goes outside the dialog (RFC 5589 section 6.1): no To tag, a new
        // Call-ID, the dialog named in Target-Dialog, in either point of view.
        let out_of_dialog = method == "REFER" && (method_pick / 10) % 2 == 1;
        let (call_id, to_value, target_dialog) = if out_of_dialog {
            let tag_of = |value: &str| {
                value
                    .split(";tag=")
                    .nth(1)
                    .map(|t| t.split([';', '>']).next().unwrap_or_default().to_string())
                    .unwrap_or_default()
            };
            let (ours, theirs) = (tag_of(&to_value), tag_of(&from_value));
            let (local, remote) = if (method_pick / 20).is_multiple_of(2) {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            let untagged = to_value
                .split(";tag=")
                .next()
                .unwrap_or_default()
                .to_string();
            (
                format!("ood-{n}"),
                untagged,
                Some(format!(
                    "{};local-tag={local};remote-tag={remote}",
                    text("Call-ID")
                )),
            )
        } else {
            (text("Call-ID"), to_value, None)
        };
        let mut builder = Builder::request(method, &format!("sip:handoff@{}", self.sbc))
            .header("Via", format!("SIP/2.0/UDP {to};branch=z9hG4bKd{n}"))
            .header("Max-Forwards", "70")
            .header("From", from_value)
            .header("To", to_value)
            .header("Call-ID", call_id)
            .header("CSeq", format!("{cseq} {method}"))
            .header("Contact", format!("<sip:peer@{to}>"));
        if let Some(target_dialog) = target_dialog {
            builder = builder
                .header("Require", "tdialog")
                .header("Target-Dialog", target_dialog)
                .header("Refer-To", "<sip:+442071234567@platform.example>");
        }
        if matches!(method, "INVITE" | "UPDATE") {
            builder = builder.body(
                "application/sdp",
                super::sdp_with("10.0.0.2", 5000, "sendonly", &[0]),
            );
        }
        self.deliver(to, &builder.build());
    }

    fn pick_sent(&self, pick: u8, want_request: bool) -> Option<(SocketAddr, Vec<u8>)> {
        let candidates: Vec<&(SocketAddr, Vec<u8>)> = self
            .sent
            .iter()
            .filter(|(_, p)| !want_request || !p.starts_with(b"SIP/2.0 "))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (to, payload) = candidates[usize::from(pick) % candidates.len()];
        Some((*to, payload.clone()))
    }
}

/// Run one fuzz input. Panics only when the core breaks an invariant (or panics itself).
pub fn drive(data: &[u8]) {
    run(data, false);
}

/// [`drive`], recording every datagram, event and media command, and the end state.
pub fn drive_traced(data: &[u8]) -> Trace {
    run(data, true).unwrap_or_default()
}

fn run(data: &[u8], traced: bool) -> Option<Trace> {
    let mut input = Input(data);
    let seed = u64::from(input.byte().unwrap_or(0));
    let mut harness = Harness::new(seed);
    if traced {
        harness.trace = Some(Trace::default());
    }
    while let Some(op) = input.byte() {
        let a = input.byte().unwrap_or(0);
        let b = input.byte().unwrap_or(0);
        match op % 7 {
            0 => {
                let len = usize::from(a) * 8 + usize::from(b % 8);
                let payload = input.take(len);
                harness.deliver(addr(SOURCES[usize::from(b) % SOURCES.len()]), &payload);
            }
            1 => harness.advance(u64::from(a) * 100 + u64::from(b)),
            2 => harness.invite(usize::from(a), b, a ^ b),
            3 | 4 => {
                let c = input.byte().unwrap_or(0);
                harness.respond(a, b, c);
            }
            5 => harness.in_dialog(a, b),
            _ => {
                // A retransmission of something handoff sent, reflected back at it.
                if let Some((to, payload)) = harness.pick_sent(a, false) {
                    harness.deliver(to, &payload);
                }
            }
        }
    }
    // Let every timer run out: calls end or stay consistent, nothing leaks a port.
    for _ in 0..10 {
        harness.advance(60_000);
    }
    for core in &harness.cores {
        core.check_invariants();
        // Ended calls are forgotten once their transactions are over.
        assert_eq!(
            core.calls_held(),
            core.calls_active(),
            "ended calls still held after 10 minutes"
        );
    }
    let end_state = harness
        .cores
        .iter()
        .map(|core| {
            (
                core.calls_active(),
                core.calls_held(),
                core.media_ports_in_use(),
            )
        })
        .collect();
    harness.trace.map(|trace| Trace { end_state, ..trace })
}
