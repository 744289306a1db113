//! Required keys (trunk name, peer, country_code; route to) are reported at their table, all
//! at once.

use handoff::config::Config;

#[test]
fn every_missing_required_key_is_reported_at_its_table() {
    let text = r#"[[trunk]]
name = "a"
peer = "127.0.0.1:5070"

[[trunk]]
country_code = "44"

[[route]]
from = "a"
"#;
    let errors = Config::from_toml_str(text, "missing.toml").expect_err("keys are missing");
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        vec![
            "missing.toml:1:1: [trunk] is missing the required key `country_code`",
            "missing.toml:5:1: [trunk] is missing the required key `name`",
            "missing.toml:5:1: [trunk] is missing the required key `peer`",
            "missing.toml:8:1: [route] is missing the required key `to`",
        ]
    );
}

#[test]
fn missing_keys_in_inline_tables() {
    let text = "route = [{ from = \"a\" }]\n";
    let errors = Config::from_toml_str(text, "missing.toml").expect_err("to is missing");
    assert_eq!(
        errors.to_string(),
        "missing.toml:1:10: [route] is missing the required key `to`"
    );
}
