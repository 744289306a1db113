//! Bad values are reported at the value, with the key and what would be accepted.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "values.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn trunk_with(line: &str) -> String {
    format!("[[trunk]]\nname = \"a\"\npeer = \"127.0.0.1:5070\"\ncountry_code = \"1\"\n{line}\n")
}

#[test]
fn bad_socket_addresses() {
    let text = "[sbc]\nlisten = \"127.0.0.1\"\nadmin = \"localhost:9090\"\n";
    assert_eq!(
        errors(text),
        vec![
            "values.toml:2:10: sbc.listen: \"127.0.0.1\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")",
            "values.toml:3:9: sbc.admin: \"localhost:9090\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")",
        ]
    );
    assert_eq!(
        errors("[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:0\"\ncountry_code = \"1\"\n"),
        vec!["values.toml:3:8: trunk \"a\": peer: port 0 is not a usable port"]
    );
}

#[test]
fn wildcard_listen_needs_advertise() {
    assert_eq!(
        errors("[sbc]\nlisten = \"0.0.0.0:5060\"\n"),
        vec![
            "values.toml:2:10: sbc.listen: 0.0.0.0 is a wildcard address, so sbc.advertise must name the address peers should send to"
        ]
    );
    assert_eq!(
        errors("[sbc]\nadvertise = \"::\"\n"),
        vec![
            "values.toml:2:13: sbc.advertise: :: is a wildcard address; give the address peers should send to"
        ]
    );
}

#[test]
fn bad_enum_values() {
    assert_eq!(
        errors("[sbc]\nio = \"iouring\"\n"),
        vec!["values.toml:2:6: sbc.io: \"iouring\" is not one of \"auto\", \"uring\", \"epoll\""]
    );
    assert_eq!(
        errors(&trunk_with("transfer = \"invite\"")),
        vec![
            "values.toml:5:12: trunk \"a\": transfer: \"invite\" is not one of \"refer\", \"local\""
        ]
    );
    assert_eq!(
        errors(&trunk_with("on_refer_failure = \"drop\"")),
        vec![
            "values.toml:5:20: trunk \"a\": on_refer_failure: \"drop\" is not one of \"local\", \"reject\""
        ]
    );
    assert_eq!(
        errors(&trunk_with("ringback = \"on\"")),
        vec![
            "values.toml:5:12: trunk \"a\": ringback: \"on\" is not one of \"auto\", \"local\", \"off\""
        ]
    );
    assert_eq!(
        errors(&trunk_with("ringback_tone = \"fr\"")),
        vec![
            "values.toml:5:17: trunk \"a\": ringback_tone: \"fr\" is not one of \"us\", \"uk\", \"eu\""
        ]
    );
}

#[test]
fn codecs() {
    assert_eq!(
        errors(&trunk_with("codecs = [\"PCMU\", \"G.729\", \"pcmu\"]")),
        vec![
            "values.toml:5:19: trunk \"a\": codecs: unknown codec \"G.729\" (known: PCMU, PCMA, G722, G729, GSM, iLBC, opus, AMR, AMR-WB, telephone-event)",
            "values.toml:5:28: trunk \"a\": codecs: PCMU is listed twice",
        ]
    );
    assert_eq!(
        errors(&trunk_with("codecs = []")),
        vec!["values.toml:5:10: trunk \"a\": codecs: empty; list at least PCMU or PCMA"]
    );
    assert_eq!(
        errors(&trunk_with("codecs = [\"G729\", \"opus\"]")),
        vec![
            "values.toml:5:10: trunk \"a\": codecs: must include PCMU or PCMA, because transfers re-negotiate to G.711"
        ]
    );
}

#[test]
fn country_code_and_refer_domain() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"127.0.0.1:5070\"\ncountry_code = \"01\"\nrefer_domain = \"bad domain\"\n";
    assert_eq!(
        errors(text),
        vec![
            "values.toml:4:16: trunk \"a\": country_code: \"01\" is not an E.164 country code (1 to 3 digits, no leading 0, e.g. \"1\" or \"44\")",
            "values.toml:5:16: trunk \"a\": refer_domain: \"bad domain\" is not a host name or IP address",
        ]
    );
}

#[test]
fn extra_headers() {
    let text = trunk_with(
        "headers = { \"Call-ID\" = \"x\", \"X Bad\" = \"y\", \"X-Ok\" = \"line\\r\\nbreak\" }",
    );
    assert_eq!(
        errors(&text),
        vec![
            "values.toml:5:13: trunk \"a\": headers: Call-ID is set by handoff itself and cannot be overridden",
            "values.toml:5:30: trunk \"a\": headers: \"X Bad\" is not a valid SIP header name",
            "values.toml:5:54: trunk \"a\": headers: value of X-Ok contains a line break or NUL",
        ]
    );
}

