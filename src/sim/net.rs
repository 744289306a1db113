//! The simulated network: a virtual clock's event queue, and links with loss, duplication,
//! reordering and delay drawn from one seeded RNG, so a seed replays the exact same run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;

use crate::core::{ShardId, ShardMessage, Time};

/// splitmix64: tiny, seeded, good enough to draw network faults.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// How one direction of a link treats datagrams.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkProfile {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram gets extra delay (up to `reorder_ms`), so later ones overtake it.
    pub reorder: f64,
    pub reorder_ms: u64,
    /// One-way base delay, plus up to `jitter_ms`.
    pub delay_ms: u64,
    pub jitter_ms: u64,
}

impl LinkProfile {
    /// A clean LAN: 1 ms, nothing lost.
    pub const CLEAN: LinkProfile = LinkProfile {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_ms: 0,
        delay_ms: 1,
        jitter_ms: 0,
    };

    /// Loss on every message, with some duplication and reordering.
    pub fn lossy(loss: f64) -> LinkProfile {
        LinkProfile {
            loss,
            duplicate: 0.05,
            reorder: 0.1,
            reorder_ms: 40,
            delay_ms: 5,
            jitter_ms: 10,
        }
    }

    /// Delivery times (0, 1 or 2 copies) for one datagram sent at `now`.
    pub fn deliveries(&self, now: Time, rng: &mut SimRng) -> Vec<Time> {
        let mut copies = 1;
        if rng.chance(self.loss) {
            copies = 0;
        } else if rng.chance(self.duplicate) {
            copies = 2;
        }
        (0..copies)
            .map(|_| {
                let mut delay = self.delay_ms + rng.below(self.jitter_ms + 1);
                if rng.chance(self.reorder) {
                    delay += rng.below(self.reorder_ms + 1);
                }
                now.plus_millis(delay)
            })
            .collect()
    }
}

/// Something that happens at a point of virtual time.
#[derive(Debug)]
pub enum SimEvent {
    /// A datagram arrives at `to`.
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
    },
    /// A shard's earliest deadline (`ShardCore::poll_timeout`) has come.
    ShardTimer { shard: ShardId, at: Time },
    /// A message between shards (the runtime's SPSC queue).
    ShardMessage {
        from: ShardId,
        to: ShardId,
        message: ShardMessage,
    },
    /// A user agent asked to be woken (its retransmission timers).
    AgentWake { agent: usize },
    /// A scripted `refer_hook` answer reaches its shard (`Sim::hook_script`).
    HookAnswer {
        call: crate::core::CallRef,
        request_id: u64,
        answer: crate::core::HookAnswer,
    },
    /// Nothing but time passing (run_for uses it to stop at an exact instant).
    Tick,
}

struct Scheduled {
    at: Time,
    seq: u64,
    event: SimEvent,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest (then the first scheduled) on top.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The virtual clock and its queue of pending events, plus the links' fault profiles.
pub struct Network {
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    pub rng: SimRng,
    pub default_link: LinkProfile,
    /// Per (from, to) overrides of `default_link`.
    pub links: BTreeMap<(SocketAddr, SocketAddr), LinkProfile>,
    pub datagrams_sent: u64,
    pub datagrams_lost: u64,
    /// Datagrams delivered per (from, to), duplicates included.
    pub delivered: BTreeMap<(SocketAddr, SocketAddr), u64>,
}

impl Network {
    pub fn new(seed: u64, default_link: LinkProfile) -> Self {
        Network {
            queue: BinaryHeap::new(),
            next_seq: 0,
            rng: SimRng::new(seed),
            default_link,
            links: BTreeMap::new(),
            datagrams_sent: 0,
            datagrams_lost: 0,
            delivered: BTreeMap::new(),
        }
    }

    pub fn schedule(&mut self, at: Time, event: SimEvent) {
        self.next_seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.next_seq,
            event,
        });
    }

    /// Put a datagram on the wire: it may be lost, duplicated, delayed or overtaken.
    pub fn send(&mut self, now: Time, from: SocketAddr, to: SocketAddr, payload: Vec<u8>) {
        self.datagrams_sent += 1;
        let profile = self
            .links
            .get(&(from, to))
            .copied()
            .unwrap_or(self.default_link);
        let times = profile.deliveries(now, &mut self.rng);
        if times.is_empty() {
            self.datagrams_lost += 1;
        }
        for at in times {
            self.schedule(
                at,
                SimEvent::Datagram {
                    from,
                    to,
                    payload: payload.clone(),
                },
            );
        }
    }

    pub fn next_time(&self) -> Option<Time> {
        self.queue.peek().map(|s| s.at)
    }

    pub fn pop(&mut self) -> Option<(Time, SimEvent)> {
        let next = self.queue.pop().map(|s| (s.at, s.event));
        if let Some((_, SimEvent::Datagram { from, to, .. })) = &next {
            *self.delivered.entry((*from, *to)).or_default() += 1;
        }
        next
    }

    /// Datagrams delivered from `from` to `to` so far.
    pub fn delivered_between(&self, from: SocketAddr, to: SocketAddr) -> u64 {
        self.delivered.get(&(from, to)).copied().unwrap_or(0)
    }
}

/// Which shard's socket the kernel hands a datagram to under SO_REUSEPORT: a hash of the
/// 4-tuple, so a given peer always lands on the same shard whatever the call.
pub fn reuseport_shard(from: SocketAddr, to: SocketAddr, shard_count: u16) -> ShardId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let text = format!("{from}>{to}");
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ShardId((hash % u64::from(shard_count.max(1))) as u16)
}
