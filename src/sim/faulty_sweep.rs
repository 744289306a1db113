//! The seed sweeps of the transfer family (`tests/sim_{transfer,timing,dialogids,targets,glare,
//! trunkreq}_seed_sweep.rs`): every flow of a module under 200 seeds, each seed choosing the shard
//! count (1 to 4) and a faulty network (5% loss, plus duplication, reordering and jitter). A
//! failure names its seed and the command that replays it (`HANDOFF_SEED=N`; add
//! `HANDOFF_SIM_TRACE=1` for the ladder). Each sweep keeps its own `salt`, so its seeds stand
//! for the same networks they always did.

use super::{LinkProfile, Sim, SimOptions, SimRng, SweptFlow, flow_outcome};

/// One sweep: the test file that runs it (for the replay line), its salt, its seed count, and
/// whether every flow must also leave no topology leak behind (`Sim::check_topology`).
pub struct FaultySweep {
    pub test: &'static str,
    pub salt: u64,
    pub seeds: u64,
    pub check_topology: bool,
}

impl FaultySweep {
    /// The network and shard count `seed` stands for.
    pub fn options(&self, seed: u64) -> SimOptions {
        let mut rng = SimRng::new(seed ^ self.salt);
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

    /// Runs every flow under every seed (or only `HANDOFF_SEED`); panics listing the failures.
    pub fn run(&self, flows: &[SweptFlow]) {
        let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED") {
            Ok(value) => match value.trim().parse() {
                Ok(seed) => vec![seed],
                Err(_) => panic!("HANDOFF_SEED must be a number, not {value:?}"),
            },
            Err(_) => (1..=self.seeds).collect(),
        };
        let mut failures = Vec::new();
        for &seed in &seeds {
            for (name, config, flow) in flows {
                let outcome = flow_outcome(|| {
                    let mut sim = Sim::new(self.options(seed).config(config()));
                    flow(&mut sim)?;
                    match sim.leaks.first() {
                        Some(leak) if self.check_topology => {
                            Err(format!("{} topology leaks, first: {leak}", sim.leaks.len()))
                        }
                        _ => Ok(()),
                    }
                });
                if let Err(error) = outcome {
                    let options = self.options(seed);
                    failures.push(format!(
                        "seed {seed} ({} shards, {:?}) flow {name}: {error}\n  replay: HANDOFF_SEED={seed} cargo test --test {}",
                        options.shards, options.link, self.test
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// The flows a module's `source` declares (`pub fn NAME(sim: &mut Sim[, plain values]) ->
/// FlowResult`; helpers taking a flow's state are steps, not flows) that its `FLOWS` table does
/// not run. Panics when the module declares fewer than `at_least` flows (the scan went wrong).
pub fn flows_missing_from_table(source: &str, at_least: usize) -> Vec<String> {
    let start = source.find("pub const FLOWS").expect("FLOWS table");
    let end = start + source[start..].find("\n];").expect("end of FLOWS");
    // The table's code, without comments.
    let table: String = source[start..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let declared = declared_flows(source);
    assert!(declared.len() >= at_least, "found only {declared:?}");
    declared
        .into_iter()
        .filter(|name| {
            ![
                format!(" {name})"),
                format!(" {name},"),
                format!("{name}(s"),
                format!("\"{name}\""),
            ]
            .iter()
            .any(|mention| table.contains(mention.as_str()))
        })
        .collect()
}

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
