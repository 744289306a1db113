//! A trunk's `sources` (ip, ip:port or CIDR) say who may speak for it; one address may belong to
//! one trunk only, and bad entries and roles are reported at their place.

use handoff::config::{CarrierReferPolicy, Config, TrunkRole};

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "sources.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_cidr_that_holds_another_trunks_peer() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"b\"\npeer = \"10.0.1.1:5060\"\nsources = [\"10.0.0.0/16\"]\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "sources.toml:9:11: trunk \"b\": source 10.0.0.0/16 overlaps trunk \"a\"'s source 10.0.0.1:5060 (defined on line 2); a source must belong to one trunk"
        ]
    );
}

#[test]
fn a_bare_ip_shared_by_two_trunks() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\nsources = [\"10.0.0.1\"]\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"b\"\npeer = \"10.0.0.1:5070\"\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "sources.toml:9:8: trunk \"b\": source 10.0.0.1:5070 overlaps trunk \"a\"'s source 10.0.0.1 (defined on line 2); a source must belong to one trunk"
        ]
    );
}

#[test]
fn unreadable_sources_and_roles_are_located() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\nsources = [\"carrier.example\", \"10.0.0.0/40\"]\nrole = \"pstn\"\ncarrier_refer = \"accept\"\ncountry_code = \"1\"\n";
    assert_eq!(
        errors(text),
        vec![
            "sources.toml:4:12: trunk \"a\": sources: \"carrier.example\" is not an IP, ip:port or CIDR (e.g. \"192.0.2.10\", \"192.0.2.10:5060\", \"192.0.2.0/24\")",
            "sources.toml:4:31: trunk \"a\": sources: \"10.0.0.0/40\": prefix length 40 is longer than the address (32 bits)",
            "sources.toml:5:8: trunk \"a\": role: \"pstn\" is not one of \"carrier\", \"platform\"",
            "sources.toml:6:17: trunk \"a\": carrier_refer: \"accept\" is not one of \"reject\", \"relay\"",
        ]
    );
}

#[test]
fn disjoint_sources_are_accepted_and_matched() {
    let text = "[[trunk]]\nname = \"carrier\"\npeer = \"198.51.100.20:5060\"\nsources = [\"198.51.100.20\", \"198.51.100.64/28\"]\ncarrier_refer = \"relay\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"platform\"\nrole = \"platform\"\npeer = \"10.0.0.50:5060\"\ncountry_code = \"1\"\n";
    let config = Config::from_toml_str(text, "sources.toml").expect("valid");
    let at = |s: &str| config.trunk_by_source(s.parse().expect("literal"));
    assert_eq!(at("198.51.100.20:40123"), Some(0), "health checker port");
    assert_eq!(at("198.51.100.77:5060"), Some(0), "second signalling IP");
    assert_eq!(at("198.51.100.80:5060"), None, "outside the /28");
    assert_eq!(at("10.0.0.50:5060"), Some(1));
    assert_eq!(
        at("10.0.0.50:5061"),
        None,
        "the default is the peer exactly"
    );
    assert_eq!(config.trunks[0].role, TrunkRole::Carrier, "default role");
    assert_eq!(config.trunks[0].carrier_refer, CarrierReferPolicy::Relay);
    assert_eq!(config.trunks[1].role, TrunkRole::Platform);
    assert_eq!(config.trunks[1].carrier_refer, CarrierReferPolicy::Reject);
    assert!(config.warnings().is_empty());
}
