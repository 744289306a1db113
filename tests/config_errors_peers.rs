//! A trunk peer must not be handoff itself, and two trunks cannot share a peer (requests are
//! assigned to trunks by source address).

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "peers.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn peer_equal_to_listen() {
    let text = "[sbc]\nlisten = \"127.0.0.1:5060\"\n\n[[trunk]]\nname = \"self\"\npeer = \"127.0.0.1:5060\"\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "peers.toml:6:8: trunk \"self\": peer 127.0.0.1:5060 is handoff's own SIP address; calls would loop"
        ]
    );
}

#[test]
fn peer_equal_to_advertised_address() {
    let text = "[sbc]\nlisten = \"0.0.0.0:5060\"\nadvertise = \"192.0.2.10\"\n\n[[trunk]]\nname = \"self\"\npeer = \"192.0.2.10:5060\"\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "peers.toml:7:8: trunk \"self\": peer 192.0.2.10:5060 is handoff's own SIP address; calls would loop"
        ]
    );
}

#[test]
fn two_trunks_with_one_peer() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"b\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "peers.toml:8:8: trunk \"b\": peer 10.0.0.1:5060 is also trunk \"a\"'s peer; requests from it could not be told apart"
        ]
    );
}
