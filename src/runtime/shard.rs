//! The per-shard loop: drives one [`ShardCore`] and one media [`MediaRelay`] over a [`Backend`].
//!
//! A turn: tell the core the time (it fires its own due deadlines) and deliver queued shard
//! messages; act on the core's outputs; flush (one batched submission, one wakeup per peer shard
//! that got messages); sleep until I/O or the core's next deadline (`poll_timeout`); read the clock once; dispatch what arrived (SIP to the core, media
//! through the relay table into the outbox); act on outputs again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::backend::{Backend, BackendError, Incoming};
use super::hep::HepSender;
use super::pool_open::{MediaPlan, PoolOpener};
use super::queues::ShardMesh;
use super::relay::MediaRelay;
use super::relay::RelayStats;
use crate::audit::AuditSender;
use crate::border_log::BorderLog;
use crate::config::Config;
use crate::core::call::LiveCall;
use crate::core::{EndReason, Event, Output, ShardCore, ShardId, ShardMessage, StatusCode, Time};
use crate::metrics::{RtpCounters, RuntimeMetrics, ShardMetrics, sip_method_index};
use crate::transfer::TransferRecord;
use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;

/// Slack on top of 64*T1 after the drain deadline. The final BYEs (and CANCELs) are client
/// transactions: retransmitted (Timer E) until answered, or timed out by Timer F at 64*T1
/// (RFC 3261 section 17.1.2.2); a shard stops once no shard has a call or such a request left,
/// and at the latest at `drain deadline + 64*T1 + DRAIN_GRACE` ([`drain_bound`]).
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long after the drain deadline a shard waits, at most, for the requests it sent to be
/// answered: Timer F (64*T1, with T1 clamped as the transaction layer does) plus
/// [`DRAIN_GRACE`].
pub fn drain_bound(t1_ms: u64) -> Duration {
    Duration::from_millis(t1_ms.clamp(1, 3_600_000) * 64) + DRAIN_GRACE
}

/// Shard messages taken from one peer's queue per turn, so I/O is not starved.
const MESSAGES_PER_TURN: usize = 1024;
/// Upper bound on a sleep: keeps an idle shard's drain check and clock honest.
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// The process-wide clock origin: `Time` is nanoseconds since it, on every shard.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> Time {
        Time(self.origin.elapsed().as_nanos() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// How often, at most, a shard publishes its [`ShardSnapshot`] (between loop turns; an idle
/// shard turns at least every `MAX_SLEEP`).
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);

/// How often, at most, a shard walks its calls for the admin thread (on request only), so a
/// client polling `/calls` in a loop costs a shard at most this rate of walks.
pub const CALLS_REBUILT_EVERY: Duration = Duration::from_millis(20);

/// What the admin endpoint reads of a shard: its counters and live calls, as of the shard's
/// last publication. Built by the shard between loop turns (at most every [`SNAPSHOT_EVERY`])
/// and swapped in whole: the reader never takes a lock the shard could wait on.
#[derive(Debug, Default)]
pub struct ShardSnapshot {
    pub metrics: ShardMetrics,
    /// The runtime's own counters: SIP messages, RTP packets, loop turn times.
    pub runtime: RuntimeMetrics,
    /// The core's counters (calls started here, datagrams passed on to their owner...).
    pub stats: crate::core::ShardStats,
    /// The live calls, rebuilt only when the admin thread asks for them
    /// ([`ShardStatus::calls_wanted`]): walking every call is the one part of a snapshot whose
    /// cost grows with the calls, and it showed in the relay's latency tail when it ran every
    /// [`SNAPSHOT_EVERY`]. Between rebuilds a snapshot shares the last list.
    pub calls: Arc<Vec<LiveCall>>,
    /// How many times the list was rebuilt (0: never): the admin thread waits for it to move.
    pub calls_built: u64,
    /// The shard's sources with the most dropped datagrams, most first.
    pub dropped_sources: Vec<(std::net::IpAddr, u64)>,
}

