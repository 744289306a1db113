//! The SIP ladders of the transfers running on this shard (`transfer::diagnostics`): which
//! Call-IDs are watched, for which call, and each call's ladder.
//!
//! Watching starts when a transfer begins (the call's legs) and grows with the legs it adds
//! (the fallback leg C); it ends when the attempt's record is written, or with the call. The
//! taps (every datagram in, every transmit out) cost one `is_empty` check while no transfer
//! runs on the shard, so calls that never transfer pay nothing; while some do, a message costs
//! one parse (memchr-fast, no allocation) and one Call-ID lookup.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::sip::{HeaderName, Message};
use crate::transfer::{Direction, Ladder};
use crate::vocab::Time;

#[derive(Debug, Default)]
pub(super) struct Ladders {
    /// The time of the input being handled (outputs carry no time of their own).
    now: Time,
    /// Watched Call-IDs: the call and the trunk of the leg.
    by_call_id: crate::vocab::hash::KeyedHashMap<String, (u64, String)>,
    ladders: HashMap<u64, (Ladder, SocketAddr)>,
}

impl Ladders {
    /// The input being handled happens at `now`.
    pub(super) fn tick(&mut self, now: Time) {
        self.now = now;
    }

    pub(super) fn watching(&self) -> bool {
        !self.by_call_id.is_empty()
    }

    /// Starts the ladder of call `call`'s transfer, watching `legs` (Call-ID, trunk). `local`:
    /// handoff's SIP address as peers see it; `bodies`: `sbc.audit_bodies`. False (and nothing
    /// changes) when the call has a ladder open already: another attempt's, which goes on.
    pub(super) fn open<'a>(
        &mut self,
        now: Time,
        call: u64,
        local: SocketAddr,
        bodies: bool,
        legs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        self.now = now;
        if self.ladders.contains_key(&call) {
            return false;
        }
        self.ladders.insert(call, (Ladder::new(now, bodies), local));
        for (call_id, trunk) in legs {
            self.by_call_id
                .insert(call_id.to_owned(), (call, trunk.to_owned()));
        }
        true
    }

    /// Watches one more leg of `call` (only while its ladder is open).
    pub(super) fn watch(&mut self, call: u64, call_id: &str, trunk: &str) {
        if self.ladders.contains_key(&call) {
            self.by_call_id
                .insert(call_id.to_owned(), (call, trunk.to_owned()));
        }
    }

    /// A datagram received from `peer` or sent to it: on the ladder if its Call-ID is watched.
    pub(super) fn tap(&mut self, direction: Direction, peer: SocketAddr, payload: &[u8]) {
        if !self.watching() {
            return;
        }
        let Ok(message) = Message::parse(payload) else {
            return;
        };
        let Some(call_id) = message
            .header(HeaderName::CallId)
            .and_then(|v| std::str::from_utf8(v).ok())
        else {
            return;
        };
        let Some((call, trunk)) = self.by_call_id.get(call_id) else {
            return;
        };
        if let Some((ladder, local)) = self.ladders.get_mut(call) {
            let (from, to) = match direction {
                Direction::In => (peer, *local),
                Direction::Out => (*local, peer),
            };
            ladder.push(self.now, direction, trunk, from, to, &message);
        }
    }

    /// Ends call `call`'s ladder and returns it.
    pub(super) fn close(&mut self, call: u64) -> Option<Ladder> {
        let (ladder, _) = self.ladders.remove(&call)?;
        self.by_call_id.retain(|_, (owner, _)| *owner != call);
        Some(ladder)
    }
}
