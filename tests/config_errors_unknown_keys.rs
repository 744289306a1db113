//! Unknown keys are errors at the key, in every table, all reported at once, with a hint when
//! the key looks like a typo.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "keys.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn unknown_keys_in_every_table() {
    let text = r#"colour = "blue"
[sbc]
sharts = 2
[sbc.timers]
t3_ms = 1
[[trunk]]
name = "a"
peer = "127.0.0.1:5070"
country_code = "1"
  rinback = "off"
[[route]]
to = "a"
prefx = "1"
"#;
    assert_eq!(
        errors(text),
        vec![
            "keys.toml:1:1: unknown key `colour` at the top level (known: sbc, trunk, route)",
            "keys.toml:3:1: unknown key `sharts` in [sbc]; did you mean `shards`?",
            "keys.toml:5:1: unknown key `t3_ms` in [sbc.timers]; did you mean `t1_ms`?",
            "keys.toml:10:3: unknown key `rinback` in [trunk]; did you mean `ringback`?",
            "keys.toml:13:1: unknown key `prefx` in [route]; did you mean `prefix`?",
        ]
    );
}

#[test]
fn unknown_keys_do_not_hide_value_errors() {
    let text = "[sbc]\nlisten = \"nowhere\"\nlisen = \"127.0.0.1:5060\"\n";
    assert_eq!(
        errors(text),
        vec![
            "keys.toml:2:10: sbc.listen: \"nowhere\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")",
            "keys.toml:3:1: unknown key `lisen` in [sbc]; did you mean `listen`?",
        ]
    );
}

#[test]
fn dotted_and_inline_tables_are_checked_too() {
    let text = "sbc.timers.t5_ms = 3\ntrunk = [{ name = \"a\", peer = \"127.0.0.1:5070\", country_code = \"1\", codec = [\"PCMU\"] }]\n";
    assert_eq!(
        errors(text),
        vec![
            "keys.toml:1:12: unknown key `t5_ms` in [sbc.timers]; did you mean `t1_ms`?",
            "keys.toml:2:69: unknown key `codec` in [trunk]; did you mean `codecs`?",
        ]
    );
}