/// What a shard publishes for the control thread and tests (relaxed atomics, read-only there).
#[derive(Debug, Default)]
pub struct ShardStatus {
    /// The shard's last published snapshot (`ArcSwap`: a lock-free pointer swap).
    pub snapshot: ArcSwap<ShardSnapshot>,
    /// Set by the admin thread (which then wakes the shard): rebuild the live calls list in
    /// the next snapshot, at most every [`CALLS_REBUILT_EVERY`].
    pub calls_wanted: AtomicBool,
    pub active_calls: AtomicUsize,
    /// While draining: BYEs and CANCELs this shard sent that await their final response.
    pub teardowns_in_flight: AtomicUsize,
    pub calls_ended: AtomicU64,
    pub media_open_failures: AtomicU64,
    pub queue_full_drops: AtomicU64,
    /// HEP packets sent to `sbc.hep`, and dropped (see `runtime::hep`).
    pub hep_sent: AtomicU64,
    pub hep_dropped: AtomicU64,
    pub draining: AtomicBool,
    pub stopped: AtomicBool,
    /// Every pair of the shard's media slice has been tried (`runtime::pool_open`): its pool
    /// is complete.
    pub media_ready: AtomicBool,
    /// The shard thread's Linux thread id (0 until it runs): `/status` reads its CPU time.
    pub thread_id: AtomicU64,
    /// The shard's recent transfer records, for the admin API's `/transfers` and dashboard.
    pub transfers: TransferFeed,
}

/// Transfer records a shard hands to the admin thread: a lock-free bounded queue
/// (`ArrayQueue`) the shard `force_push`es into (the oldest record goes when it is full, so the
/// shard never waits) and the admin thread drains when it serves `/transfers` or `/`. Off (no
/// copy made) when nothing reads it: `Server::start` turns it off when `sbc.admin` is off.
#[derive(Debug)]
pub struct TransferFeed {
    queue: ArrayQueue<Arc<TransferRecord>>,
    on: AtomicBool,
}

impl TransferFeed {
    /// Records kept per shard between two admin reads.
    pub const CAPACITY: usize = 1024;

    /// Whether the shard should push its records.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Stops taking records (no admin listener reads them).
    pub fn turn_off(&self) {
        self.on.store(false, Ordering::Relaxed);
    }

    /// Adds `record`, dropping the oldest one if the feed is full. Never blocks.
    pub fn push(&self, record: Arc<TransferRecord>) {
        let _ = self.queue.force_push(record);
    }

    /// The oldest record not taken yet.
    pub fn pop(&self) -> Option<Arc<TransferRecord>> {
        self.queue.pop()
    }
}

impl Default for TransferFeed {
    fn default() -> Self {
        TransferFeed {
            queue: ArrayQueue::new(TransferFeed::CAPACITY),
            on: AtomicBool::new(true),
        }
    }
}

pub struct ShardSetup {
    pub index: usize,
    pub shard_count: usize,
    pub config: Arc<Config>,
    pub mesh: Arc<ShardMesh>,
    /// Hands records to the audit writer thread (never blocks).
    pub audit: AuditSender,
    pub status: Arc<ShardStatus>,
    /// Every shard's status (this one's included). A draining shard keeps serving until no
    /// shard has calls or BYEs in flight left: the kernel keeps steering datagrams to every
    /// SO_REUSEPORT socket, so a shard that stopped early would leave late requests, and the
    /// answers to another shard's BYEs, unhandled.
    pub all_status: Arc<[Arc<ShardStatus>]>,
    pub clock: Clock,
    /// Keys the shard's CSPRNG (from the operating system, see `server.rs`).
    pub key: [u8; 32],
    /// The REFER hook workers (`Output::ReferHook`, see `hook.rs`).
    pub hooks: super::hook::HookClient,
    /// The shard's media slice, opened from the loop once it serves
    /// ([`super::pool_open::PoolOpener`]): the core's port pool is the pairs open so far.
    pub media: MediaPlan,
}

#[derive(Debug, thiserror::Error)]
#[error("shard {shard} stopped on an I/O error: {source}")]
pub struct ShardError {
    pub shard: usize,
    #[source]
    pub source: BackendError,
}

