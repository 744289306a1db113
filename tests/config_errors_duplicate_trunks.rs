//! Two trunks with the same name: the second is an error that points back to the first.

use handoff::config::Config;

#[test]
fn duplicate_trunk_name_is_reported_at_the_second() {
    let text = r#"[[trunk]]
name = "carrier"
peer = "127.0.0.1:5070"
country_code = "1"

[[trunk]]
name = "carrier"
peer = "127.0.0.1:5071"
country_code = "1"
"#;
    let errors = Config::from_toml_str(text, "dup.toml").expect_err("duplicate names");
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        vec!["dup.toml:7:8: trunk \"carrier\": duplicate trunk name (first defined on line 2)"]
    );
    assert_eq!((errors.0[0].line, errors.0[0].column), (7, 8));
}
