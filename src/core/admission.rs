//! Per-trunk admission (issue 9, #3): `max_calls` and `max_cps` of each trunk, enforced by every
//! shard on its own share ([`TrunkLimits::share`]), so shards share nothing and the sum over
//! shards never exceeds the configured limit.
//!
//! - `max_calls` is held against the trunk's sessions in use on this shard (the
//!   `handoff_trunk_sessions` gauge: legs up toward the trunk, either direction).
//! - `max_cps` counts new calls admitted per whole second of the shard's clock (fixed one-second
//!   windows): at most the shard's share of `max_cps` per window.
//!
//! A refused INVITE gets 503 with `Retry-After` ([`RETRY_AFTER_CALLS_S`] or
//! [`RETRY_AFTER_CPS_S`], RFC 3261 sections 21.5.4 and 20.33). State only: the call layer
//! (b2bua.rs) asks before it creates a call.

use std::collections::BTreeMap;

use crate::config::{Config, TrunkLimits};
use crate::vocab::Time;

/// Retry-After of a 503 for `max_calls`: calls last minutes, a slot frees when one ends.
pub const RETRY_AFTER_CALLS_S: u32 = 5;
/// Retry-After of a 503 for `max_cps`: the next one-second window admits again.
pub const RETRY_AFTER_CPS_S: u32 = 1;

/// Which limit refused a new call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    pub trunk: String,
    /// `"max_calls"` or `"max_cps"` (the metric's label).
    pub limit: &'static str,
    pub retry_after_s: u32,
}

/// This shard's one-second windows, per trunk name: (window, calls admitted in it).
#[derive(Debug, Default)]
pub struct Admission {
    windows: crate::vocab::hash::KeyedHashMap<String, (u64, u32)>,
}

impl Admission {
    /// Whether a new call on `trunks` (source, routed) may start now on shard `shard` of
    /// `shards`; `sessions` are this shard's sessions in use per trunk. Admitting counts the call
    /// in the trunks' current windows.
    pub fn admit(
        &mut self,
        now: Time,
        config: &Config,
        trunks: [usize; 2],
        sessions: &BTreeMap<String, u64>,
        shard: usize,
        shards: usize,
    ) -> Result<(), Limited> {
        let window = now.0 / 1_000_000_000;
        let trunks: &[usize] = if trunks[0] == trunks[1] {
            &trunks[..1]
        } else {
            &trunks
        };
        for &index in trunks {
            let Some(trunk) = config.trunks.get(index) else {
                continue;
            };
            let limits = trunk.limits;
            if let Some(share) = TrunkLimits::share(limits.max_calls, shard, shards)
                && sessions.get(&trunk.name).copied().unwrap_or(0) >= u64::from(share)
            {
                return Err(Limited {
                    trunk: trunk.name.clone(),
                    limit: "max_calls",
                    retry_after_s: RETRY_AFTER_CALLS_S,
                });
            }
            if let Some(share) = TrunkLimits::share(limits.max_cps, shard, shards) {
                let used = match self.windows.get(&trunk.name) {
                    Some(&(w, n)) if w == window => n,
                    _ => 0,
                };
                if used >= share {
                    return Err(Limited {
                        trunk: trunk.name.clone(),
                        limit: "max_cps",
                        retry_after_s: RETRY_AFTER_CPS_S,
                    });
                }
            }
        }
        for &index in trunks {
            let Some(trunk) = config.trunks.get(index) else {
                continue;
            };
            if trunk.limits.max_cps == 0 {
                continue;
            }
            let entry = self
                .windows
                .entry(trunk.name.clone())
                .or_insert((window, 0));
            if entry.0 != window {
                *entry = (window, 0);
            }
            entry.1 += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_limit() {
        for limit in [1u32, 2, 3, 7, 100] {
            for shards in 1..=5usize {
                let sum: u32 = (0..shards)
                    .map(|s| TrunkLimits::share(limit, s, shards).unwrap())
                    .sum();
                assert_eq!(sum, limit, "limit {limit} over {shards} shards");
            }
        }
        assert_eq!(TrunkLimits::share(0, 0, 2), None, "0 = unlimited");
    }
}
