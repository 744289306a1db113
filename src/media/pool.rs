//! Media port pool: a pure allocator over one shard's slice of the configured port range.
//!
//! Ports come in even-aligned pairs: the even port carries RTP, the odd one (port + 1) RTCP.
//! Allocation is FIFO: a released pair goes to the back of the queue, so a just-freed port is
//! reused as late as possible. Late packets of a finished call then do not land in a new call.

use std::collections::VecDeque;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortPoolError {
    /// Configuration fault: the shard split was asked for an impossible layout.
    #[error("port pool misconfigured: shard {shard_index} of {shard_count} shards")]
    BadShard {
        shard_index: usize,
        shard_count: usize,
    },
    /// Caller fault: the port is not an RTP port of this shard's slice.
    #[error("port {port} does not belong to this pool's slice [{start}, {end})")]
    ForeignPort { port: u16, start: u16, end: u16 },
    /// Caller fault: the port is in the slice but not allocated (double release).
    #[error("port {port} released but it was not allocated (double release?)")]
    NotAllocated { port: u16 },
}

/// One shard's port pool. Deterministic: the same calls give the same ports.
#[derive(Debug, Clone)]
pub struct PortPool {
    /// First RTP port of the slice (even).
    start: u16,
    /// One past the last port of the slice (even; `end - 1` is the last RTCP port).
    end: u16,
    free: VecDeque<u16>,
    /// Indexed by pair number `(port - start) / 2`.
    allocated: Vec<bool>,
    /// Pairs of the slice taken out of the pool for good ([`PortPool::retain`]): the runtime
    /// could not open their sockets at start-up. Indexed like `allocated`.
    withdrawn: Vec<bool>,
    /// How many pairs are withdrawn.
    withdrawn_count: usize,
}

impl PortPool {
    /// Splits `[range.0, range.1)` into `shard_count` contiguous slices of even-aligned pairs and
    /// returns the pool of slice `shard_index`. Pairs that do not divide evenly go to the lower
    /// shards. An odd range start is rounded up; a pair must fit entirely below `range.1`.
    pub fn for_shard(
        range: (u16, u16),
        shard_index: usize,
        shard_count: usize,
    ) -> Result<PortPool, PortPoolError> {
        if shard_count == 0 || shard_index >= shard_count {
            return Err(PortPoolError::BadShard {
                shard_index,
                shard_count,
            });
        }
        let first = u32::from(range.0).div_ceil(2) * 2;
        let end = u32::from(range.1);
        let pairs = end.saturating_sub(first) as usize / 2;
        let base = pairs / shard_count;
        let extra = pairs % shard_count;
        let pair_start = shard_index * base + shard_index.min(extra);
        let pair_count = base + usize::from(shard_index < extra);
        // first + 2 * pairs <= range.1 whenever pairs > 0; the min only matters for an empty
        // slice that starts at 65536.
        let start = (first + 2 * pair_start as u32).min(end);
        let slice_end = (start + 2 * pair_count as u32).min(end);
        let (start, slice_end) = (
            u16::try_from(start).unwrap_or(u16::MAX),
            u16::try_from(slice_end).unwrap_or(u16::MAX),
        );
        Ok(PortPool::from_slice(start, slice_end))
    }

    /// A pool over exactly `[start, end)`; `start` must be even and `end - start` even
    /// (both are rounded inward otherwise).
    pub fn from_slice(start: u16, end: u16) -> PortPool {
        let start = start.div_ceil(2).saturating_mul(2);
        let end = if end < start {
            start
        } else {
            end - (end - start) % 2
        };
        let pairs = usize::from(end - start) / 2;
        let free = (0..pairs).map(|i| start + 2 * i as u16).collect();
        PortPool {
            start,
            end,
            free,
            allocated: vec![false; pairs],
            withdrawn: vec![false; pairs],
            withdrawn_count: 0,
        }
    }

    /// Keeps only the pairs whose RTP port `keep` accepts; the others leave the pool for good
    /// (never allocated, not counted in [`PortPool::capacity`]). The runtime calls this once, at
    /// start-up, with the pairs whose sockets it opened: the pool IS the set of open pairs.
    pub fn retain(&mut self, mut keep: impl FnMut(u16) -> bool) {
        let start = self.start;
        for (index, withdrawn) in self.withdrawn.iter_mut().enumerate() {
            if !*withdrawn && !self.allocated[index] && !keep(start + 2 * index as u16) {
                *withdrawn = true;
                self.withdrawn_count += 1;
            }
        }
        let withdrawn = &self.withdrawn;
        self.free
            .retain(|&port| !withdrawn[usize::from(port - start) / 2]);
    }

