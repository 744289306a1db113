//! The core fuzz driver under proptest: random operation sequences (datagrams, time, INVITEs,
//! responses and in-dialog requests built from handoff's own output) never panic and never
//! break an invariant. The real fuzzing is `fuzz/fuzz_targets/core_datagrams.rs`.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn random_operation_sequences_keep_the_core_consistent(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        handoff::sim::core_fuzz::drive(&data);
    }
}

/// A sequence that answers a call, re-INVITEs it and hangs up from both sides.
#[test]
fn structured_call_sequence() {
    let data = [
        7, // seed
        2, 0, 4, // INVITE from carrier, number variant 0, SDP variant 1
        3, 0, 1, 0, // respond 180
        3, 0, 3, 1, // respond 200 with SDP
        5, 1, 1, // re-INVITE built from a response handoff sent
        5, 2, 8, // ACK
        1, 10, 0, // 1 s
        5, 0, 0, // BYE
        5, 1, 0, // BYE from the other side
        1, 255, 0,
    ];
    handoff::sim::core_fuzz::drive(&data);
}

/// Inputs the fuzzer found crashing, kept as regressions.
#[test]
fn fuzz_regressions() {
    // A re-INVITE's 2xx arriving after the call ended started a 2xx retransmission on it.
    let ended_call_2xx: &[u8] = &[
        1, 2, 1, 0, 3, 0, 3, 1, 5, 5, 1, 1, 2, 8, 1, 14, 0, 5, 0, 0, 5, 1, 0, 0, 0, 124, 124, 124,
        9, 57, 51, 0, 97, 11, 51, 54, 11, 4, 0, 0,
    ];
    handoff::sim::core_fuzz::drive(ended_call_2xx);
}
