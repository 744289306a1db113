//! `--help` explains running and checking, and no command claims to be unimplemented.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .expect("run the handoff binary");
    assert_eq!(output.status.code(), Some(0));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn top_level_help_explains_run_and_check() {
    let text = help(&["--help"]);
    assert!(
        text.contains("Without a subcommand, handoff runs"),
        "{text}"
    );
    assert!(text.contains("--config <PATH>"), "{text}");
    assert!(text.contains("embedded default"), "{text}");
    assert!(text.contains("check"), "{text}");
    assert!(text.contains("Validate a config file"), "{text}");
    assert!(!text.to_lowercase().contains("not implemented"), "{text}");
}

#[test]
fn check_help_explains_output_and_exit_codes() {
    let text = help(&["check", "--help"]);
    assert!(text.contains("ok: N trunks, M routes"), "{text}");
    assert!(text.contains("file:line:col: message"), "{text}");
    assert!(text.contains("exits 2"), "{text}");
}

/// Issue 11: `--help` explains the second Ctrl-C.
#[test]
fn top_level_help_explains_the_second_ctrl_c() {
    let text = help(&["--help"]);
    assert!(text.contains("A second Ctrl-C"), "{text}");
    assert!(text.contains("N calls left, T s to go"), "{text}");
}

/// Issue 11: `--help` names the log formats, text the default.
#[test]
fn top_level_help_explains_the_log_format() {
    let text = help(&["--help"]);
    assert!(text.contains("--log-format <FORMAT>"), "{text}");
    assert!(text.contains("[default: text]"), "{text}");
    assert!(text.contains("[possible values: text, json]"), "{text}");
    assert!(text.contains("conversation"), "{text}");
}
