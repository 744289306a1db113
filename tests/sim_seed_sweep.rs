//! Seed sweep: every scenario under >= 200 seeds, each seed choosing the shard count and a
//! faulty network (loss, duplication, reordering, jitter). Any failure prints the seed;
//! `HANDOFF_SEED=N cargo test --test sim_seed_sweep` replays just that seed;
//! `HANDOFF_SEEDS=N` sweeps seeds 1..=N instead of the default 300.

use handoff::core::dialog::Side;
use handoff::sim::scenarios::{self, FlowResult};
use handoff::sim::{LinkProfile, Sim, SimOptions, SimRng, flow_outcome};

const SEEDS: u64 = 300;

type Flow = fn(&mut Sim) -> FlowResult;

const FLOWS: &[(&str, Flow)] = &[
    ("basic_call_bye_from_a", |s| {
        scenarios::basic_call(s, Side::A)
    }),
    ("basic_call_bye_from_b", |s| {
        scenarios::basic_call(s, Side::B)
    }),
    ("cancel_before_answer", scenarios::cancel_before_answer),
    ("busy", scenarios::busy),
    ("silent_trunk", scenarios::silent_trunk),
    ("hold_resume_from_a", |s| scenarios::hold_resume(s, Side::A)),
    ("hold_resume_from_b", |s| scenarios::hold_resume(s, Side::B)),
    ("bye_glare", scenarios::bye_glare),
    ("retransmit_2xx_until_ack", |s| {
        scenarios::retransmit_2xx_until_ack(s, 2)
    }),
    ("unknown_source", scenarios::unknown_source),
    ("options_keepalive", scenarios::options_keepalive),
    ("wrong_shard", |s| scenarios::wrong_shard(s, 2)),
    ("late_offer", scenarios::late_offer),
    ("drain", scenarios::drain),
];

/// The network and shard count a seed stands for.
fn options(seed: u64) -> SimOptions {
    let mut rng = SimRng::new(seed);
    let link = LinkProfile {
        loss: rng.below(21) as f64 / 100.0,
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
    for (name, flow) in FLOWS {
        let Err(error) = flow_outcome(|| {
            let mut sim = Sim::new(options(seed));
            flow(&mut sim)
        }) else {
            continue;
        };
        failures.push(format!(
            "seed {seed} ({:?}) flow {name}: {error}\n  replay: HANDOFF_SEED={seed} cargo test --test sim_seed_sweep",
            options(seed).link
        ));
    }
    failures
}

#[test]
fn every_flow_holds_under_every_seed() {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
        Ok(value) => vec![value.trim().parse().expect("HANDOFF_SEED must be a number")],
        Err(_) => {
            let count = std::env::var("HANDOFF_SEEDS")
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(SEEDS);
            (1..=count).collect()
        }
    };
    let failures: Vec<String> = seeds.iter().flat_map(|seed| run(*seed)).collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
