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
use super::queues::ShardMesh;
use super::relay::MediaRelay;
use crate::audit::AuditSender;
use crate::config::Config;
use crate::core::{Event, Output, ShardCore, ShardId, ShardMessage, Time};

/// After the drain deadline the core sends BYEs; this long is left for them to be answered.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);
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

/// What a shard publishes for the control thread and tests (relaxed atomics, read-only there).
#[derive(Debug, Default)]
pub struct ShardStatus {
    pub active_calls: AtomicUsize,
    pub calls_ended: AtomicU64,
    pub media_relayed: AtomicU64,
    pub media_dropped: AtomicU64,
    pub media_open_failures: AtomicU64,
    pub queue_full_drops: AtomicU64,
    pub draining: AtomicBool,
    pub stopped: AtomicBool,
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
    /// shard has calls left: the kernel keeps steering datagrams to every SO_REUSEPORT socket,
    /// so a shard that stopped early would leave late requests unanswered.
    pub all_status: Arc<[Arc<ShardStatus>]>,
    pub clock: Clock,
    /// Keys the shard's CSPRNG (from the operating system, see `server.rs`).
    pub key: [u8; 32],
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
    } = setup;
    let me = ShardId(index as u16);
    let mut core = ShardCore::keyed(me, shard_count as u16, config.clone(), key);
    let mut media = MediaRelay::new(config.sbc.advertise);
    let mut now = clock.now();
    // Audit timestamps: tie the monotonic clock to Unix time once (the core never reads a clock).
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    core.set_wall_clock(crate::transfer::WallClock { at: now, unix_ms });
    let mut drain_deadline: Option<Time> = None;
    let fail = |backend: B, source| {
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
                core.handle_shard_message(now, ShardId(from as u16), message);
            }
        }
        drain_outputs(
            &mut core,
            &mut backend,
            &mut media,
            &mesh,
            &audit,
            &status,
            index,
        );
        let next_ringback = media.tick(now, &mut backend);
        if let Err(e) = backend.flush() {
            return fail(backend, e);
        }

        if let Some(deadline) = drain_deadline {
            let calls: usize = all_status
                .iter()
                .map(|s| s.active_calls.load(Ordering::Relaxed))
                .sum();
            let grace_over = now >= deadline.plus_millis(DRAIN_GRACE.as_millis() as u64);
            if calls == 0 || grace_over {
                let io = backend.stats();
                let relay = media.stats();
                tracing::info!(
                    shard = index,
                    calls_left = calls,
                    calls_ended = status.calls_ended.load(Ordering::Relaxed),
                    sip_received = io.sip_received,
                    media_received = io.media_received,
                    media_relayed = relay.relayed,
                    media_dropped = relay.dropped,
                    send_errors = io.send_errors,
                    "drained, stopping"
                );
                status.stopped.store(true, Ordering::Relaxed);
                return Ok(backend);
            }
        }

        let mut sleep = MAX_SLEEP;
        if let Some(next) = core.poll_timeout() {
            sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)));
        }
        if let Some(next) = next_ringback {
            sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)));
        }
        if let Err(e) = backend.wait(Some(sleep)) {
            return fail(backend, e);
        }
        now = clock.now();
        let result = backend.dispatch(&mut |incoming, outbox| match incoming {
            Incoming::Sip { from, payload } => core.handle_datagram(now, from, payload),
            Incoming::Media {
                socket,
                from,
                payload,
            } => {
                media.on_packet(socket, from, payload, outbox);
            }
        });
        let relay_stats = media.stats();
        status
            .media_relayed
            .store(relay_stats.relayed, Ordering::Relaxed);
        status
            .media_dropped
            .store(relay_stats.dropped, Ordering::Relaxed);
        if let Err(e) = result {
            return fail(backend, e);
        }
        drain_outputs(
            &mut core,
            &mut backend,
            &mut media,
            &mesh,
            &audit,
            &status,
            index,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn drain_outputs<B: Backend>(
    core: &mut ShardCore,
    backend: &mut B,
    media: &mut MediaRelay,
    mesh: &ShardMesh,
    audit: &AuditSender,
    status: &ShardStatus,
    index: usize,
) {
    while let Some(output) = core.poll_output() {
        match output {
            Output::Transmit(t) => backend.send_sip(t.to, t.payload),
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
                tracing::debug!(shard = index, ?command, "media");
                if let Err(error) = media.command(backend, command) {
                    status.media_open_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(shard = index, %error, "media command failed");
                }
            }
            Output::Event(Event::CallStarted { .. }) => {
                status.active_calls.fetch_add(1, Ordering::Relaxed);
            }
            Output::Event(Event::CallEnded(mut end)) => {
                end.media = media.counters_for(end.call).or(end.media);
                let _ =
                    status
                        .active_calls
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            Some(n.saturating_sub(1))
                        });
                status.calls_ended.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(shard = index, call = ?end.call, reason = %end.end_reason, media = ?end.media, "call ended");
                audit.call_end(end);
            }
            Output::Event(Event::Transfer(record)) => {
                tracing::info!(shard = index, conversation = %record.conversation, outcome = ?record.outcome, "transfer");
                audit.transfer(record);
            }
            Output::Event(Event::RequestRejected {
                from,
                status,
                reason,
            }) => {
                tracing::debug!(shard = index, %from, status, %reason, "request rejected");
                audit.rejected(from, status, reason);
            }
            Output::Event(Event::Dropped { from, reason }) => {
                tracing::debug!(shard = index, %from, reason = %reason.as_str(), "dropped");
            }
            Output::Event(other) => tracing::debug!(shard = index, event = ?other, "event"),
        }
    }
}
