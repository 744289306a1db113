//! One [`ShardCore`] driven by hand, without the simulated network: for a test or bench that
//! scripts the peers' messages itself and reads what handoff sent (the ACK window test, the
//! core's memory per call, `bench/core`). Time moves only when the script says so.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::core::{Output, ShardCore, ShardId, Time};
use crate::sip::{HeaderName, Message, Method, RequestBuilder, response_to};
use crate::vocab::StatusCode;

pub struct OneShard {
    pub core: ShardCore,
    pub now: Time,
    /// What handoff sent, in order, not yet taken.
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
    /// Run `ShardCore::check_invariants` after every input and every advance.
    check_invariants: bool,
}

impl OneShard {
    /// Shard 0 of 1, with `config` and the RNG seeded with `seed`, at time zero.
    pub fn new(config: Config, seed: u64) -> OneShard {
        OneShard {
            core: ShardCore::new(ShardId(0), 1, Arc::new(config), seed),
            now: Time::ZERO,
            sent: Vec::new(),
            check_invariants: false,
        }
    }

    /// Checks the core's invariants after every input and every advance.
    pub fn checking_invariants(mut self) -> OneShard {
        self.check_invariants = true;
        self
    }

    /// Moves every output into `sent` (transmits; the rest is dropped).
    pub fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            if let Output::Transmit(t) = output {
                self.sent.push((t.to, t.payload));
            }
        }
    }

    /// A datagram from `from`, now.
    pub fn deliver(&mut self, from: SocketAddr, payload: &[u8]) {
        self.core.handle_datagram(self.now, from, payload);
        self.drain();
        if self.check_invariants {
            self.core.check_invariants();
        }
    }

    /// Time passes to `at`, each timer firing at its own deadline on the way.
    pub fn advance_to(&mut self, at: Time) {
        while let Some(due) = self.core.poll_timeout().filter(|due| *due <= at) {
            self.now = due.max(self.now);
            self.core.handle_timeout(self.now);
            self.drain();
        }
        self.now = at.max(self.now);
        if self.check_invariants {
            self.core.check_invariants();
        }
    }

    pub fn advance(&mut self, ms: u64) {
        self.advance_to(self.now.plus_millis(ms));
    }

    /// Everything sent to `to` that starts with `prefix`, taken out of `sent`.
    pub fn take_all(&mut self, to: SocketAddr, prefix: &[u8]) -> Vec<Vec<u8>> {
        let (taken, kept) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(dest, p)| *dest == to && p.starts_with(prefix));
        self.sent = kept;
        taken.into_iter().map(|(_, p)| p).collect()
    }

    /// The one message sent to `to` that starts with `prefix` (panics on none or several).
    pub fn take_one(&mut self, to: SocketAddr, prefix: &[u8]) -> Vec<u8> {
        let mut all = self.take_all(to, prefix);
        assert_eq!(
            all.len(),
            1,
            "expected one {:?} to {to}",
            String::from_utf8_lossy(prefix)
        );
        all.remove(0)
    }

    /// The latest message sent to `to` that starts with `prefix`; everything else sent is
    /// dropped (provisional responses, retransmissions the script does not read).
    pub fn take_latest(&mut self, to: SocketAddr, prefix: &[u8]) -> Vec<u8> {
        let index = self
            .sent
            .iter()
            .rposition(|(dest, p)| *dest == to && p.starts_with(prefix))
            .unwrap_or_else(|| panic!("handoff sent no {:?}", String::from_utf8_lossy(prefix)));
        let payload = self.sent.swap_remove(index).1;
        self.sent.clear();
        payload
    }
}

/// A peer's answer to `request` (which handoff sent): `status`, To-tag `platformtag`, Contact
/// `contact`, and `sdp` as the body if given.
pub fn answer(request: &[u8], status: StatusCode, contact: &str, sdp: Option<Vec<u8>>) -> Vec<u8> {
    let message = Message::parse(request).expect("handoff sent a parseable request");
    let mut builder = response_to(&message, status, "OK")
        .to_tag("platformtag")
        .header("Contact", contact);
    if let Some(sdp) = sdp {
        builder = builder.body("application/sdp", sdp);
    }
    builder.build().expect("the answer builds")
}

/// A request from the peer at `from` inside the dialog of `ok` (handoff's 2xx to its INVITE):
/// From, To and Call-ID as `ok` has them, Via with `branch`.
pub fn in_dialog_request(
    ok: &[u8],
    method: Method,
    cseq: u32,
    from: SocketAddr,
    branch: &str,
) -> Vec<u8> {
    let message = Message::parse(ok).expect("handoff sent a parseable 2xx");
    let header =
        |name| String::from_utf8_lossy(message.header(name).unwrap_or_default()).into_owned();
    RequestBuilder::new(method, "sip:handoff@10.0.0.10:5060")
        .header("Via", format!("SIP/2.0/UDP {from};branch={branch}"))
        .header("Max-Forwards", "70")
        .header("From", header(HeaderName::From))
        .header("To", header(HeaderName::To))
        .header("Call-ID", header(HeaderName::CallId))
        .header("CSeq", format!("{cseq} {}", method.as_str()))
        .build()
        .expect("the request builds")
}
