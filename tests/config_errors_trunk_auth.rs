//! A trunk's `auth = { username, password[, realm] }` (digest credentials, RFC 3261 section 22):
//! a missing or unusable field is an error at its file:line:col that never quotes the password;
//! unknown sub-keys are refused; a valid table loads, and the password shows in no `Debug`
//! rendering; `handoff check` on a file with a bad `auth` does not print the password either.

#[path = "runtime_support/netns.rs"]
mod netns;

use handoff::config::Config;

const PASSWORD: &str = "Tr0ub4dor-and-3";

const TRUNKS: &str = "[[trunk]]\nname = \"carrier\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"platform\"\nrole = \"platform\"\npeer = \"10.0.0.2:5060\"\ncountry_code = \"1\"\n";

/// The two trunks with `auth = {table}` on the carrier (line 3).
fn with_auth(table: &str) -> String {
    TRUNKS.replacen(
        "name = \"carrier\"\n",
        &format!("name = \"carrier\"\nauth = {table}\n"),
        1,
    )
}

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "auth.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_valid_auth_loads_and_debug_hides_the_password() {
    let text = with_auth(&format!(
        "{{ username = \"hf\", password = \"{PASSWORD}\", realm = \"sip.carrier.example\" }}"
    ));
    let config = Config::from_toml_str(&text, "auth.toml").unwrap_or_else(|e| panic!("{e}"));
    let carrier = config.trunk_by_name("carrier").unwrap();
    let auth = config.trunks[carrier].auth.clone().expect("auth");
    assert_eq!(auth.username, "hf");
    assert_eq!(auth.password, PASSWORD);
    assert_eq!(auth.realm.as_deref(), Some("sip.carrier.example"));
    let shown = format!("{config:?}");
    assert!(!shown.contains(PASSWORD), "Debug shows the password");
    assert!(shown.contains("<redacted>"));
    let platform = config.trunk_by_name("platform").unwrap();
    assert!(config.trunks[platform].auth.is_none());
}

#[test]
fn a_missing_password_is_refused_at_the_table() {
    let got = errors(&with_auth("{ username = \"hf\" }"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("auth.toml:3:"), "{got:?}");
    assert!(got[0].contains("auth: password is missing"), "{got:?}");
}

#[test]
fn an_empty_username_is_refused_at_its_value() {
    let got = errors(&with_auth(&format!(
        "{{ username = \"\", password = \"{PASSWORD}\" }}"
    )));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("auth.toml:3:"), "{got:?}");
    assert!(got[0].contains("auth.username"), "{got:?}");
    assert!(!got[0].contains(PASSWORD), "{got:?}");
}

#[test]
fn a_password_with_a_line_break_is_refused_without_quoting_it() {
    let got = errors(&with_auth(
        "{ username = \"hf\", password = \"Tr0ub4dor\\r\\nVia: x\" }",
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("auth.toml:3:"), "{got:?}");
    assert!(got[0].contains("auth.password"), "{got:?}");
    assert!(!got[0].contains("Tr0ub4dor"), "{got:?}");
}

#[test]
fn an_unknown_sub_key_is_refused() {
    let got = errors(&with_auth(&format!(
        "{{ username = \"hf\", pasword = \"{PASSWORD}\" }}"
    )));
    assert!(got.iter().all(|e| e.starts_with("auth.toml:3:")), "{got:?}");
    assert!(got.iter().any(|e| e.contains("pasword")), "{got:?}");
    assert!(got.iter().all(|e| !e.contains(PASSWORD)), "{got:?}");
}

#[test]
fn handoff_check_never_prints_the_password() {
    netns::enter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    // One good trunk with credentials, and one error elsewhere so every line is reported.
    let text = with_auth(&format!(
        "{{ username = \"hf\", password = \"{PASSWORD}\" }}"
    ))
    .replace(
        "country_code = \"1\"\n\n[[trunk]]",
        "country_code = \"x\"\n\n[[trunk]]",
    );
    std::fs::write(&path, text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}{stderr}"
    );
    // And a valid one: the summary only.
    let valid = with_auth(&format!(
        "{{ username = \"hf\", password = \"{PASSWORD}\" }}"
    ));
    std::fs::write(&path, valid).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains(PASSWORD), "{all}");
}
