//! Issue 9, protection 3: "Every map keyed by network input is bounded, and the bound is
//! documented: ... pending cross-shard queries". A flood of new INVITEs whose Target-Dialog names
//! another shard's dialog, with that shard's answers lost, must not grow the held-request table
//! past `MAX_HELD_REQUESTS`: the overflow goes on untranslated at once (counted like a timeout).

use handoff::core::{MAX_HELD_REQUESTS, ShardId, ShardMessage};
use handoff::sim::attended_flows::{self, NamedDialog, call_id_on_shard};
use handoff::sim::{PLATFORM, Sim, SimOptions, offer_sdp};

#[test]
fn held_requests_stop_at_their_bound_and_the_rest_go_on() {
    let mut sim = Sim::new(SimOptions::default().seed(11).shards(2));
    let calls = attended_flows::two_calls(&mut sim, ShardId(0), ShardId(1)).expect("two calls");
    sim.drop_shard_message = Some(|m| matches!(m, ShardMessage::DialogAnswer { .. }));
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2).clone();
    let named = NamedDialog::target_dialog(
        &b2.call_id,
        b2.remote_tag.as_deref().expect("call 2 answered"),
        &b2.local_tag,
        &[],
    )
    .render();
    let overflow = 10;
    let total = MAX_HELD_REQUESTS + overflow;
    let mut prefix = 0;
    for n in 0..total {
        // Each INVITE's Call-ID hashes to shard 0, which holds it for shard 1's answer.
        let call_id = loop {
            prefix += 1;
            let id = call_id_on_shard(&format!("flood{prefix}"), ShardId(0), 2);
            if !id.is_empty() {
                break id;
            }
        };
        sim.ua(PLATFORM).next_call_id = Some(call_id);
        sim.ua(PLATFORM).invite_with(
            &format!("+1555{n:07}"),
            Some(offer_sdp("10.0.0.2", 5100)),
            &[("Target-Dialog", &named)],
        );
    }
    // Before any query could time out (500 ms), the table is full and the rest went on.
    let settled = sim.run_until(
        |s| {
            s.shard(0).requests_held_for_translation() == MAX_HELD_REQUESTS
                && s.shard(0).dialog_query_timeouts() == overflow as u64
        },
        400,
    );
    assert!(
        settled,
        "held {} (bound {MAX_HELD_REQUESTS}), went on untranslated {}",
        sim.shard(0).requests_held_for_translation(),
        sim.shard(0).dialog_query_timeouts()
    );
    // And after the timeout every held request went on as well: nothing stays held.
    let drained = sim.run_until(|s| s.shard(0).requests_held_for_translation() == 0, 2_000);
    assert!(drained, "held requests never went on");
}