/// Runs the shard until it has drained, or until its backend fails. Returns the backend so the
/// caller can drop every ring only once no shard can still post to it.
pub fn run_shard<B: Backend>(mut backend: B, setup: ShardSetup) -> Result<B, (B, ShardError)> {
    let ShardSetup {
        index,
        shard_count,
        config,
        mesh,
        audit,
        status,
        all_status,
        clock,
        key,
        hooks,
        media: media_plan,
    } = setup;
    let me = ShardId(index as u16);
    let mut core = ShardCore::keyed(me, shard_count as u16, config.clone(), key);
    let mut pool_opener = Some(PoolOpener::new(
        media_plan,
        index,
        clock.now(),
        &mut backend,
        &mut core,
    ));
    let mut media = MediaRelay::new(config.sbc.advertise);
    let mut border = BorderLog::new();
    let mut dropped_sources = DroppedSources::default();
    // "<pid>/task/<tid>": the thread's own entry, without a system call of ours.
    if let Some(tid) = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse::<u64>().ok())
    {
        status.thread_id.store(tid, Ordering::Relaxed);
    }
    let mut now = clock.now();
    // Audit timestamps: tie the monotonic clock to Unix time once (the core never reads a clock).
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    core.set_wall_clock(crate::transfer::WallClock { at: now, unix_ms });
    // HEP capture (`sbc.hep`, read at start: a reload does not change it).
    let mut hep = config.sbc.hep.and_then(|collector| {
        let unix_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        HepSender::new(
            collector,
            config.sbc.hep_id,
            config.sbc.listen,
            config.sbc.advertise,
            now,
            unix_us,
        )
        .inspect_err(|error| {
            tracing::error!(shard = index, %collector, %error, "sbc.hep: cannot open the HEP socket; capturing nothing");
        })
        .ok()
    });
    let mut drain_deadline: Option<Time> = None;
    // The transaction layer's T1 is the startup config's (a reload does not change it).
    let drain_bound_ms = drain_bound(config.sbc.timers.t1_ms).as_millis() as u64;
    let mut waiting_logged = false;
    let mut next_snapshot = now;
    let mut next_calls_rebuild = now;
    // SIP datagrams by method, RTP counters and loop turn times (published with the snapshot).
    let mut runtime = RuntimeMetrics::default();
    let fail = |mut backend: B, source| {
        // As at a drained stop: this thread's requests end here, and the SIP port is free.
        backend.shut_down();
        Err((
            backend,
            ShardError {
                shard: index,
                source,
            },
        ))
    };

    loop {
        if core.poll_timeout().is_some_and(|at| at <= now) {
            core.handle_timeout(now);
        }
        while let Some(message) = mesh.pop_control(index) {
            match &message {
                ShardMessage::Drain { deadline } => {
                    drain_deadline = Some(*deadline);
                    status.draining.store(true, Ordering::Relaxed);
                    tracing::info!(shard = index, "draining");
                }
                ShardMessage::Config(_) => tracing::info!(shard = index, "new configuration"),
                ShardMessage::EndCall { conversation } => {
                    tracing::info!(shard = index, %conversation, "operator ends the call")
                }
                ShardMessage::HookAnswer { call, answer, .. } => {
                    tracing::debug!(shard = index, %call, ?answer, "REFER hook answer")
                }
                ShardMessage::Datagram { .. }
                | ShardMessage::DialogQuery { .. }
                | ShardMessage::DialogAnswer { .. }
                | ShardMessage::Join(_) => {}
            }
            core.handle_shard_message(now, me, message);
        }
        for from in 0..shard_count {
            if from == index {
                continue;
            }
            for _ in 0..MESSAGES_PER_TURN {
                let Some(message) = mesh.pop(from, index) else {
                    break;
                };
                match message {
                    // Passed on by the shard that received it: captured here, by its owner,
                    // once handled (the call it starts exists then).
                    ShardMessage::Datagram {
                        from: peer,
                        payload,
                    } => {
                        core.handle_passed_datagram(now, peer, &payload);
                        received(now, &core, index, Some(from), peer, &payload, hep.as_mut());
                    }
                    message => core.handle_shard_message(now, ShardId(from as u16), message),
                }
            }
        }
        drain_outputs(
            now,
            &mut core,
            &mut backend,
            &mut media,
            &mesh,
            &audit,
            &status,
            index,
            &mut border,
            &mut hep,
            &hooks,
            &mut runtime,
            &mut dropped_sources,
        );
        let next_ringback = media.tick(now, &mut backend);
        if let Err(e) = backend.flush() {
            return fail(backend, e);
        }
        if let Some(hep) = hep.as_mut() {
            hep.flush();
            status.hep_sent.store(hep.packets_sent(), Ordering::Relaxed);
            status
                .hep_dropped
                .store(hep.packets_dropped(), Ordering::Relaxed);
        }

        let mut stopping = false;
        if let Some(deadline) = drain_deadline {
            status
                .teardowns_in_flight
                .store(core.teardowns_in_flight(), Ordering::SeqCst);
            // Calls first: a shard publishes its BYEs in flight before it counts a call ended
            // (see `drain_outputs`), so a call seen gone has its BYEs seen here.
            let calls: usize = all_status
                .iter()
                .map(|s| s.active_calls.load(Ordering::SeqCst))
                .sum();
            let in_flight: usize = all_status
                .iter()
                .map(|s| s.teardowns_in_flight.load(Ordering::SeqCst))
                .sum();
            let grace_over = now >= deadline.plus_millis(drain_bound_ms);
            if calls == 0 && in_flight > 0 && !waiting_logged {
                waiting_logged = true;
                tracing::info!(
                    shard = index,
                    teardowns_in_flight = in_flight,
                    "drain: every call ended; waiting for the last BYEs to be answered"
                );
            }
            if (calls == 0 && in_flight == 0) || grace_over {
                if grace_over && (calls > 0 || in_flight > 0) {
                    tracing::warn!(
                        shard = index,
                        calls_left = calls,
                        teardowns_unanswered = in_flight,
                        "drain bound reached (drain_s + 64*T1 + grace): stopping anyway"
                    );
                }
                let io = backend.stats();
                let relay = media.stats();
                tracing::info!(
                    shard = index,
                    calls_left = calls,
                    teardowns_in_flight = in_flight,
                    calls_ended = status.calls_ended.load(Ordering::Relaxed),
                    sip_received = io.sip_received,
                    media_received = io.media_received,
                    media_relayed = relay.relayed,
                    media_dropped = relay.dropped,
                    media_dropped_foreign_source = relay.foreign_source,
                    media_dropped_unlatched_source = relay.unlatched_source,
                    media_dropped_unheld_port = relay.unheld_port,
                    media_sockets_created = io.media_sockets_created,
                    media_sockets_closed = io.media_sockets_closed,
                    media_pool_takes = io.pool_takes,
                    media_pool_returns = io.pool_returns,
                    send_errors = io.send_errors,
                    "drained, stopping"
                );
                stopping = true;
            }
        }

        let calls_asked = status.calls_wanted.load(Ordering::Acquire);
        let rebuild = (calls_asked && now >= next_calls_rebuild) || stopping;
        if now >= next_snapshot || rebuild {
            if rebuild {
                status.calls_wanted.store(false, Ordering::Relaxed);
                next_calls_rebuild = now.plus_millis(CALLS_REBUILT_EVERY.as_millis() as u64);
            }
            publish_snapshot(
                &core,
                &status,
                now,
                &mut runtime,
                &media,
                &dropped_sources,
                rebuild,
            );
            next_snapshot = now.plus_millis(SNAPSHOT_EVERY.as_millis() as u64);
        }
        if stopping {
            // The SIP port is free and nothing this thread armed is left when it returns.
            backend.shut_down();
            status.stopped.store(true, Ordering::Relaxed);
            return Ok(backend);
        }

        let mut sleep = MAX_SLEEP;
        // The media pool, a chunk per turn while SIP is served (a draining shard stops).
        if drain_deadline.is_some() {
            pool_opener = None;
        }
        if let Some(opener) = pool_opener.as_mut() {
            match opener.step(now, &mut backend, &mut core, &status) {
                Ok(Some(next)) => {
                    sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)))
                }
                Ok(None) => pool_opener = None,
                Err(e) => return fail(backend, e),
            }
        }
        if let Some(next) = core.poll_timeout() {
            sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)));
        }
        if calls_asked && !rebuild {
            // Asked again within CALLS_REBUILT_EVERY: list them when that has passed.
            sleep = sleep.min(Duration::from_nanos(
                next_calls_rebuild.0.saturating_sub(now.0),
            ));
        }
        if let Some(next) = next_ringback {
            sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)));
        }
        // The turn's work is done: one clock read more per turn (not per packet) times it.
        runtime
            .loop_turn
            .record_micros(clock.now().0.saturating_sub(now.0) / 1000);
        if let Err(e) = backend.wait(Some(sleep)) {
            return fail(backend, e);
        }
        now = clock.now();
        let sip_received = &mut runtime.sip_received;
        let result = backend.dispatch(&mut |incoming, outbox| match incoming {
            Incoming::Sip { from, payload } => {
                sip_received[sip_method_index(payload)] += 1;
                core.handle_datagram(now, from, payload);
                // The owner traces and captures it, after handling it (the INVITE that starts a
                // call is named by the call then): here, or where it was passed on to (above).
                if (hep.is_some() || tracing::enabled!(tracing::Level::TRACE))
                    && core.owns_datagram(payload)
                {
                    received(now, &core, index, None, from, payload, hep.as_mut());
                }
            }
            Incoming::Media {
                socket,
                from,
                payload,
            } => {
                media.on_packet(now, socket, from, payload, outbox);
            }
        });
        if let Err(e) = result {
            return fail(backend, e);
        }
        drain_outputs(
            now,
            &mut core,
            &mut backend,
            &mut media,
            &mesh,
            &audit,
            &status,
            index,
            &mut border,
            &mut hep,
            &hooks,
            &mut runtime,
            &mut dropped_sources,
        );
    }
}

