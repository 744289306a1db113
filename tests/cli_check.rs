//! `handoff check` exits 0 with a summary for a valid config, and 2 with every error as
//! `file:line:col: message` on stderr for an invalid one.

use std::io::Write;
use std::process::{Command, Output};

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .expect("run the handoff binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_example_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/contact-center.toml");
    let output = handoff(&["check", "--config", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 3 trunks, 4 routes\n");
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn embedded_default_when_no_config_is_given() {
    let output = handoff(&["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 2 trunks, 2 routes\n");
}

#[test]
fn invalid_config_lists_every_error_and_exits_2() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[sbc]\nlisten = \"127.0.0.1\"\nsharts = 2\n\n[[route]]\nto = \"nowhere\"\n"
    )
    .expect("write");
    let path = file.path().display().to_string();
    let output = handoff(&["check", "--config", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        format!(
            "{path}:2:10: sbc.listen: \"127.0.0.1\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")\n\
             {path}:3:1: unknown key `sharts` in [sbc]; did you mean `shards`?\n\
             {path}:6:6: route.to: no trunk named \"nowhere\" (trunks: none defined)\n"
        )
    );
}

#[test]
fn unreadable_config_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.toml").display().to_string();
    let output = handoff(&["check", "--config", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with(&format!("{path}: cannot read config file: ")),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn config_may_come_before_the_subcommand() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let output = handoff(&["--config", path, "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok: 2 trunks, 2 routes\n");
}

#[test]
fn a_config_without_a_platform_trunk_is_valid_with_a_warning() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"b\"\npeer = \"10.0.0.2:5060\"\ncountry_code = \"1\"\n"
    )
    .expect("write");
    let path = file.path().to_str().expect("utf-8 path");
    let output = handoff(&["check", "--config", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "warning: no trunk has role = \"platform\": REFERs are only honoured from platform legs, so no transfer can happen\n"
    );
}
