//! A per-shard hashed timer wheel: 1 ms ticks, 4096 slots (one rotation ≈ 4.1 s).
//!
//! SIP timers run from T1 (500 ms) up to 64*T1 (32 s) and the drain deadline; timers past one
//! rotation simply stay in their slot until a visit finds them due (each entry keeps its exact
//! deadline). Inserting is O(1); expiring visits the slots of the ticks that passed; the next
//! deadline comes from an occupancy bitmap so an idle shard does not scan 4096 slots.
//! Timers are never cancelled: the core ignores stale tokens.

use crate::core::{Time, TimerToken};

const TICK_NS: u64 = 1_000_000;
const SLOTS: usize = 4096;
const WORDS: usize = SLOTS / 64;

pub struct TimerWheel {
    slots: Vec<Vec<(Time, TimerToken)>>,
    occupied: [u64; WORDS],
    /// The tick whose slot the next `expire` visits first (it may still hold future entries).
    next_tick: u64,
    len: usize,
    /// Reused between expiries, so firing timers allocates nothing once warm.
    due: Vec<(Time, TimerToken)>,
}

fn tick_of(t: Time) -> u64 {
    t.0 / TICK_NS
}

fn slot_of(tick: u64) -> usize {
    (tick % SLOTS as u64) as usize
}

