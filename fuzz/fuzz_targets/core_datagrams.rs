//! Fuzz the whole signaling core, not only the parser: the input is a sequence of operations
//! (raw datagrams from trunk and stranger addresses, time steps firing timers, INVITEs, responses
//! and in-dialog requests built from what handoff sent) applied to two shard cores, with
//! `check_invariants` after every operation. See `handoff::sim::core_fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    handoff::sim::core_fuzz::drive(data);
});