    /// Puts withdrawn pairs (by RTP port) back into the pool, at the back of the free queue in
    /// the order given: the runtime opens a shard's pairs in chunks after it started serving,
    /// and admits each chunk once its sockets are open. A port outside the slice, or not
    /// withdrawn, is ignored.
    pub fn admit(&mut self, rtp_ports: &[u16]) {
        for &port in rtp_ports {
            if !self.contains(port) {
                continue;
            }
            let index = self.pair_index(port);
            if self.withdrawn[index] {
                self.withdrawn[index] = false;
                self.withdrawn_count -= 1;
                self.free.push_back(port);
            }
        }
    }

    /// Takes the least recently released (or never used) even RTP port; `None` when exhausted.
    pub fn allocate(&mut self) -> Option<u16> {
        let port = self.free.pop_front()?;
        let index = self.pair_index(port);
        self.allocated[index] = true;
        Some(port)
    }

    /// Returns an RTP port (and its RTCP sibling) to the back of the free queue.
    pub fn release(&mut self, port: u16) -> Result<(), PortPoolError> {
        if !self.contains(port) {
            return Err(PortPoolError::ForeignPort {
                port,
                start: self.start,
                end: self.end,
            });
        }
        let index = self.pair_index(port);
        if !self.allocated[index] || self.withdrawn[index] {
            return Err(PortPoolError::NotAllocated { port });
        }
        self.allocated[index] = false;
        self.free.push_back(port);
        Ok(())
    }

    /// Whether `port` is an (even) RTP port of this slice.
    pub fn contains(&self, port: u16) -> bool {
        port >= self.start && port < self.end && port.is_multiple_of(2)
    }

    pub fn is_allocated(&self, port: u16) -> bool {
        self.contains(port) && self.allocated[self.pair_index(port)]
    }

    /// Number of pairs currently allocated.
    pub fn in_use(&self) -> usize {
        self.capacity() - self.free.len()
    }

    /// Number of pairs this pool can hand out: the slice's, less the withdrawn ones.
    pub fn capacity(&self) -> usize {
        self.allocated.len() - self.withdrawn_count
    }

    /// The slice `[start, end)` this pool owns (RTP and RTCP ports).
    pub fn slice(&self) -> (u16, u16) {
        (self.start, self.end)
    }

    fn pair_index(&self, port: u16) -> usize {
        usize::from(port - self.start) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::PortPool;

    #[test]
    fn retain_withdraws_pairs_for_good() {
        let mut pool = PortPool::from_slice(1000, 1010);
        pool.retain(|port| port != 1002 && port != 1006);
        assert_eq!(pool.capacity(), 3);
        let mut got = Vec::new();
        while let Some(p) = pool.allocate() {
            got.push(p);
        }
        assert_eq!(got, vec![1000, 1004, 1008]);
        assert!(
            pool.release(1002).is_err(),
            "a withdrawn pair is never released"
        );
        pool.release(1004).unwrap();
        assert_eq!(pool.allocate(), Some(1004));
        assert_eq!(pool.in_use(), 3);
    }

    #[test]
    fn admit_puts_withdrawn_pairs_back_at_the_end() {
        let mut pool = PortPool::from_slice(1000, 1010);
        pool.retain(|_| false);
        assert_eq!((pool.capacity(), pool.allocate()), (0, None));
        pool.admit(&[1004, 1000, 1003, 2000]);
        assert_eq!(pool.capacity(), 2, "odd and foreign ports are ignored");
        assert_eq!(pool.allocate(), Some(1004));
        pool.admit(&[1004, 1008]);
        assert_eq!(pool.capacity(), 3, "a pair admitted twice counts once");
        assert_eq!(pool.allocate(), Some(1000));
        assert_eq!(pool.allocate(), Some(1008));
        assert_eq!(pool.allocate(), None);
        pool.release(1004).unwrap();
        assert_eq!(pool.in_use(), 2);
    }
}
