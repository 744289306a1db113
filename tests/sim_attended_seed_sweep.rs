//! Seed sweep of the attended-transfer flows: >= 200 seeds, 5% loss (plus duplication and
//! reordering), 2 to 4 shards, the two calls always on different shards. Any failure prints the
//! seed; `HANDOFF_SEED=N cargo test --test sim_attended_seed_sweep` replays just that seed.

use handoff::core::ShardId;
use handoff::sim::attended_flows;
use handoff::sim::scenarios::FlowResult;
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

type Flow = fn(&mut Sim, ShardId, ShardId) -> FlowResult;

/// (name, flow, carrier trunk transfers locally)
const FLOWS: &[(&str, Flow, bool)] = &[
    (
        "attended_refer_mode",
        attended_flows::attended_refer_mode,
        false,
    ),
    (
        "replaces_header_on_invite",
        attended_flows::replaces_header_on_invite,
        false,
    ),
    (
        "unknown_dialogs_unchanged",
        attended_flows::unknown_dialogs_unchanged,
        false,
    ),
    (
        "attended_local_mode",
        attended_flows::attended_local_mode,
        true,
    ),
    (
        "target_dialog_on_relayed_request",
        attended_flows::target_dialog_on_relayed_request,
        false,
    ),
    (
        "attended_refer_rejected_falls_back_to_local",
        attended_flows::attended_refer_rejected_falls_back_to_local,
        false,
    ),
    (
        "attended_local_mode_early_transferor_bye",
        attended_flows::attended_local_mode_early_transferor_bye,
        true,
    ),
    (
        "attended_local_mode_then_drain",
        attended_flows::attended_local_mode_then_drain,
        true,
    ),
];

/// Shard count, call placement (different shards) and network a seed stands for.
fn setup(seed: u64) -> (SimOptions, ShardId, ShardId) {
    let mut rng = SimRng::new(seed);
    let shards = 2 + rng.below(3) as u16;
    let first = rng.below(u64::from(shards)) as u16;
    let second = (first + 1 + rng.below(u64::from(shards) - 1) as u16) % shards;
    let options = SimOptions::default()
        .seed(seed)
        .shards(shards)
        .link(LinkProfile::lossy(0.05));
    (options, ShardId(first), ShardId(second))
}

fn run(seed: u64) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, flow, local) in FLOWS {
        let (mut options, first, second) = setup(seed);
        if *local {
            options = options.config(attended_flows::local_mode_config());
        }
        assert_ne!(
            first, second,
            "the sweep must place the calls on two shards"
        );
        let Err(error) = flow_outcome(|| {
            let mut sim = Sim::new(options.clone());
            flow(&mut sim, first, second)
        }) else {
            continue;
        };
        failures.push(format!(
            "seed {seed} ({} shards, calls on {first:?}/{second:?}) flow {name}: {error}\n  replay: HANDOFF_SEED={seed} cargo test --test sim_attended_seed_sweep",
            options.shards
        ));
    }
    failures
}

#[test]
fn every_attended_flow_holds_under_every_seed() {
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

/// Every flow in `src/sim/attended_flows.rs` is in `FLOWS`.
#[test]
fn the_sweep_runs_every_attended_flow() {
    let declared = declared_flows(include_str!("../src/sim/attended_flows.rs"));
    assert!(declared.len() >= 8, "found only {declared:?}");
    let swept: Vec<&str> = FLOWS.iter().map(|(name, _, _)| *name).collect();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|name| !swept.contains(&name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "flows not in the seed sweep: {missing:?}"
    );
}
