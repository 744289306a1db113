//! The core's random source: ChaCha20 (`rand_chacha`), a cryptographically secure generator.
//!
//! Identifiers handoff mints (Call-IDs, tags, branches) come from it, so no peer can predict the
//! next call's identifiers from the ones it has seen (a predictable generator let an attacker
//! recover its state from fourteen 403 tags and forge the next call's dialog). The driver keys
//! it: the runtime from the operating system ([`Rng::from_key`] with a key from `getrandom`), the
//! simulation and tests from a seed ([`Rng::new`]) so that a run replays exactly.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha20Rng,
}

impl Rng {
    /// Same seed, same sequence (simulation, tests, benches).
    pub fn new(seed: u64) -> Rng {
        Rng {
            inner: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// Keyed with 256 bits from the operating system; `stream` separates the generators of one
    /// shard (identifiers, SDP origins) that share a key.
    pub fn from_key(key: [u8; 32], stream: u64) -> Rng {
        let mut inner = ChaCha20Rng::from_seed(key);
        inner.set_stream(stream);
        Rng { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `0..n` without modulo bias (Lemire's multiply-and-reject). `below(0)` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// True with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits give a uniform f64 in [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence_and_different_seeds_differ() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn keyed_streams_differ_and_replay() {
        let key = [7u8; 32];
        let mut ids = Rng::from_key(key, 0);
        let mut origins = Rng::from_key(key, 1);
        let mut again = Rng::from_key(key, 0);
        let a: Vec<u64> = (0..4).map(|_| ids.next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|_| origins.next_u64()).collect();
        let c: Vec<u64> = (0..4).map(|_| again.next_u64()).collect();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(7);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let v = rng.below(6);
            assert!(v < 6);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "skewed: {seen:?}");
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }
}