#[test]
fn numbers_out_of_range() {
    let text = "[sbc]\nshards = -1\nrefer_timeout_ms = 0\ndrain_s = -5\ntransfer_timeout_s = -1\n[sbc.timers]\nt1_ms = 0\n";
    assert_eq!(
        errors(text),
        vec![
            "values.toml:2:10: sbc.shards: -1 is out of range (0 = one per CPU, at most 1024)",
            "values.toml:3:20: sbc.refer_timeout_ms: 0 is out of range (100..=600000)",
            "values.toml:4:11: sbc.drain_s: -5 is out of range (0..=86400)",
            "values.toml:5:22: sbc.transfer_timeout_s: -1 is out of range (0..=86400)",
            "values.toml:7:9: sbc.timers.t1_ms: 0 is out of range (1..=60000)",
        ]
    );
}

#[test]
fn timer_t2_below_t1() {
    assert_eq!(
        errors("[sbc.timers]\nt1_ms = 800\nt2_ms = 600\n"),
        vec![
            "values.toml:3:9: sbc.timers: t2_ms (600) must not be below t1_ms (800); T2 caps the retransmit interval that starts at T1"
        ]
    );
}

#[test]
fn empty_audit_path() {
    assert_eq!(
        errors("[sbc]\naudit = \" \"\n"),
        vec!["values.toml:2:9: sbc.audit: empty; give a file path or \"-\" for stdout"]
    );
}

#[test]
fn transfer_policy_prefixes_and_unknown_source() {
    assert_eq!(
        errors(&trunk_with(
            "transfer_deny = [\"+1900\", \"1976\", \"+19x\"]"
        )),
        vec![
            "values.toml:5:27: trunk \"a\": transfer_deny: \"1976\" is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+1900\")",
            "values.toml:5:35: trunk \"a\": transfer_deny: \"+19x\" is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+1900\")",
        ]
    );
    assert_eq!(
        errors(&trunk_with("transfer_allow = [\"+\"]")),
        vec![
            "values.toml:5:19: trunk \"a\": transfer_allow: \"+\" is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+1900\")"
        ]
    );
    assert_eq!(
        errors("[sbc]\nunknown_source = \"ignore\"\n"),
        vec!["values.toml:2:18: sbc.unknown_source: \"ignore\" is not one of \"drop\", \"reject\""]
    );
}

#[test]
fn max_message_bytes_range() {
    assert_eq!(
        errors("[sbc]\nmax_message_bytes = 100\n"),
        vec!["values.toml:2:21: sbc.max_message_bytes: 100 is out of range (1300..=65535)"]
    );
}

#[test]
fn source_limit_values_and_keys() {
    assert_eq!(
        errors("[sbc.source_limit]\npps = -1\nban_s = 100000\ntrunk_pps = 20000000\n"),
        vec![
            "values.toml:2:7: sbc.source_limit.pps: -1 is out of range (0..=1000000)",
            "values.toml:3:9: sbc.source_limit.ban_s: 100000 is out of range (0..=86400)",
            "values.toml:4:13: sbc.source_limit.trunk_pps: 20000000 is out of range (0..=10000000)",
        ]
    );
    let unknown = errors("[sbc]\nsource_limit = { pps = 10, bans = 5 }\n");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with("values.toml:2:")
            && unknown[0].contains("unknown key `bans` in [sbc.source_limit]"),
        "{unknown:?}"
    );
}

#[test]
fn session_liveness_and_trunk_limits_out_of_range() {
    assert_eq!(
        errors("[sbc]\nmedia_timeout_s = -1\nhold_timeout_s = 700000\nmax_call_s = -5\n"),
        vec![
            "values.toml:2:19: sbc.media_timeout_s: -1 is out of range (0..=86400)",
            "values.toml:3:18: sbc.hold_timeout_s: 700000 is out of range (0..=604800)",
            "values.toml:4:14: sbc.max_call_s: -5 is out of range (0..=604800)",
        ]
    );
    assert_eq!(
        errors(&trunk_with("max_calls = -1\nmax_cps = 2000000")),
        vec![
            "values.toml:5:13: trunk \"a\": max_calls: -1 is out of range (0..=1000000)",
            "values.toml:6:11: trunk \"a\": max_cps: 2000000 is out of range (0..=1000000)",
        ]
    );
}
