//! `handoff demo` runs the three transfers against its built-in agents and exits 0 with the
//! summary line.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::process::Command;

#[test]
fn demo_runs_three_transfers() {
    netns::enter();
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .arg("demo")
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
}
