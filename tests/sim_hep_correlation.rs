//! What the HEP capture names a datagram by (`ShardCore::correlation_id`): every message of a
//! call, on every leg it has (B, a transfer's leg C, a Replaces' new leg, dialer calls), names
//! the call's conversation id, and one Call-ID never names two conversations. Checked on every
//! datagram the shards send in the transfer, Replaces and dialer flows, on 1 to 3 shards.

use std::collections::{BTreeMap, BTreeSet};

use handoff::sim::{Sim, SimOptions, dialer_flows, replaces_flows, transfer_flows};

#[test]
fn every_message_of_a_call_names_its_conversation() {
    let flows = transfer_flows::FLOWS
        .iter()
        .chain(replaces_flows::FLOWS)
        .chain(dialer_flows::FLOWS);
    for (name, config, flow) in flows {
        for shards in 1..=3 {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            sim.record_correlations = true;
            if let Err(error) = flow(&mut sim) {
                panic!("{name} on {shards} shards: {error}");
            }
            let conversations: BTreeSet<String> = sim
                .call_ends()
                .into_iter()
                .map(|end| end.conversation)
                .collect();
            let mut named: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (call_id, correlation) in &sim.correlations {
                named.entry(call_id).or_default().insert(correlation);
                // handoff's own Call-IDs (leg B, leg C) exist only for calls.
                if call_id.starts_with("hf") {
                    assert!(
                        correlation.starts_with("conv-"),
                        "{name} on {shards} shards: {call_id} named {correlation}"
                    );
                }
                if correlation.starts_with("conv-") && !conversations.is_empty() {
                    assert!(
                        conversations.contains(correlation.as_str()),
                        "{name} on {shards} shards: {correlation} is no call's ({conversations:?})"
                    );
                }
            }
            for (call_id, names) in named {
                assert_eq!(
                    names.len(),
                    1,
                    "{name} on {shards} shards: {call_id} named {names:?}"
                );
            }
            assert!(!sim.correlations.is_empty(), "{name}: nothing recorded");
        }
    }
}
