//! Attended transfer translation: the Replaces inside a Refer-To and a Target-Dialog header naming
//! a bridged dialog reach the other side naming the bridged leg as its receiver sees it;
//! identifiers of unknown dialogs pass byte for byte. A Replaces header on an INVITE names a
//! dialog handoff is the UAS of: that leg is replaced in place (RFC 3891 section 3).

use handoff::core::ShardId;
use handoff::sim::attended_flows;
use handoff::sim::{Sim, SimOptions};

fn sim() -> Sim {
    Sim::new(SimOptions::default().seed(7).shards(2))
}

#[test]
fn replaces_in_refer_to_names_the_carriers_dialog() {
    // The refer-mode flow checks the carrier's Refer-To before going on.
    let mut sim = sim();
    attended_flows::attended_refer_mode(&mut sim, ShardId(0), ShardId(0)).unwrap();
    assert_eq!(
        sim.shard(0).dialog_queries_sent(),
        0,
        "a same-shard translation must not ask another shard"
    );
}

#[test]
fn replaces_header_on_invite_replaces_the_platform_leg_in_place() {
    let mut sim = sim();
    attended_flows::replaces_header_on_invite(&mut sim, ShardId(1), ShardId(1)).unwrap();
}

#[test]
fn unknown_dialogs_pass_unchanged() {
    let mut sim = sim();
    attended_flows::unknown_dialogs_unchanged(&mut sim, ShardId(0), ShardId(0)).unwrap();
}

#[test]
fn unknown_dialogs_on_another_shard_pass_unchanged() {
    let mut sim = sim();
    attended_flows::unknown_dialogs_unchanged(&mut sim, ShardId(0), ShardId(1)).unwrap();
    assert!(
        sim.shard(0).dialog_queries_sent() >= 1,
        "the ghost Target-Dialog names shard 1: it must be asked"
    );
}

#[test]
fn target_dialog_names_the_bridged_leg_with_handoff_as_sender() {
    let mut sim = sim();
    attended_flows::target_dialog_on_relayed_request(&mut sim, ShardId(1), ShardId(1)).unwrap();
}

#[test]
fn target_dialog_across_shards() {
    let mut sim = sim();
    attended_flows::target_dialog_on_relayed_request(&mut sim, ShardId(1), ShardId(0)).unwrap();
    assert!(sim.shard(1).dialog_queries_sent() >= 1);
}
