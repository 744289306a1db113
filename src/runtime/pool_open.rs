//! Opening a shard's media pool after the shard serves (issue 12: "no socket syscalls per
//! call", and "restart in under 100 ms").
//!
//! Every RTP/RTCP pair of the shard's slice is opened once and kept for the backend's life
//! ([`Backend::open_media_pairs`]): a call only takes an open pair and gives it back. With the
//! default range (20,000 ports) opening them all takes 50-270 ms depending on the backend form,
//! so a shard serves SIP first and opens its slice from its own loop, [`CHUNK_PAIRS`] pairs per
//! loop turn (one io_uring submission, ~1-3 ms), admitting each chunk into the core's pool
//! (`ShardCore::admit_media_ports`) once its sockets are open. Until a pair is free a call gets
//! 503 "no media ports", exactly as when the pool is exhausted.
//!
//! A handoff restarted at once may find ports its predecessor's exit is still releasing (the
//! kernel closes an io_uring's files after the process is gone). A pair refused "in use"
//! (EADDRINUSE) is tried again, in rounds [`RETRY_FIRST_MS`] apart and doubling up to
//! [`RETRY_MAX_MS`], for [`BUSY_FOR_MS`]; only then is it left out of the pool with the
//! warning. Other bind errors leave a pair out at once, as before.
//!
//! When the shard's pool is complete it logs its line (ports opened, milliseconds, ceiling),
//! and the last shard to complete logs "media pool complete".

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::backend::{Backend, BackendError, MediaPorts};
use super::shard::ShardStatus;
use crate::core::{ShardCore, Time};

/// Pairs opened per loop turn: 256 sockets, one io_uring submission (~1 ms on Linux 6.x, ~2-3
/// ms on the 5.15 forms and epoll on this host).
pub const CHUNK_PAIRS: usize = 128;
/// The first pause before pairs found in use are tried again; each round doubles it.
pub const RETRY_FIRST_MS: u64 = 5;
pub const RETRY_MAX_MS: u64 = 100;
/// How long pairs found in use are tried again before they are left out of the pool.
pub const BUSY_FOR_MS: u64 = 10_000;

/// What a shard opens: its slice of `sbc.media_ports` and the socket budget, decided in
/// `Server::start`.
#[derive(Debug, Clone)]
pub struct MediaPlan {
    pub ip: IpAddr,
    /// The shard's slice `[start, end)`.
    pub start: u16,
    pub end: u16,
    /// Media sockets the shard may hold (`relay::media_socket_budget`).
    pub max_sockets: usize,
    /// The capacity the start-up line reports (`relay::CallCapacity`).
    pub by_ports: u64,
    pub by_descriptors: u64,
    pub nofile_soft: u64,
    /// The backend is io_uring (the advice when RLIMIT_NOFILE caps the pool differs).
    pub uring: bool,
    /// Shards whose pool is not complete yet; the last one logs "media pool complete".
    pub pending: Arc<AtomicUsize>,
}

/// The state of one shard's opening, driven by [`PoolOpener::step`] from the shard loop.
#[derive(Debug)]
pub struct PoolOpener {
    plan: MediaPlan,
    shard: usize,
    /// The next RTP port of the first pass.
    next: u32,
    /// Pairs found in use: this round's still to try, and the next round's.
    round: Vec<u16>,
    next_round: Vec<u16>,
    retry_every_ms: u64,
    retry_at: Time,
    give_up_at: Option<Time>,
    started: Time,
    opened: usize,
    total: MediaPorts,
}

impl PoolOpener {
    /// Declares the slice to the backend (no pair open yet) and withdraws every pair from the
    /// core's pool until it is open.
    pub fn new<B: Backend>(
        plan: MediaPlan,
        shard: usize,
        now: Time,
        backend: &mut B,
        core: &mut ShardCore,
    ) -> PoolOpener {
        backend.media_pool(plan.start, plan.end);
        core.restrict_media_ports(&[]);
        PoolOpener {
            next: u32::from(plan.start.div_ceil(2) * 2),
            plan,
            shard,
            round: Vec::new(),
            next_round: Vec::new(),
            retry_every_ms: RETRY_FIRST_MS,
            retry_at: now,
            give_up_at: None,
            started: now,
            opened: 0,
            total: MediaPorts::default(),
        }
    }

