//! Trunk request seed sweep (issue 10 items 9, 11, 12): every flow of src/sim/trunkreq_flows.rs
//! (digest auth toward trunks, trunk headers, own Allow/Supported, CRLF keep-alives) under 200 seeds, each
//! seed choosing the shard count and a faulty network: 5% loss, plus duplication, reordering and
//! jitter. Any failure prints the seed; `HANDOFF_SEED=N cargo test --test sim_trunkreq_seed_sweep`
//! replays just that seed (add HANDOFF_SIM_TRACE=1 for the ladder).

use handoff::sim::trunkreq_flows::FLOWS;
use handoff::sim::{LinkProfile, Sim, SimOptions, SimRng, flow_outcome};

const SEEDS: u64 = 200;

/// The flows declared in `source`: `pub fn NAME(sim: &mut Sim[, plain values]) -> FlowResult`.
/// Helpers that take a flow's state (`t: &Transfer`, `calls: &TwoCalls`) are steps, not flows.
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
        if params.starts_with("sim:&mutSim")
            && params.matches('&').count() == 1
            && returns.contains("-> FlowResult")
        {
            names.push(rest[..open].to_string());
        }
    }
    names
}

/// The network and shard count a seed stands for.
fn options(seed: u64) -> SimOptions {
    let mut rng = SimRng::new(seed ^ 0x7472_756e_6b72_6571);
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
            flow(&mut sim)
        }) else {
            continue;
        };
        failures.push(format!(
            "seed {seed} ({:?}) flow {name}: {error}\n  replay: HANDOFF_SEED={seed} cargo test --test sim_trunkreq_seed_sweep",
            options(seed).link
        ));
    }
    failures
}

#[test]
fn every_trunkreq_flow_holds_under_every_seed() {
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

/// Every flow in `src/sim/trunkreq_flows.rs` is in `FLOWS`, so the sweep covers what the
/// simulated flows cover.
#[test]
fn the_sweep_runs_every_trunkreq_flow() {
    let source = include_str!("../src/sim/trunkreq_flows.rs");
    // The FLOWS table's code, without comments.
    let start = source.find("pub const FLOWS").expect("FLOWS table");
    let end = start + source[start..].find("\n];").expect("end of FLOWS");
    let table: String = source[start..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let declared = declared_flows(source);
    assert!(declared.len() >= 8, "found only {declared:?}");
    let missing: Vec<&String> = declared
        .iter()
        .filter(|name| {
            !table.contains(&format!(" {name})"))
                && !table.contains(&format!(" {name},"))
                && !table.contains(&format!("{name}(s"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