/// The relay's counters as `/metrics` publishes them.
fn rtp_counters(stats: RelayStats) -> RtpCounters {
    let known = stats.foreign_source
        + stats.unlatched_source
        + stats.malformed
        + stats.muted
        + stats.outbox_full;
    RtpCounters {
        received: stats.relayed + stats.dropped,
        sent: stats.relayed + stats.ringback_sent,
        foreign_source: stats.foreign_source,
        unlatched_source: stats.unlatched_source,
        malformed: stats.malformed,
        muted: stats.muted,
        outbox_full: stats.outbox_full,
        no_peer: stats.dropped.saturating_sub(known),
    }
}

/// A SIP datagram this shard owns was handled: trace it (with its call's conversation id) and
/// capture it for HEP. `passed_from`: the shard that received it and passed it on.
fn received(
    now: Time,
    core: &ShardCore,
    index: usize,
    passed_from: Option<usize>,
    from: std::net::SocketAddr,
    payload: &[u8],
    hep: Option<&mut HepSender>,
) {
    if tracing::enabled!(tracing::Level::TRACE) {
        tracing::trace!(
            shard = index,
            passed_from,
            %from,
            conversation = core.conversation_of(payload).map(tracing::field::display),
            "SIP received:\n{}",
            String::from_utf8_lossy(&crate::sip::digest::redact(payload))
        );
    }
    if let Some(hep) = hep {
        // Credentials never leave in a copy (a received request with them is a peer's).
        hep.received(
            now,
            from,
            core.correlation_id(payload),
            &crate::sip::digest::redact(payload),
        );
    }
}

