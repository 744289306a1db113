//! [`KeyedState`]: the hasher of the core's hash maps whose keys peers choose (Via branches,
//! Call-IDs, tags, source addresses).
//!
//! A map keyed by attacker-chosen bytes needs a keyed hash, or a peer can send keys that all
//! collide (HashDoS). std's `RandomState` (SipHash-1-3 with per-process random keys) gives
//! that, but SipHash is slow on the 20-60-byte keys SIP matching uses: it was ~6% of the
//! core's CPU per call, most of it re-hashing every key when a table rehashes after churn
//! (perf/results/NOTES.md, "cpu"). foldhash with a secret seed keeps the protection at a
//! fraction of the cost: its output depends on the seed throughout (no seed-independent
//! collisions are known), and the seed is 64 bits from the operating system, drawn once per
//! process like std's own keys. Each map also gets its own per-map seed (as std's do), so
//! copying one map into another never clusters.
//!
//! This is randomness only in the sense std's maps already have it: no decision of the core
//! depends on it (map iteration order is never observable in outputs), so the simulation still
//! replays exactly.

use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::SharedSeed;
use foldhash::fast::{FoldHasher, SeedableRandomState};

/// A `HashMap` whose keys peers may choose: keyed foldhash (see the module doc).
pub type KeyedHashMap<K, V> = std::collections::HashMap<K, V, KeyedState>;
/// A `HashSet` whose keys peers may choose: keyed foldhash (see the module doc).
pub type KeyedHashSet<K> = std::collections::HashSet<K, KeyedState>;

/// The process's secret: the shared seed, and the base of the per-map seeds.
struct Secret {
    shared: SharedSeed,
    per_map: AtomicU64,
}

fn secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| {
        // std's RandomState is keyed from the OS as well: its hash of a constant is the
        // fallback should getrandom fail (it does not on Linux).
        let from_std = || std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        let shared = getrandom::u64().unwrap_or_else(|_| from_std());
        let per_map = getrandom::u64().unwrap_or_else(|_| from_std());
        Secret {
            shared: SharedSeed::from_u64(shared),
            per_map: AtomicU64::new(per_map),
        }
    })
}

/// A `BuildHasher`: foldhash under the process's secret seed, plus a per-map seed.
#[derive(Clone, Debug)]
pub struct KeyedState(SeedableRandomState);

impl Default for KeyedState {
    fn default() -> Self {
        let secret = secret();
        // An odd step: every map in the process gets a distinct per-map seed.
        let per_map = secret
            .per_map
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        KeyedState(SeedableRandomState::with_seed(per_map, &secret.shared))
    }
}

impl BuildHasher for KeyedState {
    type Hasher = FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_hash_alike_within_a_map_and_differently_across_maps() {
        let (a, b) = (KeyedState::default(), KeyedState::default());
        let key = b"z9hG4bK-hf0001-0123456789abcdef".as_slice();
        assert_eq!(a.hash_one(key), a.hash_one(key));
        assert_ne!(a.hash_one(key), b.hash_one(key));
        let mut map: KeyedHashMap<Box<[u8]>, u32> = KeyedHashMap::default();
        map.insert(key.into(), 7);
        assert_eq!(map.get(key), Some(&7));
    }
}
