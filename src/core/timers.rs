//! [`TimerTable`]: a shard's deadlines, keyed by what they are for.
//!
//! The core owns its deadlines instead of handing opaque tokens to the driver (quinn-proto's
//! `TimerTable` is the model): setting a key again moves its deadline, cancelling removes it, and
//! the driver only asks for the earliest deadline ([`crate::core::ShardCore::poll_timeout`]) and
//! reports that time has passed ([`crate::core::ShardCore::handle_timeout`]). Nothing stale is
//! left in the driver's queue, and the runtime and the simulation need no timer wheel of their own.
//!
//! Keys may belong to a group (a call): [`TimerTable::cancel_group`] drops every timer of a call
//! that is forgotten.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::Hash;

use rustc_hash::FxHashMap;

use crate::vocab::Time;

/// Gives back most of `map`'s table once it is mostly empty: below 1/8 full (and over 1,024
/// slots), it is re-allocated for twice its entries. A burst of call set-ups grows the maps of
/// transactions and their timers to the burst's peak; without this, that peak's tables stay
/// resident (and are counted per established call) long after the transactions ended. The
/// 1/8 - 2x gap keeps a map hovering at one size from being re-allocated back and forth.
pub fn shrink_if_sparse<K: Eq + Hash, V, S: std::hash::BuildHasher>(
    map: &mut std::collections::HashMap<K, V, S>,
) {
    if map.capacity() > 1024 && map.len() * 8 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

/// What a timer key must be: small, ordered (ties at one deadline fire in key order, so a replay
/// is deterministic) and hashable.
pub trait TimerKey: Copy + Ord + Hash {
    /// The group the timer belongs to (a call's sequence number), if any.
    fn group(&self) -> Option<u64> {
        None
    }
}

/// Deadlines later than this many nanoseconds' bucket (2^26 ns, ~67 ms) wait in `later`.
const BUCKET_SHIFT: u32 = 26;

fn bucket(at: Time) -> u64 {
    at.0 >> BUCKET_SHIFT
}

/// Deadlines by key, in deadline order.
///
/// The map is the truth; the heap orders deadlines and may hold stale entries (a key moved or
/// cancelled), skipped when they surface. Its top is always live, so `next_deadline` is a peek.
/// Stale entries are bounded: heap and buckets are rebuilt from the map when they outnumber
/// live ones. (A sorted set with exact removal cost about three times as much per armed timer.)
///
/// Only deadlines before `horizon` are in the heap; later ones wait unsorted in ~67 ms buckets
/// and enter the heap a bucket at a time, when the heap has run dry. A busy shard holds hundreds
/// of thousands of timers, most of them 32 s windows (64*T1) that are cancelled or fire long
/// after; kept out of the heap, they cost a push onto a vector instead of sifts through a heap
/// of that size, and the heap the shard pops from stays small. Every heap entry is earlier than
/// every bucketed one, so the heap's live top is still the earliest deadline, ties in key order.
#[derive(Debug)]
pub struct TimerTable<K: TimerKey> {
    heap: BinaryHeap<Reverse<(Time, K)>>,
    later: BTreeMap<u64, Vec<(Time, K)>>,
    /// Entries in `later`, stale ones included.
    later_len: usize,
    /// Deadlines from here on go to `later`: the start of the bucket after the last one moved
    /// into the heap.
    horizon: Time,
    deadlines: FxHashMap<K, Time>,
    groups: FxHashMap<u64, Vec<K>>,
}

impl<K: TimerKey> Default for TimerTable<K> {
    fn default() -> Self {
        TimerTable {
            heap: BinaryHeap::new(),
            later: BTreeMap::new(),
            later_len: 0,
            horizon: Time(0),
            deadlines: FxHashMap::default(),
            groups: FxHashMap::default(),
        }
    }
}

impl<K: TimerKey> TimerTable<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `key` at `at`, replacing its earlier deadline if it had one.
    pub fn set(&mut self, key: K, at: Time) {
        let old = self.deadlines.insert(key, at);
        if old == Some(at) {
            return;
        }
        if old.is_none()
            && let Some(group) = key.group()
        {
            self.groups.entry(group).or_default().push(key);
        }
        self.place(at, key);
        self.tidy();
    }

    /// Into the heap if before the horizon, else into its bucket.
    fn place(&mut self, at: Time, key: K) {
        if at < self.horizon {
            self.heap.push(Reverse((at, key)));
        } else {
            self.later.entry(bucket(at)).or_default().push((at, key));
            self.later_len += 1;
        }
    }

    /// Disarms `key`; `false` if it was not armed.
    pub fn cancel(&mut self, key: K) -> bool {
        if self.deadlines.remove(&key).is_none() {
            return false;
        }
        self.forget_in_group(key);
        self.tidy();
        true
    }

    /// Disarms every timer of `group`.
    pub fn cancel_group(&mut self, group: u64) {
        for key in self.groups.remove(&group).unwrap_or_default() {
            self.deadlines.remove(&key);
        }
        self.tidy();
    }

    /// Re-allocates `group`'s key list at its length (see `Call::rehome`: a list grown while a
    /// call was set up would otherwise keep its set-up capacity, and its block, for the call's
    /// life).
    pub fn rehome_group(&mut self, group: u64) {
        if let Some(keys) = self.groups.get_mut(&group) {
            *keys = keys.clone();
        }
    }

    pub fn is_set(&self, key: K) -> bool {
        self.deadlines.contains_key(&key)
    }

    pub fn deadline(&self, key: K) -> Option<Time> {
        self.deadlines.get(&key).copied()
    }

    /// The earliest deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the earliest timer due at `now` (deadline <= now).
    pub fn pop_expired(&mut self, now: Time) -> Option<K> {
        let &Reverse((at, key)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        // The top is live (see `tidy`): this is the key's current deadline.
        self.deadlines.remove(&key);
        self.forget_in_group(key);
        self.tidy();
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// Armed keys, in deadline order (for invariant checks; allocates).
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        let mut live: Vec<(Time, K)> = self.deadlines.iter().map(|(k, at)| (*at, *k)).collect();
        live.sort_unstable();
        live.into_iter().map(|(_, key)| key)
    }

    /// Drops stale entries from the top of the heap and, when the heap runs dry, moves the next
    /// bucket in, until the top is live or nothing is armed; rebuilds heap and buckets when
    /// stale entries outnumber live ones.
    fn tidy(&mut self) {
        if self.heap.len() + self.later_len > 2 * self.deadlines.len() + 64 {
            self.heap.clear();
            self.later.clear();
            self.later_len = 0;
            let live: Vec<(Time, K)> = self.deadlines.iter().map(|(k, at)| (*at, *k)).collect();
            for (at, key) in live {
                self.place(at, key);
            }
        }
        loop {
            while let Some(&Reverse((at, key))) = self.heap.peek() {
                if self.deadlines.get(&key) == Some(&at) {
                    break;
                }
                self.heap.pop();
            }
            if !self.heap.is_empty() {
                break;
            }
            let Some((slot, entries)) = self.later.pop_first() else {
                break;
            };
            self.later_len -= entries.len();
            self.horizon = Time((slot + 1) << BUCKET_SHIFT);
            for (at, key) in entries {
                if self.deadlines.get(&key) == Some(&at) {
                    self.heap.push(Reverse((at, key)));
                }
            }
        }
        if self.heap.capacity() > 1024 && self.heap.len() * 8 < self.heap.capacity() {
            self.heap.shrink_to(self.heap.len() * 2);
        }
        shrink_if_sparse(&mut self.deadlines);
        shrink_if_sparse(&mut self.groups);
    }

    fn forget_in_group(&mut self, key: K) {
        let Some(group) = key.group() else {
            return;
        };
        if let Some(keys) = self.groups.get_mut(&group) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.groups.remove(&group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    enum Key {
        Call { call: u64, what: u8 },
        Shard,
    }

    impl TimerKey for Key {
        fn group(&self) -> Option<u64> {
            match self {
                Key::Call { call, .. } => Some(*call),
                Key::Shard => None,
            }
        }
    }

    fn ms(n: u64) -> Time {
        Time::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut table = TimerTable::new();
        table.set(Key::Shard, ms(30));
        table.set(Key::Call { call: 1, what: 0 }, ms(10));
        table.set(Key::Call { call: 2, what: 0 }, ms(20));
        assert_eq!(table.next_deadline(), Some(ms(10)));
        assert_eq!(table.pop_expired(ms(5)), None);
        assert_eq!(
            table.pop_expired(ms(25)),
            Some(Key::Call { call: 1, what: 0 })
        );
        assert_eq!(
            table.pop_expired(ms(25)),
            Some(Key::Call { call: 2, what: 0 })
        );
        assert_eq!(table.pop_expired(ms(25)), None);
        assert_eq!(table.next_deadline(), Some(ms(30)));
    }

    #[test]
    fn setting_a_key_again_moves_its_deadline() {
        let mut table = TimerTable::new();
        table.set(Key::Shard, ms(10));
        table.set(Key::Shard, ms(50));
        assert_eq!(table.len(), 1);
        assert_eq!(table.pop_expired(ms(20)), None);
        assert_eq!(table.pop_expired(ms(50)), Some(Key::Shard));
        assert!(table.is_empty());
    }

    #[test]
    fn cancelled_timers_never_fire() {
        let mut table = TimerTable::new();
        table.set(Key::Shard, ms(10));
        assert!(table.cancel(Key::Shard));
        assert!(!table.cancel(Key::Shard));
        assert_eq!(table.next_deadline(), None);
        assert_eq!(table.pop_expired(ms(100)), None);
    }

    #[test]
    fn stale_entries_stay_bounded_when_timers_are_set_and_cancelled() {
        let mut table = TimerTable::new();
        table.set(Key::Shard, ms(1_000_000));
        for round in 0..10_000u64 {
            let key = Key::Call {
                call: round,
                what: 0,
            };
            table.set(key, ms(500_000 + round));
            table.set(key, ms(600_000 + round));
            table.cancel(key);
        }
        assert_eq!(table.len(), 1);
        assert!(
            table.heap.len() + table.later_len <= 2 * table.len() + 64 + 1,
            "{} + {}",
            table.heap.len(),
            table.later_len
        );
        assert_eq!(table.next_deadline(), Some(ms(1_000_000)));
        assert!(table.groups.is_empty());
    }

    #[test]
    fn a_moved_timer_fires_once_at_its_new_deadline() {
        let mut table = TimerTable::new();
        table.set(Key::Shard, ms(10));
        table.set(Key::Shard, ms(30));
        table.set(Key::Shard, ms(20));
        assert_eq!(table.next_deadline(), Some(ms(20)));
        assert_eq!(table.pop_expired(ms(15)), None);
        assert_eq!(table.pop_expired(ms(100)), Some(Key::Shard));
        assert_eq!(table.pop_expired(ms(100)), None);
        assert_eq!(table.next_deadline(), None);
    }

    /// Random sets, moves, cancels and pops over a minute of deadlines (many buckets), against
    /// the plain model: a sorted set of (deadline, key) that is updated exactly.
    #[test]
    fn fires_as_a_sorted_set_would_across_buckets() {
        use std::collections::BTreeSet;
        let mut table = TimerTable::new();
        let mut model: BTreeSet<(Time, Key)> = BTreeSet::new();
        let mut armed: FxHashMap<Key, Time> = FxHashMap::default();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut now = ms(0);
        for _ in 0..50_000 {
            let key = Key::Call {
                call: next(300),
                what: next(3) as u8,
            };
            match next(10) {
                0..=5 => {
                    let at = Time(now.0 + next(60_000) * 1_000_000 + next(1_000_000));
                    if let Some(old) = armed.insert(key, at) {
                        model.remove(&(old, key));
                    }
                    model.insert((at, key));
                    table.set(key, at);
                }
                6 => {
                    let was = armed.remove(&key);
                    if let Some(old) = was {
                        model.remove(&(old, key));
                    }
                    assert_eq!(table.cancel(key), was.is_some());
                }
                _ => {
                    now = Time(now.0 + next(200) * 1_000_000);
                    loop {
                        let expected = model.first().copied().filter(|(at, _)| *at <= now);
                        assert_eq!(table.pop_expired(now), expected.map(|(_, k)| k));
                        let Some(first) = expected else { break };
                        model.remove(&first);
                        armed.remove(&first.1);
                    }
                }
            }
            assert_eq!(table.next_deadline(), model.first().map(|(at, _)| *at));
            assert_eq!(table.len(), model.len());
        }
    }

    #[test]
    fn cancelling_a_group_drops_all_its_timers_and_only_those() {
        let mut table = TimerTable::new();
        for what in 0..3 {
            table.set(Key::Call { call: 7, what }, ms(10 + u64::from(what)));
        }
        table.set(Key::Call { call: 8, what: 0 }, ms(11));
        table.set(Key::Shard, ms(12));
        // One of call 7's timers already fired: the group forgets it.
        assert_eq!(
            table.pop_expired(ms(10)),
            Some(Key::Call { call: 7, what: 0 })
        );
        table.cancel_group(7);
        let left: Vec<Key> = table.keys().collect();
        assert_eq!(left, vec![Key::Call { call: 8, what: 0 }, Key::Shard]);
        assert!(!table.groups.contains_key(&7));
    }
}
