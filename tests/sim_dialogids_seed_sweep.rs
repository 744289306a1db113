//! Target-Dialog and out-of-dialog REFER seed sweep (issue 10, items 2 and 3): every flow of
//! src/sim/dialogids_flows.rs under 200 seeds, each seed choosing the shard count (1 to 4) and a
//! faulty network: 5% loss, plus duplication, reordering and jitter; after each flow no datagram
//! handoff sent may name another agent's address (topology hiding). Any failure prints the seed;
//! `HANDOFF_SEED=N cargo test --test sim_dialogids_seed_sweep` replays just that seed (add
//! HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::dialogids_flows::FLOWS;
use handoff::sim::{LinkProfile, Sim, SimOptions, SimRng, flow_outcome};

const SEEDS: u64 = 200;

/// The flows declared in `source`: `pub fn NAME(sim: &mut Sim) -> FlowResult`.
fn declared_flows(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in source.match_indices("\npub fn ") {
        let rest = &source[at + "\npub fn ".len()..];
        let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
            continue;
        };
        let params: String = rest[open + 1..close]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let returns = &rest[close..rest.find('{').unwrap_or(rest.len())];
        if params.starts_with("sim:&mutSim") && returns.contains("-> FlowResult") {
            names.push(rest[..open].to_string());
        }
    }
    names
}

/// The network and shard count a seed stands for.
fn options(seed: u64) -> SimOptions {
    let mut rng = SimRng::new(seed ^ 0x7464_6961_6c6f_6773);
    let link = LinkProfile {
        loss: 0.05,
        duplicate: rng.below(11) as f64 / 100.0,
        reorder: rng.below(21) as f64 / 100.0,
        reorder_ms: 5 + rng.below(60),
        delay_ms: 1 + rng.below(20),
        jitter_ms: rng.below(15),
    };
    SimOptions::default()
        .seed(seed)
        .shards(1 + rng.below(4) as u16)
        .link(link)
}

fn run(seed: u64) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, config, flow) in FLOWS {
        let Err(error) = flow_outcome(|| {
            let mut sim = Sim::new(options(seed).config(config()));
            flow(&mut sim)?;
            // Topology hiding (Sim::check_topology): no datagram handoff sent to one agent names
            // another agent's address.
            match sim.leaks.first() {
                Some(leak) => Err(format!("{} topology leaks, first: {leak}", sim.leaks.len())),
                None => Ok(()),
            }
        }) else {
            continue;
        };
        failures.push(format!(
            "seed {seed} ({} shards, {:?}) flow {name}: {error}\n  replay: HANDOFF_SEED={seed} cargo test --test sim_dialogids_seed_sweep",
            options(seed).shards,
            options(seed).link
        ));
    }
    failures
}

#[test]
fn every_dialogids_flow_holds_under_every_seed() {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
        Ok(value) => vec![value.trim().parse().expect("HANDOFF_SEED must be a number")],
        Err(_) => (1..=SEEDS).collect(),
    };
    let failures: Vec<String> = seeds.iter().flat_map(|seed| run(*seed)).collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every flow in `src/sim/dialogids_flows.rs` is swept (directly or through a wrapper that
/// places its calls).
#[test]
fn the_sweep_runs_every_dialogids_flow() {
    let source = include_str!("../src/sim/dialogids_flows.rs");
    let start = source.find("pub const FLOWS").expect("FLOWS table");
    let table = &source[start..];
    let declared = declared_flows(source);
    assert!(declared.len() >= 6, "found only {declared:?}");
    let missing: Vec<&String> = declared
        .iter()
        .filter(|name| {
            !table.contains(&format!("\"{name}\"")) && !table.contains(&format!(" {name},"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
