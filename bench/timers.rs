//! The shard's timer table under a busy shard's load: `cargo bench --bench timers [-- CPS SECONDS]`.
//!
//! Calls arrive at CPS per second of virtual time (default 10,000 for 60 s). Each arms what a
//! call's transactions arm in the core: an INVITE retransmission (500 ms) and Timer B (32 s),
//! both cancelled by the answer 5 ms later; the 2xx ACK window (64*T1, 32 s) and a BYE's
//! Timer J (32 s), which fire; and a 5 s Timer K, which fires. After the first 32 s the table
//! holds three per call for each second of the 32 s windows (~690,000 at 10,000/s), more than a
//! shard holds (~250,000 at that rate) but of its order. The figure is the thread's CPU time
//! per call over the whole run, median of 5 runs.

use std::time::Duration;

use handoff::core::timers::{TimerKey, TimerTable};
use handoff::vocab::Time;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    call: u64,
    what: u8,
}

impl TimerKey for Key {
    fn group(&self) -> Option<u64> {
        Some(self.call)
    }
}

fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

const MS: u64 = 1_000_000;

/// One run: CPU time per call, and the most timers armed at once.
fn run(cps: u64, seconds: u64) -> (Duration, usize) {
    let mut table = TimerTable::new();
    let step = 1_000_000_000 / cps;
    let calls = cps * seconds;
    let mut peak = 0;
    let start = thread_cpu();
    for call in 0..calls {
        let now = Time(call * step);
        // Whatever is due fires first, as the shard's loop does before new input.
        while table.pop_expired(now).is_some() {}
        let key = |what| Key { call, what };
        table.set(key(0), Time(now.0 + 500 * MS));
        table.set(key(1), Time(now.0 + 32_000 * MS));
        // The answer, 5 ms later in the call's life (the same turn here: the cost is the same).
        table.cancel(key(0));
        table.cancel(key(1));
        table.set(key(2), Time(now.0 + 32_000 * MS));
        table.set(key(3), Time(now.0 + 5_000 * MS));
        table.set(key(4), Time(now.0 + 32_100 * MS));
        peak = peak.max(table.len());
    }
    let spent = thread_cpu().saturating_sub(start);
    (spent / calls as u32, peak)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let cps = args.first().copied().unwrap_or(10_000);
    let seconds = args.get(1).copied().unwrap_or(60);
    let mut per_call = Vec::new();
    let mut peak = 0;
    for _ in 0..5 {
        let (spent, most) = run(cps, seconds);
        per_call.push(spent);
        peak = most;
    }
    per_call.sort();
    println!(
        "timers: {cps} calls/s for {seconds} s, up to {peak} armed: {:.0} ns of CPU per call (median of 5; runs {:?})",
        per_call[2].as_nanos(),
        per_call.iter().map(|d| d.as_nanos()).collect::<Vec<_>>()
    );
}
