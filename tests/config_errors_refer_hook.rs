//! `refer_hook` on a trunk: only on platform trunks, only http:// URLs, a known `on_error`, a
//! bounded `timeout_ms`, no unknown sub-keys; each error at its file:line:col. A valid one loads
//! with its defaults (timeout 1500 ms, on_error "refer").

use handoff::config::{Config, HookAction};

const TRUNKS: &str = "[[trunk]]\nname = \"carrier\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"platform\"\nrole = \"platform\"\npeer = \"10.0.0.2:5060\"\ncountry_code = \"1\"\n";

fn with_hook(trunk: &str, hook: &str) -> String {
    let line = if trunk == "platform" {
        "role = \"platform\"\n"
    } else {
        "name = \"carrier\"\n"
    };
    TRUNKS.replacen(line, &format!("{line}refer_hook = {hook}\n"), 1)
}

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "hook.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_valid_hook_loads_with_its_defaults() {
    let text = with_hook("platform", "{ url = \"http://127.0.0.1:8080/refer\" }");
    let config = Config::from_toml_str(&text, "hook.toml").unwrap_or_else(|e| panic!("{e}"));
    let platform = config.trunk_by_name("platform").unwrap();
    let hook = config.trunks[platform].refer_hook.clone().expect("hook");
    assert_eq!(hook.url, "http://127.0.0.1:8080/refer");
    assert_eq!((hook.timeout_ms, hook.on_error), (1500, HookAction::Refer));
    let carrier = config.trunk_by_name("carrier").unwrap();
    assert!(config.trunks[carrier].refer_hook.is_none());
}

#[test]
fn https_is_refused_at_its_position() {
    let text = with_hook("platform", "{ url = \"https://hooks.example/refer\" }");
    let got = errors(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("hook.toml:9:"), "{got:?}");
    assert!(
        got[0].contains("refer_hook.url") && got[0].contains("not an http:// URL"),
        "{got:?}"
    );
}

#[test]
fn a_carrier_trunk_cannot_have_one() {
    let got = errors(&with_hook(
        "carrier",
        "{ url = \"http://127.0.0.1:8080/\" }",
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("hook.toml:3:"), "{got:?}");
    assert!(
        got[0].contains("role = \\\"platform\\\"") || got[0].contains("platform"),
        "{got:?}"
    );
}

#[test]
fn bad_on_error_timeout_and_unknown_keys() {
    let text = with_hook(
        "platform",
        "{ url = \"http://127.0.0.1:8080/\", on_error = \"drop\", timeout_ms = 0, retries = 2 }",
    );
    let got = errors(&text).join("\n");
    assert!(
        got.contains(
            "refer_hook.on_error: \"drop\" is not one of \"refer\", \"local\", \"reject\""
        ),
        "{got}"
    );
    assert!(
        got.contains("refer_hook.timeout_ms: 0 is out of range"),
        "{got}"
    );
    assert!(got.contains("retries"), "{got}");
}
