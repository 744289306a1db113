//! Attended transfer with the two calls on different shards: the translation asks the owning
//! shard by message (no shared state), holds the REFER / INVITE until the answer, and a shard
//! that never answers lets the request go on unchanged after the timeout.

use handoff::core::ShardId;
use handoff::sim::attended_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn refer_across_shards_is_translated_by_message() {
    let mut sim = Sim::new(SimOptions::default().seed(11).shards(2));
    attended_flows::attended_refer_mode(&mut sim, ShardId(0), ShardId(1)).unwrap();
    assert!(
        sim.shard(0).dialog_queries_sent() >= 1,
        "call 1's shard must ask call 2's shard"
    );
    assert_eq!(sim.shard(0).dialog_query_timeouts(), 0);
}

#[test]
fn replaces_header_across_shards_is_routed_to_the_replaced_dialogs_shard() {
    let mut sim = Sim::new(SimOptions::default().seed(12).shards(3));
    attended_flows::replaces_header_on_invite(&mut sim, ShardId(2), ShardId(0)).unwrap();
    // Routed by the Replaces to-tag: no shard had to ask another.
    let queries: u64 = sim.shards().iter().map(|s| s.dialog_queries_sent()).sum();
    assert_eq!(queries, 0);
}

#[test]
fn a_shard_that_never_answers_lets_the_request_go_on_unchanged() {
    use handoff::core::ShardMessage;
    use handoff::sim::attended_flows::NamedDialog;
    use handoff::sim::{CARRIER, PLATFORM};

    let mut sim = Sim::new(SimOptions::default().seed(13).shards(2));
    let calls = attended_flows::two_calls(&mut sim, ShardId(0), ShardId(1)).unwrap();
    sim.drop_shard_message = Some(|m| matches!(m, ShardMessage::DialogAnswer { .. }));
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2).clone();
    // As its recipient, handoff, sees B2 (RFC 4538 section 3): local-tag = handoff's tag.
    let named = NamedDialog::target_dialog(
        &b2.call_id,
        b2.remote_tag.as_deref().unwrap(),
        &b2.local_tag,
        &[],
    )
    .render();
    let sent_at = sim.now;
    sim.ua(PLATFORM)
        .request(calls.b1, "INFO", None, &[("Target-Dialog", &named)]);
    let info = sim.expect_request(CARRIER, "INFO");
    let waited = sim.now.millis_since(sent_at);
    let received = sim.ua_ref(CARRIER).incoming(info).header("Target-Dialog");
    assert_eq!(
        received.as_deref(),
        Some(named.as_str()),
        "passes unchanged"
    );
    assert!(
        waited >= handoff::core::DIALOG_QUERY_TIMEOUT_MS,
        "went on after {waited} ms, before the query timed out"
    );
    assert_eq!(sim.shard(0).dialog_query_timeouts(), 1);
    assert_eq!(sim.shard(0).requests_held_for_translation(), 0);
}