    /// Opens the next chunk (or tries pairs found in use again, when their time has come).
    /// Returns when to come back: `Some(now)` while there is more to open at once, a later
    /// time while pairs in use wait for their next round, `None` once the pool is complete.
    pub fn step<B: Backend>(
        &mut self,
        now: Time,
        backend: &mut B,
        core: &mut ShardCore,
        status: &ShardStatus,
    ) -> Result<Option<Time>, BackendError> {
        if self.next + 1 < u32::from(self.plan.end) {
            let chunk: Vec<u16> = (self.next..u32::from(self.plan.end) - 1)
                .step_by(2)
                .take(CHUNK_PAIRS)
                .map(|p| p as u16)
                .collect();
            self.next += 2 * chunk.len() as u32;
            self.open(&chunk, now, backend, core)?;
            return Ok(Some(now));
        }
        if self.round.is_empty() && !self.next_round.is_empty() {
            if now < self.retry_at {
                return Ok(Some(self.retry_at));
            }
            if self.give_up_at.is_some_and(|at| now >= at) {
                // Still in use after BUSY_FOR_MS: held by another program, not a predecessor.
                let left = std::mem::take(&mut self.next_round);
                self.total.refused += left.len();
                if self.total.first_error.is_none() {
                    self.total.first_error = self.total.busy_error.take();
                }
            } else {
                self.round = std::mem::take(&mut self.next_round);
                self.retry_at = now.plus_millis(self.retry_every_ms);
                self.retry_every_ms = (self.retry_every_ms * 2).min(RETRY_MAX_MS);
            }
        }
        if !self.round.is_empty() {
            let n = self.round.len().min(CHUNK_PAIRS);
            let batch: Vec<u16> = self.round.drain(..n).collect();
            self.open(&batch, now, backend, core)?;
            return Ok(Some(if self.round.is_empty() {
                self.retry_at.max(now)
            } else {
                now
            }));
        }
        if !self.next_round.is_empty() {
            return Ok(Some(self.retry_at));
        }
        self.complete(now, status);
        Ok(None)
    }

    fn open<B: Backend>(
        &mut self,
        rtp_ports: &[u16],
        now: Time,
        backend: &mut B,
        core: &mut ShardCore,
    ) -> Result<(), BackendError> {
        let opened = backend.open_media_pairs(self.plan.ip, rtp_ports, self.plan.max_sockets)?;
        core.admit_media_ports(&opened.rtp_ports);
        self.opened += opened.rtp_ports.len();
        self.total.refused += opened.refused;
        self.total.over_budget += opened.over_budget;
        if self.total.first_error.is_none() {
            self.total.first_error = opened.first_error;
        }
        if !opened.busy.is_empty() {
            if self.give_up_at.is_none() {
                self.give_up_at = Some(now.plus_millis(BUSY_FOR_MS));
                // (The error text waits for the warning: a retry that succeeds is not one.)
                tracing::debug!(
                    shard = self.shard,
                    pairs = opened.busy.len(),
                    "media ports still held (a predecessor exiting?): tried again shortly"
                );
            }
            if self.total.busy_error.is_none() {
                self.total.busy_error = opened.busy_error;
            }
            self.next_round.extend(opened.busy);
        }
        Ok(())
    }

    fn complete(&mut self, now: Time, status: &ShardStatus) {
        let shard = self.shard;
        let pairs = self.opened as u64;
        let ms = now.0.saturating_sub(self.started.0) as f64 / 1e6;
        let slice_ports = self.plan.end.saturating_sub(self.plan.start);
        // A call holds two pairs (legs A and B); a local transfer's ringing leg C a third.
        tracing::info!(
            shard,
            media_ports = pairs * 2,
            slice_ports,
            by_ports = self.plan.by_ports,
            by_descriptors = self.plan.by_descriptors,
            concurrent_calls = pairs / 2,
            refused_pairs = self.total.refused,
            over_descriptor_budget_pairs = self.total.over_budget,
            elapsed_ms = format_args!("{ms:.1}"),
            "media ports opened at start-up: {} ports ({pairs} pairs) in {ms:.1} ms, SIP \
             already up; ceiling: {} concurrent calls on this shard, beyond it 503",
            pairs * 2,
            pairs / 2,
        );
        if let Some(error) = &self.total.first_error {
            tracing::warn!(
                shard,
                refused_pairs = self.total.refused,
                first = %error,
                "media ports left out of the pool: their sockets could not be bound"
            );
        }
        if self.total.over_budget > 0 {
            // The advice differs: on epoll every media socket is a process descriptor; on
            // io_uring only each ring's registered-file table is capped by the limit.
            let advice = if self.plan.uring {
                "each io_uring ring's registered-file table is capped by it: raise it, or \
                 run more shards"
            } else {
                "every epoll media socket is a process descriptor: raise it, or use \
                 io_uring, whose media sockets are not"
            };
            tracing::warn!(
                shard,
                pairs_left_out = self.total.over_budget,
                nofile_soft = self.plan.nofile_soft,
                "media ports left out of the pool: RLIMIT_NOFILE is the ceiling ({advice})"
            );
        }
        status.media_ready.store(true, Ordering::Release);
        if self.plan.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracing::info!(
                elapsed_ms = format_args!("{ms:.1}"),
                "media pool complete: every shard's media ports are open"
            );
        }
    }
}