impl TimerWheel {
    pub fn new(now: Time) -> TimerWheel {
        TimerWheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            next_tick: tick_of(now),
            len: 0,
            due: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `token` at `at`. A deadline in the past fires at the next `expire`.
    pub fn insert(&mut self, at: Time, token: TimerToken) {
        let slot = slot_of(tick_of(at).max(self.next_tick));
        self.slots[slot].push((at, token));
        self.occupied[slot / 64] |= 1 << (slot % 64);
        self.len += 1;
    }

    /// Moves every timer due at `now` (deadline <= now) into `fired`, earliest first.
    pub fn expire(&mut self, now: Time, fired: &mut Vec<TimerToken>) {
        let now_tick = tick_of(now);
        if self.len > 0 && now_tick >= self.next_tick {
            // One full rotation visits every slot; more would only revisit them.
            let visits = (now_tick - self.next_tick + 1).min(SLOTS as u64);
            let due = &mut self.due;
            due.clear();
            for offset in 0..visits {
                let slot = slot_of(self.next_tick + offset);
                if self.occupied[slot / 64] & (1 << (slot % 64)) == 0 {
                    continue;
                }
                let entries = &mut self.slots[slot];
                let mut i = 0;
                while i < entries.len() {
                    if entries[i].0 <= now {
                        due.push(entries.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                if entries.is_empty() {
                    self.occupied[slot / 64] &= !(1 << (slot % 64));
                }
            }
            self.len -= due.len();
            due.sort_unstable_by_key(|&(at, token)| (at, token));
            fired.extend(due.drain(..).map(|(_, token)| token));
        }
        self.next_tick = self.next_tick.max(now_tick);
    }

    /// The earliest moment a timer may be due; `None` when the wheel is empty. May be earlier
    /// than the real deadline for timers more than one rotation away (the loop then wakes,
    /// finds nothing due, and asks again), never later.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.len == 0 {
            return None;
        }
        let mut latest_rotation_min: Option<Time> = None;
        let mut offset = 0u64;
        while offset < SLOTS as u64 {
            let tick = self.next_tick + offset;
            let slot = slot_of(tick);
            // Skip whole empty words of the bitmap at once.
            if slot.is_multiple_of(64) && self.occupied[slot / 64] == 0 {
                offset += 64;
                continue;
            }
            offset += 1;
            if self.occupied[slot / 64] & (1 << (slot % 64)) == 0 {
                continue;
            }
            let min = self.slots[slot].iter().map(|&(at, _)| at).min()?;
            if tick_of(min) <= tick {
                return Some(min);
            }
            latest_rotation_min = Some(latest_rotation_min.map_or(min, |m: Time| m.min(min)));
        }
        // Every timer is more than a rotation away: wake after one rotation at the latest.
        latest_rotation_min.map(|m| m.min(Time((self.next_tick + SLOTS as u64) * TICK_NS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Time {
        Time::from_millis(v)
    }

    fn expire(wheel: &mut TimerWheel, now: Time) -> Vec<u64> {
        let mut fired = Vec::new();
        wheel.expire(now, &mut fired);
        fired.into_iter().map(|t| t.0).collect()
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut wheel = TimerWheel::new(ms(0));
        wheel.insert(ms(500), TimerToken(1));
        assert_eq!(expire(&mut wheel, ms(499)), Vec::<u64>::new());
        assert_eq!(wheel.next_deadline(), Some(ms(500)));
        assert_eq!(expire(&mut wheel, ms(500)), vec![1]);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn sub_millisecond_deadline_waits_for_its_exact_time() {
        let mut wheel = TimerWheel::new(ms(0));
        wheel.insert(Time(10_600_000), TimerToken(7));
        assert_eq!(expire(&mut wheel, Time(10_300_000)), Vec::<u64>::new());
        assert_eq!(wheel.next_deadline(), Some(Time(10_600_000)));
        assert_eq!(expire(&mut wheel, Time(10_600_000)), vec![7]);
    }

    #[test]
    fn past_deadline_fires_on_next_expire() {
        let mut wheel = TimerWheel::new(ms(1000));
        wheel.insert(ms(10), TimerToken(3));
        assert!(wheel.next_deadline().unwrap() <= ms(1000));
        assert_eq!(expire(&mut wheel, ms(1000)), vec![3]);
    }

    #[test]
    fn timers_beyond_one_rotation_wait_for_their_round() {
        let mut wheel = TimerWheel::new(ms(0));
        // 32 s = 64*T1, several rotations away; lands in the same slot as 32000 % 4096.
        wheel.insert(ms(32_000), TimerToken(64));
        wheel.insert(ms(32_000 % 4096), TimerToken(1));
        assert_eq!(wheel.next_deadline(), Some(ms(32_000 % 4096)));
        assert_eq!(expire(&mut wheel, ms(32_000 % 4096)), vec![1]);
        // The long timer is not due at any intermediate step.
        let mut now = 32_000 % 4096;
        while now < 31_999 {
            now = (now + 997).min(31_999);
            assert_eq!(expire(&mut wheel, ms(now)), Vec::<u64>::new(), "at {now}");
            let next = wheel.next_deadline().unwrap();
            assert!(
                next <= ms(32_000),
                "next deadline never later than the real one"
            );
        }
        assert_eq!(expire(&mut wheel, ms(32_000)), vec![64]);
    }

    #[test]
    fn a_long_jump_fires_everything_due_in_order() {
        let mut wheel = TimerWheel::new(ms(0));
        for (i, at) in [9000u64, 10, 4095, 4096, 20_000, 500].iter().enumerate() {
            wheel.insert(ms(*at), TimerToken(i as u64));
        }
        assert_eq!(expire(&mut wheel, ms(10_000)), vec![1, 5, 2, 3, 0]);
        assert_eq!(wheel.len(), 1);
        assert_eq!(expire(&mut wheel, ms(20_000)), vec![4]);
    }

    #[test]
    fn next_deadline_is_the_earliest_of_many() {
        let mut wheel = TimerWheel::new(ms(100));
        wheel.insert(ms(3100), TimerToken(1));
        wheel.insert(ms(600), TimerToken(2));
        wheel.insert(ms(2100), TimerToken(3));
        assert_eq!(wheel.next_deadline(), Some(ms(600)));
        assert_eq!(expire(&mut wheel, ms(700)), vec![2]);
        assert_eq!(wheel.next_deadline(), Some(ms(2100)));
    }

    proptest::proptest! {
        /// Against a plain sorted reference: every expire fires exactly the timers whose
        /// deadline passed, earliest first, and next_deadline is never later than the earliest
        /// pending one.
        #[test]
        fn matches_a_sorted_reference(
            steps in proptest::collection::vec((0u64..40_000, 0u64..3_000, 0usize..4), 1..200)
        ) {
            let mut wheel = TimerWheel::new(Time::ZERO);
            let mut reference: Vec<(Time, u64)> = Vec::new();
            let mut now = Time::ZERO;
            for (token, (delay_ms, advance_ms, inserts)) in steps.into_iter().enumerate() {
                for k in 0..inserts {
                    let at = Time(now.0 + delay_ms * 1_000_000 + k as u64 * 333_333);
                    let id = (token * 4 + k) as u64;
                    wheel.insert(at, TimerToken(id));
                    reference.push((at, id));
                }
                if let Some(next) = wheel.next_deadline() {
                    let earliest = reference.iter().map(|&(at, _)| at).min().unwrap();
                    proptest::prop_assert!(next <= earliest.max(now));
                } else {
                    proptest::prop_assert!(reference.is_empty());
                }
                now = Time(now.0 + advance_ms * 1_000_000 + 17);
                let mut fired = Vec::new();
                wheel.expire(now, &mut fired);
                reference.sort();
                let due: Vec<u64> = reference.iter().filter(|&&(at, _)| at <= now).map(|&(_, id)| id).collect();
                reference.retain(|&(at, _)| at > now);
                let fired: Vec<u64> = fired.into_iter().map(|t| t.0).collect();
                proptest::prop_assert_eq!(fired, due);
                proptest::prop_assert_eq!(wheel.len(), reference.len());
            }
        }
    }
}
