//! Flood limits (Kamailio's pike): token buckets on what reaches a shard, checked before a
//! datagram is parsed. Time is an input, so the simulation replays them.
//!
//! - Every trunk has one bucket for all its sources together (`sbc.source_limit.trunk_pps`).
//! - An address that is no trunk's gets a bucket of its own (`sbc.source_limit.pps`), but only
//!   when handoff would answer it (`unknown_source = "reject"`): under "drop" its datagrams are
//!   dropped on arrival and no state is kept for it at all.
//! - A source whose bucket runs dry is dropped for `ban_s` seconds, then starts with a full one.
//!
//! Bounds: the trunk buckets are one per configured trunk; the strangers' table holds at most
//! [`MAX_TRACKED_SOURCES`] addresses per shard. When it is full, entries idle for a second (their
//! bucket would be full again, the same as no entry) are forgotten, in one sweep at most once a
//! second; until that makes room, a new stranger is dropped (counted as rate-limited).

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{Config, SourceLimit};
use crate::vocab::Time;

/// Strangers' addresses one shard keeps buckets for, at most.
pub const MAX_TRACKED_SOURCES: usize = 16_384;

/// A datagram costs one token; tokens are kept in millionths.
const TOKEN: u64 = 1_000_000;

/// What the limiter says about one datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over budget, or banned: drop it.
    Dropped,
    /// Over budget just now: drop it, and the source is banned from now on for `ban_s`.
    Banned {
        ban_s: u32,
    },
}

#[derive(Clone, Debug)]
struct Bucket {
    /// Millionths of a token.
    tokens: u64,
    last: Time,
    banned_until: Option<Time>,
}

impl Bucket {
    fn full(pps: u32, now: Time) -> Bucket {
        Bucket {
            tokens: u64::from(pps) * TOKEN,
            last: now,
            banned_until: None,
        }
    }

    fn admit(&mut self, now: Time, pps: u32, ban_s: u32) -> Admission {
        if let Some(until) = self.banned_until {
            if now < until {
                return Admission::Dropped;
            }
            *self = Bucket::full(pps, now);
        }
        let capacity = u64::from(pps) * TOKEN;
        let elapsed_us = now.micros_since(self.last);
        self.last = now;
        self.tokens = self
            .tokens
            .saturating_add(elapsed_us.saturating_mul(u64::from(pps)))
            .min(capacity);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            return Admission::Admitted;
        }
        self.banned_until = Some(now.plus_millis(u64::from(ban_s) * 1000));
        Admission::Banned { ban_s }
    }

    fn idle_since(&self, now: Time) -> bool {
        self.banned_until.is_none_or(|until| until <= now)
            && now.micros_since(self.last) >= 1_000_000
    }
}

/// One shard's buckets (see the module docs).
#[derive(Debug, Default)]
pub struct SourceLimiter {
    /// The config the trunk buckets were made for (a reload makes new ones).
    config: Option<Arc<Config>>,
    trunks: Vec<Bucket>,
    strangers: crate::vocab::hash::KeyedHashMap<IpAddr, Bucket>,
    /// When the full table was last swept: at most once a second, so a spoofed flood cannot
    /// make every datagram pay for a sweep.
    last_sweep: Option<Time>,
}

impl SourceLimiter {
    /// Whether a datagram from `source`, which belongs to `trunk` (index into `config`) or to
    /// no trunk, may be looked at.
    pub fn admit(
        &mut self,
        now: Time,
        source: IpAddr,
        trunk: Option<usize>,
        config: &Arc<Config>,
    ) -> Admission {
        let limit: SourceLimit = config.sbc.source_limit;
        match trunk {
            Some(trunk) => {
                if limit.trunk_pps == 0 {
                    return Admission::Admitted;
                }
                if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
                    self.config = Some(config.clone());
                    self.trunks = vec![Bucket::full(limit.trunk_pps, now); config.trunks.len()];
                }
                match self.trunks.get_mut(trunk) {
                    Some(bucket) => bucket.admit(now, limit.trunk_pps, limit.ban_s),
                    None => Admission::Admitted,
                }
            }
            None => {
                if limit.pps == 0 {
                    return Admission::Admitted;
                }
                if !self.strangers.contains_key(&source)
                    && self.strangers.len() >= MAX_TRACKED_SOURCES
                {
                    let sweep_due = self
                        .last_sweep
                        .is_none_or(|last| now.micros_since(last) >= 1_000_000);
                    if sweep_due {
                        self.last_sweep = Some(now);
                        self.strangers.retain(|_, bucket| !bucket.idle_since(now));
                    }
                    if self.strangers.len() >= MAX_TRACKED_SOURCES {
                        return Admission::Dropped;
                    }
                }
                self.strangers
                    .entry(source)
                    .or_insert_with(|| Bucket::full(limit.pps, now))
                    .admit(now, limit.pps, limit.ban_s)
            }
        }
    }

    /// Strangers' addresses with a bucket now (bounded by [`MAX_TRACKED_SOURCES`]).
    pub fn tracked_sources(&self) -> usize {
        self.strangers.len()
    }
}
