//! A trunk's `jurisdiction` (issue 11, recording jurisdiction): a short name such as "UK" loads;
//! anything else (empty, spaces, too long) is an error at its file:line:col.

use handoff::config::Config;

fn trunk(jurisdiction: &str) -> String {
    format!(
        "[[trunk]]\nname = \"carrier\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"44\"\njurisdiction = {jurisdiction}\n"
    )
}

#[test]
fn a_short_name_loads() {
    let config =
        Config::from_toml_str(&trunk("\"UK\""), "j.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.trunks[0].jurisdiction.as_deref(), Some("UK"));
}

#[test]
fn anything_else_is_an_error_at_its_place() {
    for bad in [
        "\"\"",
        "\"United Kingdom\"",
        &format!("\"{}\"", "X".repeat(33)),
    ] {
        let errors = match Config::from_toml_str(&trunk(bad), "j.toml") {
            Ok(_) => panic!("{bad} should be refused"),
            Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("j.toml:5:16: trunk \"carrier\": jurisdiction: "),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].contains("is not a jurisdiction name"),
            "{}",
            errors[0]
        );
    }
}
