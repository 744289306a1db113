//! TOML syntax errors are reported at their position, all of them, before any validation.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "syntax.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn unclosed_table_header() {
    assert_eq!(
        errors("[sbc\nlisten = \"127.0.0.1:5060\"\n"),
        vec!["syntax.toml:1:5: unclosed table, expected `]`"]
    );
}

#[test]
fn every_syntax_error_is_reported() {
    let text = "[sbc]\nshards = = 2\n\n[[trunk]]\nname = \"a\nbroken\n";
    let found = errors(text);
    assert!(found.len() >= 2, "{found:?}");
    assert!(found[0].starts_with("syntax.toml:2:10: "), "{found:?}");
    assert!(
        found.iter().any(|e| e.starts_with("syntax.toml:5:")),
        "{found:?}"
    );
}

#[test]
fn duplicate_key() {
    let found = errors("[sbc]\nshards = 1\nshards = 2\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("syntax.toml:3:1: duplicate key"),
        "{found:?}"
    );
}

#[test]
fn wrong_value_type_names_the_expected_type() {
    assert_eq!(
        errors("[sbc]\nshards = \"four\"\n"),
        vec!["syntax.toml:2:10: invalid type: string \"four\", expected an integer"]
    );
}
