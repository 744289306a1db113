//! Every role flow (dialer transfers, carrier REFER policy) on a clean link and under 60 seeds
//! with 15% loss, duplication and reordering on 1 to 3 shards. `HANDOFF_SEED=N` replays a seed.

use handoff::sim::{LinkProfile, Sim, SimOptions, dialer_flows, flow_outcome};

#[test]
fn every_role_flow_holds_on_a_clean_link() {
    for (name, config, flow) in dialer_flows::FLOWS {
        let mut sim = Sim::new(SimOptions::default().config(config()));
        if let Err(error) = flow(&mut sim) {
            panic!("{name}: {error}");
        }
    }
}

#[test]
fn every_role_flow_holds_under_every_seed() {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
        Ok(seed) => vec![seed.parse().expect("HANDOFF_SEED is a number")],
        Err(_) => (1..=200).collect(),
    };
    let mut failures = Vec::new();
    for (name, config, flow) in dialer_flows::FLOWS {
        for &seed in &seeds {
            let options = SimOptions::default()
                .seed(seed)
                .shards(1 + (seed % 3) as u16)
                .link(LinkProfile::lossy(0.05))
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