/// Swaps in a fresh [`ShardSnapshot`]: one clone of the counters, at most every
/// [`SNAPSHOT_EVERY`], never per packet; and one walk of the calls when `rebuild_calls` (the
/// admin thread asked), else the last list shared.
fn publish_snapshot(
    core: &ShardCore,
    status: &ShardStatus,
    now: Time,
    runtime: &mut RuntimeMetrics,
    media: &MediaRelay,
    dropped_sources: &DroppedSources,
    rebuild_calls: bool,
) {
    runtime.rtp = rtp_counters(media.stats());
    let last = status.snapshot.load();
    let (calls, calls_built) = if rebuild_calls {
        let mut calls = core.live_calls(now);
        for call in &mut calls {
            call.packets = media
                .live_counters(call.call)
                .map(|m| crate::core::call::LivePackets {
                    a_to_b: m.a_to_b_packets,
                    b_to_a: m.b_to_a_packets,
                });
        }
        (Arc::new(calls), last.calls_built + 1)
    } else {
        (last.calls.clone(), last.calls_built)
    };
    drop(last);
    status.snapshot.store(Arc::new(ShardSnapshot {
        metrics: core.metrics().clone(),
        runtime: runtime.clone(),
        stats: core.stats(),
        calls,
        calls_built,
        dropped_sources: dropped_sources.top(TOP_DROPPED_SOURCES),
    }));
}

/// How many of a shard's top dropped sources it publishes (`/status`).
pub const TOP_DROPPED_SOURCES: usize = 10;

/// Datagrams dropped per source IP on this shard (strangers, floods, wrong peers), for the
/// operator's "who is knocking" view. Bounded: at `DroppedSources::MAX` sources the one with the
/// fewest drops makes room (a flood of new addresses keeps the heavy hitters).
#[derive(Debug, Default)]
pub struct DroppedSources {
    counts: std::collections::HashMap<std::net::IpAddr, u64>,
}

impl DroppedSources {
    const MAX: usize = 4096;

