//! Routes must name defined trunks, must not send calls back where they came from, must have
//! digit prefixes, and must be reachable.

use handoff::config::Config;

const TRUNKS: &str = r#"[[trunk]]
name = "carrier"
peer = "127.0.0.1:5070"
country_code = "1"

[[trunk]]
name = "platform"
peer = "127.0.0.1:5080"
country_code = "1"
"#;

fn errors(routes: &str) -> Vec<String> {
    let text = format!("{TRUNKS}{routes}");
    match Config::from_toml_str(&text, "routes.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn routes_naming_unknown_trunks() {
    let routes = "\n[[route]]\nfrom = \"carier\"\nto = \"platfrom\"\n";
    assert_eq!(
        errors(routes),
        vec![
            "routes.toml:12:8: route.from: no trunk named \"carier\" (trunks: carrier, platform)",
            "routes.toml:13:6: route.to: no trunk named \"platfrom\" (trunks: carrier, platform)",
        ]
    );
}

#[test]
fn route_without_any_trunks() {
    let text = "[[route]]\nto = \"platform\"\n";
    let errors = Config::from_toml_str(text, "routes.toml").expect_err("no trunks");
    assert_eq!(
        errors.to_string(),
        "routes.toml:2:6: route.to: no trunk named \"platform\" (trunks: none defined)"
    );
}

#[test]
fn route_back_to_its_source_trunk() {
    let routes = "\n[[route]]\nfrom = \"carrier\"\nto = \"carrier\"\n";
    assert_eq!(
        errors(routes),
        vec![
            "routes.toml:13:6: route.to: \"carrier\" sends calls back to the trunk they came from"
        ]
    );
}

#[test]
fn prefix_must_be_digits() {
    let routes = "\n[[route]]\nto = \"carrier\"\nprefix = \"44x\"\n";
    assert_eq!(
        errors(routes),
        vec![
            "routes.toml:13:10: route.prefix: \"44x\" is not an E.164 digit prefix (e.g. \"1555\" or \"+44\")"
        ]
    );
}

#[test]
fn route_shadowed_by_an_earlier_one() {
    let routes = "\n[[route]]\nfrom = \"platform\"\nprefix = \"+44\"\nto = \"carrier\"\n\n[[route]]\nfrom = \"platform\"\nprefix = \"4420\"\nto = \"carrier\"\n";
    assert_eq!(
        errors(routes),
        vec![
            "routes.toml:16:1: route: never matches; the route on line 11 catches all its calls first"
        ]
    );
}
