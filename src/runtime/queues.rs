//! Shard-to-shard message queues: one bounded lock-free queue per ordered pair of shards.
//!
//! `crossbeam::queue::ArrayQueue` is MPMC, but each queue here has exactly one producer (shard
//! `from`) and one consumer (shard `to`), so it behaves as an SPSC ring: no lock, no contention
//! beyond the two cache lines of head and tail. The sender wakes the receiver once per batch.

use crossbeam::queue::ArrayQueue;

use crate::core::ShardMessage;

/// Capacity of each pair's queue. A full queue means the receiver is far behind: the sender
/// drops the message and counts it (SIP retransmissions recover a lost datagram).
pub const QUEUE_CAPACITY: usize = 8192;

pub struct ShardMesh {
    shards: usize,
    /// queues[from * shards + to]
    queues: Vec<ArrayQueue<ShardMessage>>,
    /// From the control thread (signals: drain, reload) to each shard; one producer too.
    control: Vec<ArrayQueue<ShardMessage>>,
}

impl ShardMesh {
    pub fn new(shards: usize) -> ShardMesh {
        ShardMesh {
            shards,
            queues: (0..shards * shards)
                .map(|_| ArrayQueue::new(QUEUE_CAPACITY))
                .collect(),
            control: (0..shards).map(|_| ArrayQueue::new(64)).collect(),
        }
    }

    /// Control thread -> shard `to`.
    pub fn push_control(&self, to: usize, message: ShardMessage) -> Result<(), ShardMessage> {
        match self.control.get(to) {
            Some(q) => q.push(message),
            None => Err(message),
        }
    }

    pub fn pop_control(&self, to: usize) -> Option<ShardMessage> {
        self.control.get(to)?.pop()
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Only shard `from` may call this for a given `from` (single producer).
    pub fn push(&self, from: usize, to: usize, message: ShardMessage) -> Result<(), ShardMessage> {
        match self.queues.get(from * self.shards + to) {
            Some(q) => q.push(message),
            None => Err(message),
        }
    }

    /// Messages waiting for shard `to`, from its peers and the control thread (a racy read of
    /// the queues' lengths, for the admin endpoint).
    pub fn inbound_depth(&self, to: usize) -> usize {
        let peers: usize = (0..self.shards)
            .filter_map(|from| self.queues.get(from * self.shards + to))
            .map(ArrayQueue::len)
            .sum();
        peers + self.control.get(to).map_or(0, ArrayQueue::len)
    }

    /// Only shard `to` may call this for a given `to` (single consumer).
    pub fn pop(&self, from: usize, to: usize) -> Option<ShardMessage> {
        self.queues.get(from * self.shards + to)?.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Time;

    #[test]
    fn messages_arrive_in_order_per_pair_and_pairs_are_separate() {
        let mesh = ShardMesh::new(3);
        for i in 0..5 {
            mesh.push(0, 2, ShardMessage::Drain { deadline: Time(i) })
                .unwrap();
        }
        mesh.push(1, 2, ShardMessage::Drain { deadline: Time(99) })
            .unwrap();
        for i in 0..5 {
            match mesh.pop(0, 2) {
                Some(ShardMessage::Drain { deadline }) => assert_eq!(deadline, Time(i)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(mesh.pop(0, 2).is_none());
        assert!(matches!(
            mesh.pop(1, 2),
            Some(ShardMessage::Drain { deadline: Time(99) })
        ));
        assert!(mesh.pop(2, 0).is_none());
    }

    #[test]
    fn out_of_range_shard_is_refused_not_a_panic() {
        let mesh = ShardMesh::new(2);
        assert!(
            mesh.push(0, 5, ShardMessage::Drain { deadline: Time(0) })
                .is_err()
        );
        assert!(mesh.pop(7, 0).is_none());
    }
}
