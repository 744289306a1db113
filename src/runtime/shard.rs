//! The per-shard loop: drives one [`ShardCore`] and one media [`RelayTable`] over a [`Backend`].
//!
//! A turn: expire timers and deliver queued shard messages; act on the core's outputs; flush
//! (one batched submission, one wakeup per peer shard that got messages); sleep until I/O or the
//! wheel's next deadline; read the clock once; dispatch what arrived (SIP to the core, media
//! through the relay table into the outbox); act on outputs again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::backend::{Backend, BackendError, Incoming, MediaPair, MediaSocket};
use super::queues::ShardMesh;
use super::wheel::TimerWheel;
use crate::audit::AuditWriter;
use crate::config::Config;
use crate::core::{
    CallRef, Event, MediaCommand, MediaCounters, Output, ShardCore, ShardId, ShardMessage, Time,
    TimerToken,
};
use crate::media::relay::{RelayDecision, RelayTable, SlotId};

/// After the drain deadline the core sends BYEs; this long is left for them to be answered.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Shard messages taken from one peer's queue per turn, so I/O is not starved.
const MESSAGES_PER_TURN: usize = 1024;
/// Upper bound on a sleep: keeps an idle shard's drain check and clock honest.
const MAX_SLEEP: Duration = Duration::from_millis(500);

const NO_SLOT: u32 = u32::MAX;

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
    pub audit: AuditWriter,
    pub status: Arc<ShardStatus>,
    pub clock: Clock,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("shard {shard} stopped on an I/O error: {source}")]
pub struct ShardError {
    pub shard: usize,
    #[source]
    pub source: BackendError,
}

struct CallMedia {
    a: MediaPair,
    b: MediaPair,
}

/// The shard's media side: relay table plus the socket <-> slot maps.
struct Media {
    relay: RelayTable,
    calls: HashMap<CallRef, CallMedia>,
    socket_slot: Vec<u32>,
    slot_socket: Vec<MediaSocket>,
    /// Counters of calls whose media closed before their CallEnded event was seen.
    closed: HashMap<CallRef, MediaCounters>,
    advertise: IpAddr,
}

impl Media {
    fn map(&mut self, socket: MediaSocket, slot: SlotId) {
        let s = socket as usize;
        if self.socket_slot.len() <= s {
            self.socket_slot.resize(s + 1, NO_SLOT);
        }
        self.socket_slot[s] = slot.0;
        let k = slot.0 as usize;
        if self.slot_socket.len() <= k {
            self.slot_socket.resize(k + 1, MediaSocket::MAX);
        }
        self.slot_socket[k] = socket;
    }

    fn unmap(&mut self, socket: MediaSocket) {
        if let Some(s) = self.socket_slot.get_mut(socket as usize) {
            *s = NO_SLOT;
        }
    }

    fn command<B: Backend>(
        &mut self,
        backend: &mut B,
        command: MediaCommand,
        status: &ShardStatus,
    ) {
        match command {
            MediaCommand::Open { call, a, b } => {
                let slots = match self.relay.open(call, a, b) {
                    Ok(slots) => slots,
                    Err(error) => {
                        tracing::error!(%error, "media open refused by the relay table");
                        return;
                    }
                };
                let a_pair = match backend.open_media_pair(self.advertise, a.local_port) {
                    Ok(p) => p,
                    Err(error) => {
                        tracing::error!(%error, ?call, "media sockets for leg A not opened");
                        status.media_open_failures.fetch_add(1, Ordering::Relaxed);
                        let _ = self.relay.close(call);
                        return;
                    }
                };
                let b_pair = match backend.open_media_pair(self.advertise, b.local_port) {
                    Ok(p) => p,
                    Err(error) => {
                        tracing::error!(%error, ?call, "media sockets for leg B not opened");
                        status.media_open_failures.fetch_add(1, Ordering::Relaxed);
                        backend.close_media_pair(a_pair);
                        let _ = self.relay.close(call);
                        return;
                    }
                };
                self.map(a_pair.rtp, slots.a_rtp);
                self.map(a_pair.rtcp, slots.a_rtcp);
                self.map(b_pair.rtp, slots.b_rtp);
                self.map(b_pair.rtcp, slots.b_rtcp);
                self.calls.insert(
                    call,
                    CallMedia {
                        a: a_pair,
                        b: b_pair,
                    },
                );
            }
            MediaCommand::Update { call, a, b } => {
                if let Err(error) = self.relay.update(call, a, b) {
                    tracing::warn!(%error, "media update for a call without media");
                }
            }
            MediaCommand::Close { call } => self.close(backend, call),
        }
    }

    fn close<B: Backend>(&mut self, backend: &mut B, call: CallRef) {
        let Some(media) = self.calls.remove(&call) else {
            return;
        };
        for pair in [media.a, media.b] {
            self.unmap(pair.rtp);
            self.unmap(pair.rtcp);
            backend.close_media_pair(pair);
        }
        if let Ok(counters) = self.relay.close(call) {
            self.closed.insert(call, counters);
        }
    }

