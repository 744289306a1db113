//! Golden SDP rewrites: every `tests/fixtures/sdp/NAME.in.sdp` is rewritten with
//! `NAME.plan.toml` and compared with `NAME.expected.sdp` (or, for a failure, the text
//! `error: <SdpError debug>`). `UPDATE_GOLDEN=1 cargo test --test sdp_golden` rewrites the
//! expected files; review the diff before committing.
//!
//! A plan may name `previous = "FILE"`: that SDP is rewritten first with the same plan and the
//! resulting origin state is used for NAME (tests the o= version bump).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use handoff::sdp::{OriginState, RewritePlan, rewrite};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    advertise: IpAddr,
    audio_ports: Vec<u16>,
    #[serde(default)]
    codecs: Vec<String>,
    #[serde(default)]
    rtcp_mux: bool,
    session_id: u64,
    version: u64,
    previous: Option<String>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdp")
}

fn run_case(dir: &Path, name: &str) -> String {
    let plan_text = fs::read_to_string(dir.join(format!("{name}.plan.toml"))).expect("plan file");
    let plan_file: PlanFile = toml::from_str(&plan_text).expect("plan parses");
    let mut plan = RewritePlan {
        advertise: plan_file.advertise,
        audio_ports: plan_file.audio_ports,
        codecs: plan_file.codecs,
        rtcp_mux: plan_file.rtcp_mux,
        origin: OriginState::new(plan_file.session_id, plan_file.version),
    };
    if let Some(previous) = &plan_file.previous {
        let input = fs::read(dir.join(previous)).expect("previous SDP");
        plan.origin = rewrite(&input, &plan)
            .expect("previous SDP rewrites")
            .origin;
    }
    let input = fs::read(dir.join(format!("{name}.in.sdp"))).expect("input SDP");
    match rewrite(&input, &plan) {
        Ok(rewritten) => String::from_utf8(rewritten.bytes).expect("output is UTF-8"),
        Err(error) => format!("error: {error:?}\n"),
    }
}

#[test]
fn every_fixture_matches_its_expected_rewrite() {
    let dir = fixtures_dir();
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("fixtures directory")
        .filter_map(|entry| {
            let file = entry.ok()?.file_name().into_string().ok()?;
            file.strip_suffix(".in.sdp").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected at least 10 golden cases, found {}",
        names.len()
    );

    let mut failures = Vec::new();
    for name in &names {
        let actual = run_case(&dir, name);
        let expected_path = dir.join(format!("{name}.expected.sdp"));
        if update {
            fs::write(&expected_path, &actual).expect("write expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "--- {name}: expected\n{expected}\n--- actual\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
