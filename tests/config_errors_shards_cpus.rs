//! Shard count and CPU pinning must agree.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "cpus.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn cpu_count_differs_from_shards() {
    assert_eq!(
        errors("[sbc]\nshards = 2\ncpus = [0, 1, 2]\n"),
        vec!["cpus.toml:3:8: sbc.cpus: lists 3 cpus but sbc.shards = 2; give one cpu per shard"]
    );
}

#[test]
fn cpu_listed_twice_or_negative() {
    assert_eq!(
        errors("[sbc]\ncpus = [1, -2, 1]\n"),
        vec![
            "cpus.toml:2:12: sbc.cpus: -2 is not a cpu number",
            "cpus.toml:2:16: sbc.cpus: cpu 1 is listed twice; each shard needs its own core",
        ]
    );
}

#[test]
fn too_many_shards() {
    assert_eq!(
        errors("[sbc]\nshards = 5000\n"),
        vec!["cpus.toml:2:10: sbc.shards: 5000 is out of range (0 = one per CPU, at most 1024)"]
    );
}

#[test]
fn matching_cpus_are_accepted() {
    let config = Config::from_toml_str("[sbc]\nshards = 2\ncpus = [6, 7]\n", "cpus.toml")
        .expect("two shards on two cpus");
    assert_eq!(config.sbc.cpus, vec![6, 7]);
    assert_eq!(config.resolved_shard_count(), 2);
}
