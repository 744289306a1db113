//! `handoff demo` runs the three transfers against its built-in agents and exits 0 with the
//! summary line; it keeps the audit file and says where, honours --log-level and refuses
//! --config (issue 11).

#[path = "runtime_support/netns.rs"]
mod netns;

use std::process::Command;

#[test]
fn demo_runs_three_transfers() {
    netns::enter();
    let tmp = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["demo", "--log-level", "trace"])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run handoff demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "3 transfers: 2 handed off, 1 local fallback (403 from carrier-a), 4 trunk sessions saved"
        ),
        "{stdout}"
    );
    for title in [
        "1. Blind transfer",
        "2. Blind transfer, REFER rejected 403",
        "3. Attended",
    ] {
        assert!(stdout.contains(title), "{title} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("\"type\":\"transfer\""),
        "audit records printed"
    );

    // The audit file is kept, at the path the demo names.
    let kept = stdout
        .lines()
        .find_map(|line| line.strip_prefix("The audit file is kept: "))
        .unwrap_or_else(|| panic!("no kept audit path:\n{stdout}"));
    let audit = std::fs::read_to_string(kept).expect("the kept audit file");
    assert_eq!(audit.matches("\"type\":\"transfer\"").count(), 3, "{audit}");

    // --log-level is honoured: one info line per call end and per transfer, with the
    // conversation id; the SIP messages at trace; no Rust structures dumped for calls.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let info = |what: &str| {
        stderr
            .lines()
            .filter(|l| {
                l.contains(" INFO ") && l.contains(what) && l.contains("conversation=conv-")
            })
            .count()
    };
    assert_eq!(info(": transfer "), 3, "{stderr}");
    assert!(info(": call ended ") >= 3, "{stderr}");
    assert!(stderr.contains("SIP sent:\nINVITE sip:"), "{stderr}");
    assert!(stderr.contains("SIP received:\nSIP/2.0 200 OK"), "{stderr}");
    assert!(!stderr.contains("CallRef {"), "{stderr}");
    assert!(!stderr.contains("ShardId("), "{stderr}");
}

#[test]
fn demo_refuses_config() {
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["demo", "--config", "config/contact-center.toml"])
        .output()
        .expect("run handoff demo");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--config is not used"), "{stderr}");
    assert!(output.stdout.is_empty());
}
