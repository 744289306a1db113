//! The relay loop of the in-process relay tests (a backend and a `MediaRelay` driven by the test
//! thread), run until a condition holds instead of for a fixed time: a busy machine only makes
//! the condition come later. Include with `#[path = "runtime_support/pump.rs"] mod pump;`.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use handoff::core::Time;
use handoff::runtime::backend::{Backend, Incoming};
use handoff::runtime::relay::MediaRelay;

/// How long a condition may take before the test fails: generous, for busy machines; a passing
/// test never waits it out.
pub const WAIT: Duration = Duration::from_secs(30);

/// One loop turn: wait (at most 5 ms) for completions, hand media to the relay, flush.
pub fn turn<B: Backend>(backend: &mut B, relay: &mut MediaRelay) {
    backend.wait(Some(Duration::from_millis(5))).unwrap();
    let now = now();
    backend
        .dispatch(&mut |incoming, outbox| {
            if let Incoming::Media {
                socket,
                from,
                payload,
            } = incoming
            {
                relay.on_packet(now, socket, from, payload, outbox);
            }
        })
        .unwrap();
    backend.flush().unwrap();
}

/// The relay's clock, as the shard loop reads it: nanoseconds since a process-wide origin.
pub fn now() -> Time {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    Time(ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64)
}

/// Runs the relay loop until `done(relay)` holds; panics naming `what` after [`WAIT`].
pub fn until<B: Backend>(
    backend: &mut B,
    relay: &mut MediaRelay,
    what: &str,
    mut done: impl FnMut(&mut MediaRelay) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        turn(backend, relay);
        if done(relay) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT:?}; relay stats {:?}",
            relay.stats()
        );
    }
}

/// Runs the relay loop for `window`: only for checks that something does NOT happen (a late
/// packet is not relayed), where a busy machine can make the check miss, never fail.
pub fn window<B: Backend>(backend: &mut B, relay: &mut MediaRelay, window: Duration) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        turn(backend, relay);
    }
}
