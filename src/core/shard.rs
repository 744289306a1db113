//! The per-shard core: owns the transactions, dialogs and calls of one shard.
//! (Skeleton: the signaling work fills this in.)

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Output, ShardId, ShardMessage, Time, TimerToken};
use crate::config::Config;

pub struct ShardCore {
    shard: ShardId,
    shard_count: u16,
    config: Arc<Config>,
    outputs: VecDeque<Output>,
}

impl ShardCore {
    /// `seed` drives every identifier the shard mints, so simulations replay exactly.
    pub fn new(shard: ShardId, shard_count: u16, config: Arc<Config>, seed: u64) -> Self {
        let _ = seed;
        ShardCore {
            shard,
            shard_count,
            config,
            outputs: VecDeque::new(),
        }
    }

    pub fn shard(&self) -> ShardId {
        self.shard
    }

    pub fn shard_count(&self) -> u16 {
        self.shard_count
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, payload: &[u8]) {
        let _ = (now, from, payload);
    }

    pub fn handle_timer(&mut self, now: Time, token: TimerToken) {
        let _ = (now, token);
    }

    pub fn handle_shard_message(&mut self, now: Time, from: ShardId, message: ShardMessage) {
        let _ = (now, from, message);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
}