    pub fn count(&mut self, ip: std::net::IpAddr) {
        if !self.counts.contains_key(&ip)
            && self.counts.len() >= Self::MAX
            && let Some(smallest) = self
                .counts
                .iter()
                .min_by_key(|(_, n)| **n)
                .map(|(ip, _)| *ip)
        {
            self.counts.remove(&smallest);
        }
        *self.counts.entry(ip).or_insert(0) += 1;
    }

    /// The `n` sources with the most drops, most first.
    pub fn top(&self, n: usize) -> Vec<(std::net::IpAddr, u64)> {
        let mut all: Vec<_> = self.counts.iter().map(|(ip, n)| (*ip, *n)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

#[allow(clippy::too_many_arguments)]
fn drain_outputs<B: Backend>(
    now: Time,
    core: &mut ShardCore,
    backend: &mut B,
    media: &mut MediaRelay,
    mesh: &ShardMesh,
    audit: &AuditSender,
    status: &ShardStatus,
    index: usize,
    border: &mut BorderLog,
    hep: &mut Option<HepSender>,
    hooks: &super::hook::HookClient,
    runtime: &mut RuntimeMetrics,
    dropped_sources: &mut DroppedSources,
) {
    while let Some(output) = core.poll_output() {
        match output {
            Output::Transmit(t) => {
                runtime.sip_sent[sip_method_index(&t.payload)] += 1;
                if tracing::enabled!(tracing::Level::TRACE) {
                    tracing::trace!(
                        shard = index,
                        to = %t.to,
                        conversation = core.conversation_of(&t.payload).map(tracing::field::display),
                        "SIP sent:\n{}",
                        String::from_utf8_lossy(&crate::sip::digest::redact(&t.payload))
                    );
                }
                if let Some(hep) = hep.as_mut() {
                    // The digest response is a password equivalent for its nonce: the
                    // collector gets the message with its credentials redacted.
                    hep.sent(
                        now,
                        t.to,
                        core.correlation_id(&t.payload),
                        &crate::sip::digest::redact(&t.payload),
                    );
                }
                backend.send_sip(t.to, t.payload)
            }
            Output::ToShard { shard, message } => {
                let to = shard.0 as usize;
                if mesh.push(index, to, message).is_err() {
                    status.queue_full_drops.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(from = index, to, "shard queue full, message dropped");
                } else {
                    backend.wake_peer(to);
                }
            }
            Output::Media(command) => {
                let call = command.call();
                tracing::debug!(
                    shard = index,
                    conversation = core.conversation(call).map(tracing::field::display),
                    ?command,
                    "media"
                );
                if let Err(error) = media.command(backend, command) {
                    status.media_open_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        shard = index,
                        %call,
                        conversation = core.conversation(call).map(tracing::field::display),
                        %error,
                        "media command failed"
                    );
                    // Media failure is a call failure: the request that needed the sockets
                    // fails (503 to an INVITE, 500 to a re-INVITE), see `core::media_failure`.
                    if let Some(call) = error.unopened_call() {
                        core.handle_media_failure(now, call);
                    }
                }
            }
            Output::QueryMediaActivity { call } => {
                // Session liveness: answered at once from the relay (core/liveness.rs).
                let last = media.last_activity(call, now);
                core.handle_media_activity(now, call, last);
            }
            Output::ReferHook {
                call,
                request_id,
                url,
                body,
                timeout,
            } => {
                tracing::debug!(
                    shard = index,
                    conversation = core.conversation(call).map(tracing::field::display),
                    %url,
                    "REFER hook asked"
                );
                let request = super::hook::HookRequest {
                    shard: index,
                    call,
                    request_id,
                    url,
                    body,
                    timeout,
                };
                if hooks.submit(request).is_err() {
                    tracing::warn!(shard = index, %call, "REFER hook queue full");
                    let answer = crate::core::HookAnswer::Failed("hook queue full".to_owned());
                    core.handle_hook_answer(now, call, request_id, answer);
                }
            }
            Output::Event(Event::CallStarted {
                call,
                conversation,
                linked_conversation,
                from_trunk,
                to_trunk,
            }) => {
                status.active_calls.fetch_add(1, Ordering::SeqCst);
                media.name_call(call, &conversation);
                tracing::debug!(
                    shard = index,
                    %call,
                    %conversation,
                    linked_conversation = linked_conversation.as_deref(),
                    from = %from_trunk,
                    to = %to_trunk,
                    "call started"
                );
            }
            Output::Event(Event::CallAnswered { call }) => {
                tracing::debug!(
                    shard = index,
                    %call,
                    conversation = core.conversation(call).map(tracing::field::display),
                    "call answered"
                );
            }
            Output::Event(Event::CallEnded(mut end)) => {
                end.media = media.counters_for(end.call).or(end.media);
                if status.draining.load(Ordering::Relaxed) {
                    // Before the call count drops: the call's BYEs are already in the core's
                    // transaction layer, and a draining peer must not see neither.
                    status
                        .teardowns_in_flight
                        .store(core.teardowns_in_flight(), Ordering::SeqCst);
                }
                let _ = status
                    .active_calls
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        Some(n.saturating_sub(1))
                    });
                status.calls_ended.fetch_add(1, Ordering::Relaxed);
                // One info line per call end (issue 11); the liveness reasons say so.
                let (a_to_b_packets, b_to_a_packets) = end
                    .media
                    .as_ref()
                    .map_or((0, 0), |m| (m.a_to_b_packets, m.b_to_a_packets));
                let message = if matches!(
                    end.end_reason,
                    EndReason::MediaTimeout | EndReason::HoldTimeout | EndReason::MaxDuration
                ) {
                    "call ended by session liveness"
                } else {
                    "call ended"
                };
                tracing::info!(
                    shard = index,
                    call = %end.call,
                    conversation = %end.conversation,
                    from = %end.from_trunk,
                    to = %end.to_trunk,
                    setup_status = end.setup_status.map_or(0, StatusCode::as_u16),
                    reason = %end.end_reason,
                    duration_ms = end.duration_ms,
                    a_to_b_packets,
                    b_to_a_packets,
                    "{message}"
                );
                audit.call_end(end);
            }
            Output::Event(Event::Transfer(record)) => {
                tracing::info!(
                    shard = index,
                    conversation = %record.conversation,
                    trunk = %record.trunk,
                    kind = %record.kind.as_str(),
                    target = %record.target_e164.as_deref().unwrap_or(&record.target),
                    outcome = %record.outcome.as_str(),
                    reason = %record.reason,
                    refer_status = record.refer_status.map_or(0, StatusCode::as_u16),
                    duration_ms = record.duration_ms,
                    "transfer"
                );
                // A copy for the admin thread (transfers are rare next to packets).
                if status.transfers.is_on() {
                    status.transfers.push(Arc::new((*record).clone()));
                }
                audit.transfer(record);
            }
            Output::Event(Event::RequestRejected {
                from,
                status,
                reason,
            }) => {
                if status == StatusCode::SERVICE_UNAVAILABLE && reason.contains("max_c") {
                    tracing::info!(shard = index, %from, status = status.as_u16(), %reason, "request rejected by a trunk limit");
                } else {
                    tracing::debug!(shard = index, %from, status = status.as_u16(), %reason, "request rejected");
                }
                if let Some(suppressed) = border.admit(now, from.ip()) {
                    let line = BorderLog::line(from, Some(status), "rejected", suppressed, &reason);
                    tracing::info!(target: "handoff::border", "{line}");
                }
                audit.rejected(from, status, reason);
            }
            Output::Event(Event::SourceBanned { from, trunk, ban_s }) => {
                tracing::warn!(
                    shard = index,
                    %from,
                    trunk = %trunk.as_deref().unwrap_or("-"),
                    ban_s,
                    "source over its sbc.source_limit budget: its datagrams are dropped for ban_s"
                );
            }
            Output::Event(Event::Dropped { from, reason }) => {
                tracing::debug!(shard = index, %from, reason = %reason.as_str(), "dropped");
                dropped_sources.count(from.ip());
                if let Some(suppressed) = border.admit(now, from.ip()) {
                    let line = BorderLog::line(from, None, reason.as_str(), suppressed, "");
                    tracing::info!(target: "handoff::border", "{line}");
                }
            }
            Output::Event(Event::ResponseDetail {
                to,
                status,
                detail,
                call,
            }) => {
                // The peer got the generic phrase; why, in full, is for the operator.
                tracing::info!(
                    shard = index,
                    %to,
                    conversation = call
                        .and_then(|call| core.conversation(call))
                        .map(tracing::field::display),
                    status = status.as_u16(),
                    %detail,
                    "answered"
                );
            }
            Output::Event(other) => tracing::debug!(shard = index, event = ?other, "event"),
        }
    }
}
