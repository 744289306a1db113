//! A trunk's `media_networks` (strict media sources, issue 9): a list of CIDRs or bare IPs; an
//! entry that is neither, or whose prefix is longer than its address, is reported at its place
//! (file:line:col), like every other key.

use handoff::config::Config;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, "media.toml") {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn unreadable_media_networks_are_located() {
    let text = "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\nmedia_networks = [\"media.example\", \"10.0.0.0/33\", \"10.0.0.1:4000\", \"2001:db8::/129\"]\n";
    assert_eq!(
        errors(text),
        vec![
            "media.toml:5:19: trunk \"a\": media_networks: \"media.example\" is not an IP network (e.g. \"192.0.2.0/24\", \"2001:db8::/32\", or a bare IP)",
            "media.toml:5:36: trunk \"a\": media_networks: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            "media.toml:5:51: trunk \"a\": media_networks: \"10.0.0.1:4000\" is not an IP network (e.g. \"192.0.2.0/24\", \"2001:db8::/32\", or a bare IP)",
            "media.toml:5:68: trunk \"a\": media_networks: \"2001:db8::/129\": the prefix length must be 0 to 128",
        ]
    );
}

#[test]
fn media_networks_are_read_and_default_to_none() {
    let text = "[[trunk]]\nname = \"carrier\"\npeer = \"198.51.100.20:5060\"\ncountry_code = \"1\"\nmedia_networks = [\"203.0.113.0/24\", \"2001:db8::/32\", \"192.0.2.7\"]\n\n[[trunk]]\nname = \"platform\"\nrole = \"platform\"\npeer = \"10.0.0.50:5060\"\ncountry_code = \"1\"\n";
    let config = Config::from_toml_str(text, "media.toml").expect("valid");
    let carrier = config.trunks[0].media_sources();
    let trusts = |s: &str| carrier.trusts(s.parse().expect("literal"));
    assert!(trusts("203.0.113.200"));
    assert!(trusts("2001:db8::5"));
    assert!(trusts("192.0.2.7"));
    assert!(trusts("198.51.100.20"), "the peer IP");
    assert!(!trusts("192.0.2.8"), "a bare IP is that address only");
    assert!(!trusts("203.0.114.1"));
    let platform = config.trunks[1].media_sources();
    assert!(platform.networks.is_empty(), "default: no networks");
    assert!(platform.trusts("10.0.0.50".parse().expect("literal")));
    assert!(!platform.trusts("10.0.0.51".parse().expect("literal")));
}
