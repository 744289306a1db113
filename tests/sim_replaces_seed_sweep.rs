//! INVITE with Replaces (RFC 3891 section 3) on a clean link, and under 200 seeds with 5% loss,
//! duplication and reordering on 1 to 3 shards. `HANDOFF_SEED=N` replays a seed.

use handoff::sim::{LinkProfile, Sim, SimOptions, flow_outcome, replaces_flows};

#[test]
fn every_replaces_flow_holds_on_a_clean_link() {
    for (name, flow) in replaces_flows::FLOWS {
        for shards in 1..=3 {
            let mut sim = Sim::new(SimOptions::default().shards(shards));
            if let Err(error) = flow(&mut sim) {
                panic!("{name} on {shards} shards: {error}");
            }
        }
    }
}

#[test]
fn every_replaces_flow_holds_under_every_seed() {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
        Ok(seed) => vec![seed.parse().expect("HANDOFF_SEED is a number")],
        Err(_) => (1..=200).collect(),
    };
    let mut failures = Vec::new();
    for (name, flow) in replaces_flows::FLOWS {
        for &seed in &seeds {
            let options = SimOptions::default()
                .seed(seed)
                .shards(1 + (seed % 3) as u16)
                .link(LinkProfile::lossy(0.05));
            let outcome = flow_outcome(|| {
                let mut sim = Sim::new(options);
                flow(&mut sim)
            });
            if let Err(error) = outcome {
                failures.push(format!("{name} seed {seed}: {error}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