    /// The counters for a call that just ended: final if its media closed, a snapshot if not.
    fn counters_for(&mut self, call: CallRef) -> Option<MediaCounters> {
        self.closed
            .remove(&call)
            .or_else(|| self.relay.counters(call))
    }
}

/// Runs the shard until it has drained, or until its backend fails. Returns the backend so the
/// caller can drop every ring only once no shard can still post to it.
pub fn run_shard<B: Backend>(mut backend: B, setup: ShardSetup) -> Result<B, (B, ShardError)> {
    let ShardSetup {
        index,
        shard_count,
        config,
        mesh,
        mut audit,
        status,
        clock,
        seed,
    } = setup;
    let me = ShardId(index as u16);
    let mut core = ShardCore::new(me, shard_count as u16, config.clone(), seed);
    let mut media = Media {
        relay: RelayTable::new(),
        calls: HashMap::new(),
        socket_slot: Vec::new(),
        slot_socket: Vec::new(),
        closed: HashMap::new(),
        advertise: config.sbc.advertise,
    };
    let mut now = clock.now();
    let mut wheel = TimerWheel::new(now);
    let mut fired: Vec<TimerToken> = Vec::new();
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
        fired.clear();
        wheel.expire(now, &mut fired);
        for &token in &fired {
            core.handle_timer(now, token);
        }
        while let Some(message) = mesh.pop_control(index) {
            match &message {
                ShardMessage::Drain { deadline } => {
                    drain_deadline = Some(*deadline);
                    status.draining.store(true, Ordering::Relaxed);
                    tracing::info!(shard = index, "draining");
                }
                ShardMessage::Config(_) => tracing::info!(shard = index, "new configuration"),
                ShardMessage::Datagram { .. } => {}
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
            &mut wheel,
            &mesh,
            &mut audit,
            &status,
            index,
        );
        if let Err(e) = backend.flush() {
            return fail(backend, e);
        }

        if let Some(deadline) = drain_deadline {
            let calls = status.active_calls.load(Ordering::Relaxed);
            let grace_over = now >= deadline.plus_millis(DRAIN_GRACE.as_millis() as u64);
            if calls == 0 || grace_over {
                tracing::info!(shard = index, calls_left = calls, "drained, stopping");
                status.stopped.store(true, Ordering::Relaxed);
                return Ok(backend);
            }
        }

        let mut sleep = MAX_SLEEP;
        if let Some(next) = wheel.next_deadline() {
            sleep = sleep.min(Duration::from_nanos(next.0.saturating_sub(now.0)));
        }
        if let Err(e) = backend.wait(Some(sleep)) {
            return fail(backend, e);
        }
        now = clock.now();
        let relayed = &status.media_relayed;
        let dropped = &status.media_dropped;
        let Media {
            relay,
            socket_slot,
            slot_socket,
            ..
        } = &mut media;
        let result = backend.dispatch(&mut |incoming, outbox| match incoming {
            Incoming::Sip { from, payload } => core.handle_datagram(now, from, payload),
            Incoming::Media {
                socket,
                from,
                payload,
            } => {
                let slot = socket_slot.get(socket as usize).copied().unwrap_or(NO_SLOT);
                if slot == NO_SLOT {
                    return;
                }
                match relay.on_packet(SlotId(slot), from, payload) {
                    RelayDecision::Forward { out_slot, dst } => {
                        match slot_socket.get(out_slot.0 as usize) {
                            Some(&out) if outbox.push(out, dst, payload) => {
                                relayed.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    RelayDecision::Drop(_) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        if let Err(e) = result {
            return fail(backend, e);
        }
        drain_outputs(
            &mut core,
            &mut backend,
            &mut media,
            &mut wheel,
            &mesh,
            &mut audit,
            &status,
            index,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn drain_outputs<B: Backend>(
    core: &mut ShardCore,
    backend: &mut B,
    media: &mut Media,
    wheel: &mut TimerWheel,
    mesh: &ShardMesh,
    audit: &mut AuditWriter,
    status: &ShardStatus,
    index: usize,
) {
    while let Some(output) = core.poll_output() {
        match output {
            Output::Transmit(t) => backend.send_sip(t.to, t.payload),
            Output::Timer { token, at } => wheel.insert(at, token),
            Output::ToShard { shard, message } => {
                let to = shard.0 as usize;
                if mesh.push(index, to, message).is_err() {
                    status.queue_full_drops.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(from = index, to, "shard queue full, message dropped");
                } else {
                    backend.wake_peer(to);
                }
            }
            Output::Media(command) => media.command(backend, command, status),
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
                audit.write_call_end(&end);
            }
            Output::Event(other) => tracing::debug!(shard = index, event = ?other, "event"),
        }
    }
}
