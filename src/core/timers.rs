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
use std::collections::BinaryHeap;
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

/// Deadlines by key, in deadline order.
///
/// The map is the truth; the heap orders deadlines and may hold stale entries (a key moved or
/// cancelled), skipped when they surface. Its top is always live, so `next_deadline` is a peek.
/// Stale entries are bounded: the heap is rebuilt from the map when they outnumber live ones.
/// (A sorted set with exact removal cost about three times as much per armed timer.)
#[derive(Debug)]
pub struct TimerTable<K: TimerKey> {
    heap: BinaryHeap<Reverse<(Time, K)>>,
    deadlines: FxHashMap<K, Time>,
    groups: FxHashMap<u64, Vec<K>>,
}

impl<K: TimerKey> Default for TimerTable<K> {
    fn default() -> Self {
        TimerTable {
            heap: BinaryHeap::new(),
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
        self.heap.push(Reverse((at, key)));
        self.tidy();
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

    /// Drops stale entries from the top of the heap (so the top is live), and rebuilds the heap
    /// when stale entries outnumber live ones.
    fn tidy(&mut self) {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if self.deadlines.get(&key) == Some(&at) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 2 * self.deadlines.len() + 64 {
            self.heap = self
                .deadlines
                .iter()
                .map(|(key, at)| Reverse((*at, *key)))
                .collect();
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
            table.heap.len() <= 2 * table.len() + 64 + 1,
            "{}",
            table.heap.len()
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
