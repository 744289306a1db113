//! Golden SDP rewrites: every `tests/fixtures/sdp/NAME.in.sdp` is rewritten with
//! `NAME.plan.toml` and compared with `NAME.expected.sdp` (or, for a failure, the text
//! `error: <SdpError debug>`). `UPDATE_GOLDEN=1 cargo test --test sdp_golden` rewrites the
//! expected files and then FAILS (a rewrite is never a pass): review the diff against each
//! case's source, then run again without `UPDATE_GOLDEN`.
//!
//! Every case has a sidecar `NAME.source`: where its expectation comes from, as one or more
//! `source: RFC NNNN section X` (or `source: capture ...` for a real capture) lines, each
//! followed by a `quote:` line with the text that the expected output follows. A case without
//! one fails, so nothing is pinned only because handoff once printed it.
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
    /// `sbc.identity`, the o= username; default the config's default, "sbc".
    identity: Option<String>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdp")
}

/// Checks `NAME.source`: at least one `source:` naming an RFC section (or a capture), each
/// followed by a non-empty `quote:`. Returns what is wrong, if anything.
fn check_source(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(format!("{name}.source"));
    let Ok(text) = fs::read_to_string(&path) else {
        return Some(format!(
            "{name}: no {name}.source naming the RFC section or capture it reproduces"
        ));
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let mut sources = 0;
    for (index, line) in lines.iter().enumerate() {
        let Some(source) = line.strip_prefix("source:") else {
            continue;
        };
        let source = source.trim();
        let names_rfc_section = source
            .strip_prefix("RFC ")
            .and_then(|rest| rest.split_once(" section "))
            .is_some_and(|(number, section)| {
                !number.is_empty()
                    && number.bytes().all(|b| b.is_ascii_digit())
                    && !section.trim().is_empty()
            });
        if !names_rfc_section && !source.starts_with("capture ") {
            return Some(format!(
                "{name}.source: {source:?} is neither \"RFC NNNN section X\" nor \"capture ...\""
            ));
        }
        let quoted = lines
            .get(index + 1)
            .and_then(|next| next.strip_prefix("quote:"))
            .is_some_and(|quote| quote.trim().len() >= 10);
        if !quoted {
            return Some(format!(
                "{name}.source: {source:?} is not followed by a quote: line with its text"
            ));
        }
        sources += 1;
    }
    (sources == 0).then(|| format!("{name}.source names no source"))
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
        username: plan_file
            .identity
            .clone()
            .unwrap_or_else(|| handoff::config::DEFAULT_IDENTITY.to_string()),
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
    let mut rewritten = Vec::new();
    for name in &names {
        failures.extend(check_source(&dir, name));
        let actual = run_case(&dir, name);
        let expected_path = dir.join(format!("{name}.expected.sdp"));
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if update {
            fs::write(&expected_path, &actual).expect("write expected");
            rewritten.push(name.clone());
        } else {
            failures.push(format!(
                "--- {name}: expected\n{expected}\n--- actual\n{actual}"
            ));
        }
    }
    // A sidecar without its case is a source for nothing: a renamed or deleted case.
    for entry in fs::read_dir(&dir).expect("fixtures directory") {
        let file = entry.expect("directory entry").file_name();
        let file = file.to_string_lossy();
        if let Some(name) = file.strip_suffix(".source")
            && !names.iter().any(|n| n == name)
        {
            failures.push(format!("{file} has no {name}.in.sdp"));
        }
    }
    assert!(
        !update,
        "UPDATE_GOLDEN=1 rewrote {} expected file(s) ({}); a rewrite is never a pass: check each \
         against its .source, review `git diff tests/fixtures/sdp`, then run without UPDATE_GOLDEN\n{}",
        rewritten.len(),
        rewritten.join(", "),
        failures.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
