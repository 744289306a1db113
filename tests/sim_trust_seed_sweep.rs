//! Every trust flow under 100 seeds with 15% loss, duplication and reordering, on 1 to 3 shards.
//! A failure names its seed; `HANDOFF_SEED=N` replays it.

use handoff::sim::{LinkProfile, Sim, SimOptions, flow_outcome, trust_flows};

#[test]
fn every_trust_flow_holds_under_every_seed() {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
        Ok(seed) => vec![seed.parse().expect("HANDOFF_SEED is a number")],
        Err(_) => (1..=100).collect(),
    };
    let mut failures = Vec::new();
    for (name, config, flow) in trust_flows::FLOWS {
        for &seed in &seeds {
            let options = SimOptions::default()
                .seed(seed)
                .shards(1 + (seed % 3) as u16)
                .link(LinkProfile::lossy(0.15))
                .config(config());
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
