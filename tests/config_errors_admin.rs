//! `sbc.admin`: loopback by default, "off" turns it off, and anywhere else needs a token.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "admin.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn admin(text: &str) -> Option<std::net::SocketAddr> {
    Config::from_toml_str(text, "admin.toml")
        .expect("valid config")
        .sbc
        .admin
}

#[test]
fn non_loopback_admin_without_token_is_an_error_at_the_value() {
    assert_eq!(
        errors("[sbc]\nadmin = \"0.0.0.0:9090\"\n"),
        vec![
            "admin.toml:2:9: sbc.admin: 0.0.0.0:9090 is not a loopback address; binding the admin API elsewhere requires sbc.admin_token (clients send Authorization: Bearer <token>)"
        ]
    );
    assert_eq!(
        errors("[sbc]\nadmin = \"[::]:9090\"\n").len(),
        1,
        "an IPv6 wildcard is no loopback either"
    );
}

#[test]
fn non_loopback_admin_with_token_is_accepted() {
    let config = Config::from_toml_str(
        "[sbc]\nadmin = \"0.0.0.0:9090\"\nadmin_token = \"s3cret\"\n",
        "admin.toml",
    )
    .expect("valid");
    assert_eq!(config.sbc.admin, Some("0.0.0.0:9090".parse().unwrap()));
    assert_eq!(config.sbc.admin_token.as_deref(), Some("s3cret"));
}

#[test]
fn empty_token_is_an_error() {
    assert_eq!(
        errors("[sbc]\nadmin_token = \"\"\n"),
        vec!["admin.toml:2:15: sbc.admin_token: empty; give a secret, or leave the key out"]
    );
}

#[test]
fn default_is_loopback_9090_and_off_turns_it_off() {
    assert_eq!(admin(""), Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(admin("[sbc]\nadmin = \"off\"\n"), None);
    assert_eq!(admin("[sbc]\nadmin = \"\"\n"), None);
    assert_eq!(
        admin("[sbc]\nadmin = \"[::1]:29400\"\n"),
        Some("[::1]:29400".parse().unwrap())
    );
}
