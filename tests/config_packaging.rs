//! Issue 11, packaging: the files in config/ that an operator installs are right for the binary
//! they ship with.
//! - The Grafana dashboard is valid JSON and every metric its queries name is one the running
//!   binary's /metrics has (a renamed metric would leave a panel empty without a word).
//! - The Prometheus example scrapes the address the example config's admin API listens on.
//! - The systemd unit passes `systemd-analyze verify`, runs handoff as `Type=notify`, reloads
//!   with SIGHUP, and gives a drain longer than the example's drain_s plus the BYEs' 64*T1.

mod admin_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use runtime_support::{Handoff, WAIT, setup};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Metric names in a PromQL expression (handoff's and the standard process_ ones).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for start in ["handoff_", "process_"] {
        let mut rest = expr;
        while let Some(at) = rest.find(start) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

fn get_metrics(admin: SocketAddr) -> String {
    admin_support::request(admin, "GET", "/metrics", None, None, WAIT).body
}

#[test]
fn every_metric_the_grafana_dashboard_queries_is_published() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("config/grafana-dashboard.json")).expect("valid JSON");
    let mut wanted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            wanted.extend(metric_names(target["expr"].as_str().expect("expr")));
        }
    }
    assert!(wanted.len() >= 10, "{wanted:?}");

    let s = setup("epoll", 33600, 1, 1);
    let admin: SocketAddr = "127.0.0.1:33690".parse().unwrap();
    admin_support::with_admin(&s.config_path, admin, "");
    let mut handoff = Handoff::start(&s.config_path);
    handoff.wait_for_log("admin API listening", WAIT);
    let metrics = get_metrics(admin);
    let published: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let histograms: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
        .collect();
    // A histogram is queried through its `_bucket`, `_sum` and `_count` series.
    let is_published = |name: &str| {
        published.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|family| histograms.contains(family))
            })
    };
    let missing: Vec<&String> = wanted.iter().filter(|name| !is_published(name)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not publish"
    );
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn the_prometheus_example_scrapes_the_example_admin_address() {
    let example = read("config/contact-center.toml");
    let admin = example
        .lines()
        .find_map(|l| l.strip_prefix("admin = "))
        .expect("the example sets admin")
        .trim_matches('"');
    let scrape = read("config/prometheus.yml");
    assert!(
        scrape.contains(&format!("targets: [\"{admin}\"]")),
        "{scrape}"
    );
    assert!(scrape.contains("metrics_path: /metrics"), "{scrape}");
}

#[test]
fn the_systemd_unit_verifies_and_waits_for_the_drain() {
    let unit = read("config/handoff.service");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit has no {key}="))
            .to_owned()
    };
    assert_eq!(value("Type"), "notify");
    assert!(value("ExecReload").contains("-HUP"), "{unit}");
    assert_eq!(value("Restart"), "on-failure");
    assert!(value("AmbientCapabilities").contains("CAP_NET_BIND_SERVICE"));
    assert!(value("LimitNOFILE").parse::<u64>().unwrap() >= 65536);

    // The example's drain_s plus 64*T1 (T1 = 500 ms) for the BYEs, with room to spare.
    let example = read("config/contact-center.toml");
    let drain_s: u64 = example
        .lines()
        .find_map(|l| l.strip_prefix("drain_s = "))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("the example sets drain_s");
    let stop: u64 = value("TimeoutStopSec").parse().expect("seconds");
    assert!(
        stop > drain_s + 32,
        "TimeoutStopSec={stop}, drain_s={drain_s}"
    );

    // systemd-analyze checks the unit as systemd would load it, with the paths pointed at this
    // build (it refuses a unit whose ExecStart binary does not exist).
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_handoff");
    let local = unit.replace("/usr/local/bin/handoff", binary);
    let path = dir.path().join("handoff.service");
    std::fs::write(&path, local).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is not installed: scripts/test.sh installs the systemd package");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        // Not about the unit: a container without a booted systemd says so.
        .filter(|l| !l.contains("System has not been booted") && !l.trim().is_empty())
        .collect();
    assert!(
        out.status.success() && problems.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}
