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

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use crate::vocab::Time;

/// What a timer key must be: small, ordered (ties at one deadline fire in key order, so a replay
/// is deterministic) and hashable.
pub trait TimerKey: Copy + Ord + Hash {
    /// The group the timer belongs to (a call's sequence number), if any.
    fn group(&self) -> Option<u64> {
        None
    }
}

/// Deadlines by key, in deadline order.
#[derive(Debug)]
pub struct TimerTable<K: TimerKey> {
    queue: BTreeSet<(Time, K)>,
    deadlines: HashMap<K, Time>,
    groups: HashMap<u64, Vec<K>>,
}

impl<K: TimerKey> Default for TimerTable<K> {
    fn default() -> Self {
        TimerTable {
            queue: BTreeSet::new(),
            deadlines: HashMap::new(),
            groups: HashMap::new(),
        }
    }
}

impl<K: TimerKey> TimerTable<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `key` at `at`, replacing its earlier deadline if it had one.
    pub fn set(&mut self, key: K, at: Time) {
        match self.deadlines.insert(key, at) {
            Some(old) => {
                self.queue.remove(&(old, key));
            }
            None => {
                if let Some(group) = key.group() {
                    self.groups.entry(group).or_default().push(key);
                }
            }
        }
        self.queue.insert((at, key));
    }

    /// Disarms `key`; `false` if it was not armed.
    pub fn cancel(&mut self, key: K) -> bool {
        let Some(at) = self.deadlines.remove(&key) else {
            return false;
        };
        self.queue.remove(&(at, key));
        self.forget_in_group(key);
        true
    }

    /// Disarms every timer of `group`.
    pub fn cancel_group(&mut self, group: u64) {
        for key in self.groups.remove(&group).unwrap_or_default() {
            if let Some(at) = self.deadlines.remove(&key) {
                self.queue.remove(&(at, key));
            }
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
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now` (deadline <= now).
    pub fn pop_expired(&mut self, now: Time) -> Option<K> {
        let &(at, key) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.pop_first();
        self.deadlines.remove(&key);
        self.forget_in_group(key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// Armed keys, in deadline order (for invariant checks).
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.queue.iter().map(|(_, key)| *key)
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
