//! The glare timer of RFC 3261 section 14.1, as handoff draws it (`handoff::core::glare_delay_ms`,
//! from the shard's generator):
//!
//! "If a UAC receives a 491 response to a re-INVITE, it SHOULD start a timer with a value T
//! chosen as follows:
//!   1. If the UAC is the owner of the Call-ID of the dialog ID (meaning it generated the value),
//!      T has a randomly chosen value between 2.1 and 4 seconds in units of 10 ms.
//!   2. If the UAC is not the owner of the Call-ID of the dialog ID, T has a randomly chosen value
//!      of between 0 and 2 seconds in units of 10 ms."
//!
//! The two ranges do not overlap, which is the point: the owner always waits longer, so the
//! other side's retry goes first and the two re-INVITEs do not cross again.

use std::collections::BTreeSet;

use handoff::core::rng::Rng;
use handoff::core::{MAX_REINVITE_RETRIES, glare_delay_ms};

fn draws(owner: bool) -> BTreeSet<u64> {
    let mut rng = Rng::new(0x6c61_7265);
    (0..20_000)
        .map(|_| glare_delay_ms(&mut rng, owner))
        .collect()
}

#[test]
fn the_call_ids_owner_waits_2_1_to_4_seconds_in_10_ms_units() {
    let seen = draws(true);
    assert!(
        seen.iter()
            .all(|ms| (2_100..=4_000).contains(ms) && ms % 10 == 0)
    );
    // Every one of the 191 values comes up, both ends included: uniform over the range.
    assert_eq!(seen.len(), 191, "{seen:?}");
}

#[test]
fn the_other_side_waits_0_to_2_seconds_in_10_ms_units() {
    let seen = draws(false);
    assert!(seen.iter().all(|ms| *ms <= 2_000 && ms % 10 == 0));
    assert_eq!(seen.len(), 201, "{seen:?}");
}

/// Issue 10: "retry a re-INVITE after 491 [...] up to 3 times".
#[test]
fn at_most_three_retries() {
    assert_eq!(MAX_REINVITE_RETRIES, 3);
}
