//! The shipped configs are valid: the embedded default and the commented contact-center example.

use std::net::SocketAddr;

use handoff::config::{Config, DEFAULT_CONFIG, IoBackend, TransferMethod};

#[test]
fn embedded_default_validates_with_two_loopback_trunks() {
    let config = match Config::from_toml_str(DEFAULT_CONFIG, "default.toml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(
        config.sbc.listen,
        "127.0.0.1:5060".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.sbc.audit, "audit.jsonl");
    assert_eq!(config.sbc.refer_timeout_ms, 4000);
    assert_eq!(config.sbc.transfer_timeout_s, 120);
    let carrier = config.trunk_by_name("carrier").expect("carrier trunk");
    let platform = config.trunk_by_name("platform").expect("platform trunk");
    assert_eq!(
        config.trunks[carrier].peer,
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.trunks[platform].peer,
        "127.0.0.1:5080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.routes.len(), 2);
    assert_eq!(
        (config.routes[0].from, config.routes[0].to),
        (Some(carrier), platform)
    );
    assert_eq!(
        (config.routes[1].from, config.routes[1].to),
        (Some(platform), carrier)
    );
    assert_eq!(Config::embedded_default(), config);
}

#[test]
fn contact_center_example_validates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/contact-center.toml");
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(config.trunks.len(), 3);
    assert_eq!(config.routes.len(), 5);
    assert_eq!(config.sbc.io, IoBackend::Auto);
    // Runnable as shipped on any host (issue 11): one shard per CPU, none pinned, the audit file
    // in the working directory.
    assert_eq!(config.sbc.shards, 0);
    assert_eq!(config.sbc.transfer_timeout_s, 120);
    assert!(config.sbc.cpus.is_empty());
    assert_eq!(config.sbc.audit, "audit.jsonl");
    let carrier_b = config.trunk_by_name("carrier-b").expect("carrier-b");
    assert_eq!(config.trunks[carrier_b].transfer, TransferMethod::Local);
    assert_eq!(config.trunks[carrier_b].country_code, "44");
    let carrier_a = config.trunk_by_name("carrier-a").expect("carrier-a");
    assert_eq!(
        config.trunks[carrier_a]
            .headers
            .get("X-Transfer-Auth")
            .map(String::as_str),
        Some("change-me")
    );
    assert_eq!(config.routes[3].prefix, "44");
    // Issue 10: transfers to desk phones at the platform's PBX, by domain.
    assert_eq!(
        config.routes[0].domain.as_deref(),
        Some("pbx.contact-center.example")
    );
    assert!(config.trunks[carrier_a].conversation_header);
}
