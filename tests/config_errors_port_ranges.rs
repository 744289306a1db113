//! The media port range must be a non-empty [start, end) of whole RTP/RTCP pairs, large enough
//! for the shards, and clear of the SIP port.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "ports.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn empty_range() {
    assert_eq!(
        errors("[sbc]\nmedia_ports = [30000, 30000]\n"),
        vec![
            "ports.toml:2:15: sbc.media_ports: range [30000, 30000) is empty; start must be below end"
        ]
    );
    assert_eq!(
        errors("[sbc]\nmedia_ports = [40000, 20000]\n"),
        vec![
            "ports.toml:2:15: sbc.media_ports: range [40000, 20000) is empty; start must be below end"
        ]
    );
}

#[test]
fn odd_start() {
    assert_eq!(
        errors("[sbc]\nmedia_ports = [20001, 30000]\n"),
        vec![
            "ports.toml:2:16: sbc.media_ports: start 20001 is odd; RTP uses even ports and RTCP the next odd one"
        ]
    );
}

#[test]
fn not_a_pair_of_ports() {
    assert_eq!(
        errors("[sbc]\nmedia_ports = [20000]\n"),
        vec!["ports.toml:2:15: sbc.media_ports: expected [start, end], got 1 values"]
    );
    assert_eq!(
        errors("[sbc]\nmedia_ports = [20000, 70000]\n"),
        vec!["ports.toml:2:23: sbc.media_ports: 70000 is not a UDP port (1..=65535)"]
    );
}

#[test]
fn too_small_for_the_shards() {
    assert_eq!(
        errors("[sbc]\nshards = 4\nmedia_ports = [20000, 20006]\n"),
        vec![
            "ports.toml:3:15: sbc.media_ports: [20000, 20006) holds 3 RTP/RTCP pairs, fewer than the 4 shards"
        ]
    );
}

#[test]
fn overlapping_the_sip_port() {
    assert_eq!(
        errors("[sbc]\nlisten = \"127.0.0.1:20010\"\nmedia_ports = [20000, 21000]\n"),
        vec![
            "ports.toml:3:15: sbc.media_ports: [20000, 21000) contains the SIP port 20010 of sbc.listen"
        ]
    );
    assert_eq!(
        errors("[sbc]\nlisten = \"127.0.0.1:30000\"\n"),
        vec![
            "ports.toml:2:10: sbc.listen: port 30000 lies in the default media_ports [20000, 40000)"
        ]
    );
}
