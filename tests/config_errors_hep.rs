//! `sbc.hep` / `sbc.hep_id`: off by default, "off" or "" keeps it off, anything else must be a
//! socket address; the capture agent id is a u32. Errors point at the value (file:line:col).

use handoff::config::{Config, DEFAULT_HEP_ID};

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "hep.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn hep(text: &str) -> (Option<std::net::SocketAddr>, u32) {
    let config = Config::from_toml_str(text, "hep.toml").expect("valid config");
    (config.sbc.hep, config.sbc.hep_id)
}

#[test]
fn off_by_default_and_with_off_or_empty() {
    assert_eq!(hep(""), (None, DEFAULT_HEP_ID));
    assert_eq!(hep("[sbc]\nhep = \"off\"\n").0, None);
    assert_eq!(hep("[sbc]\nhep = \"\"\n").0, None);
}

#[test]
fn a_collector_address_and_an_id_are_taken() {
    assert_eq!(
        hep("[sbc]\nhep = \"10.0.0.7:9060\"\nhep_id = 4294967295\n"),
        (Some("10.0.0.7:9060".parse().unwrap()), u32::MAX)
    );
    assert_eq!(
        hep("[sbc]\nhep = \"[2001:db8::7]:9060\"\nhep_id = 0\n"),
        (Some("[2001:db8::7]:9060".parse().unwrap()), 0)
    );
}

#[test]
fn bad_values_are_errors_at_the_value() {
    assert_eq!(
        errors("[sbc]\nhep = \"homer:9060\"\nhep_id = -1\n"),
        vec![
            "hep.toml:2:7: sbc.hep: \"homer:9060\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")",
            "hep.toml:3:10: sbc.hep_id: -1 is out of range (0..=4294967295)",
        ]
    );
    assert_eq!(
        errors("[sbc]\nhep_id = 4294967296\n"),
        vec!["hep.toml:2:10: sbc.hep_id: 4294967296 is out of range (0..=4294967295)"]
    );
}
