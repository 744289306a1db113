//! Keys left out take documented defaults.

use std::net::IpAddr;

use handoff::config::{
    Config, IoBackend, ReferFailurePolicy, RingbackMode, RingbackTone, SipTimers, TransferMethod,
};

const MINIMAL: &str = r#"
[sbc]
listen = "10.1.2.3:5060"

[[trunk]]
name = "us"
peer = "10.9.9.9:5060"
country_code = "1"

[[trunk]]
name = "uk"
peer = "10.9.9.8:5060"
country_code = "+44"

[[trunk]]
name = "de"
peer = "10.9.9.7:5060"
country_code = "49"

[[route]]
to = "us"
"#;

fn minimal() -> Config {
    match Config::from_toml_str(MINIMAL, "minimal.toml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    }
}

#[test]
fn sbc_defaults() {
    let sbc = minimal().sbc;
    assert_eq!(
        sbc.advertise,
        "10.1.2.3".parse::<IpAddr>().unwrap(),
        "advertise = listen IP"
    );
    assert_eq!(sbc.shards, 0);
    assert!(sbc.cpus.is_empty());
    assert_eq!(sbc.io, IoBackend::Auto);
    assert_eq!(sbc.media_ports, (20000, 40000));
    assert_eq!(sbc.admin, Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(sbc.admin_token, None);
    assert_eq!(sbc.audit, "audit.jsonl");
    assert_eq!(sbc.refer_timeout_ms, 4000);
    assert_eq!(
        sbc.transfer_timeout_s, 120,
        "from the carrier's 2xx to its final NOTIFY (issue 10)"
    );
    assert_eq!(sbc.drain_s, 30);
    // Issue 9, #7: "sbc.media_timeout_s (default 60; 0 = off)", "sbc.hold_timeout_s ...
    // (default 3,600)", "sbc.max_call_s (default 14,400)".
    assert_eq!(sbc.media_timeout_s, 60);
    assert_eq!(sbc.hold_timeout_s, 3_600);
    assert_eq!(sbc.max_call_s, 14_400);
    assert_eq!(
        sbc.timers,
        SipTimers {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000
        }
    );
}

#[test]
fn trunk_defaults() {
    let config = minimal();
    let us = &config.trunks[0];
    assert_eq!(us.transfer, TransferMethod::Refer);
    assert_eq!(us.on_refer_failure, ReferFailurePolicy::Local);
    assert_eq!(us.refer_domain, None);
    assert_eq!(us.codecs, vec!["PCMU".to_owned(), "PCMA".to_owned()]);
    assert_eq!(us.ringback, RingbackMode::Auto);
    assert!(us.headers.is_empty());
    // Issue 9, #3: "max_calls and max_cps (0 = unlimited)": unlimited unless set.
    assert_eq!(us.limits.max_calls, 0);
    assert_eq!(us.limits.max_cps, 0);
    assert_eq!(
        config.trunks[1].country_code, "44",
        "a leading + is dropped"
    );
}

#[test]
fn ringback_tone_defaults_to_the_trunk_country() {
    let config = minimal();
    let tones: Vec<RingbackTone> = config.trunks.iter().map(|t| t.ringback_tone).collect();
    assert_eq!(
        tones,
        vec![RingbackTone::Us, RingbackTone::Uk, RingbackTone::Eu]
    );
}

#[test]
fn route_defaults_match_every_number_from_any_trunk() {
    let route = &minimal().routes[0];
    assert_eq!(route.from, None);
    assert_eq!(route.prefix, "");
    assert_eq!(route.to, 0);
}

#[test]
fn empty_file_is_a_valid_config_on_loopback() {
    let config = Config::from_toml_str("", "empty.toml").expect("all keys have defaults");
    assert_eq!(config.sbc.listen.to_string(), "127.0.0.1:5060");
    assert!(config.trunks.is_empty());
}

#[test]
fn resolved_shard_count() {
    let mut config = minimal();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        config.resolved_shard_count(),
        cpus,
        "0 = one per available CPU"
    );
    config.sbc.cpus = vec![4, 5, 6];
    assert_eq!(
        config.resolved_shard_count(),
        3,
        "0 with cpus = one per listed cpu"
    );
    config.sbc.shards = 2;
    config.sbc.cpus = vec![];
    assert_eq!(config.resolved_shard_count(), 2);
}

#[test]
fn trunk_lookup_by_name_and_source() {
    let config = minimal();
    assert_eq!(config.trunk_by_name("uk"), Some(1));
    assert_eq!(config.trunk_by_name("fr"), None);
    assert_eq!(
        config.trunk_by_source("10.9.9.7:5060".parse().unwrap()),
        Some(2)
    );
    assert_eq!(
        config.trunk_by_source("10.9.9.7:5061".parse().unwrap()),
        None
    );
}

#[test]
fn transfer_timeout_zero_turns_the_bound_off() {
    let text = MINIMAL.replace(
        "listen = \"10.1.2.3:5060\"",
        "listen = \"10.1.2.3:5060\"\ntransfer_timeout_s = 0",
    );
    let config = match Config::from_toml_str(&text, "off.toml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.sbc.transfer_timeout_s, 0);
    let settings = handoff::transfer::TransferSettings::for_call(&config.trunks[0], &config.sbc);
    assert_eq!(settings.transfer_timeout_ms, 0);
    assert_eq!(settings.refer_timeout_ms, 4000);
    assert_eq!(settings.handoff_bye_after_ms, 2_000);
    assert_eq!(settings.late_notify_grace_ms, 16 * 500);
    // Unbounded: the platform's subscription is announced for an hour at a time.
    assert_eq!(settings.subscription_expires_s(), 3_600);
}

/// Issue 10: a carrier trunk's own `transfer_timeout_s` / `handoff_bye_after_ms` override the
/// `[sbc]` ones; a platform trunk's `refer_response` is 202 unless it says 200 (RFC 7647
/// section 5); the Subscription-State `expires` is at least the transfer timeout.
#[test]
fn trunk_timing_keys_override_the_sbc_ones() {
    let defaults = minimal();
    assert_eq!(defaults.sbc.handoff_bye_after_ms, 2_000);
    assert_eq!(defaults.trunks[0].transfer_timeout_s, None);
    assert_eq!(defaults.trunks[0].handoff_bye_after_ms, None);
    assert_eq!(
        defaults.trunks[0].refer_response,
        handoff::vocab::StatusCode::ACCEPTED
    );
    let settings =
        handoff::transfer::TransferSettings::for_call(&defaults.trunks[0], &defaults.sbc);
    assert_eq!(settings.transfer_timeout_ms, 120_000);
    assert_eq!(settings.subscription_expires_s(), 120);
    let text = MINIMAL.replace(
        "country_code = \"1\"",
        "country_code = \"1\"\ntransfer_timeout_s = 300\nhandoff_bye_after_ms = 500\nrefer_response = 200",
    );
    let config = match Config::from_toml_str(&text, "trunk.toml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let us = &config.trunks[0];
    assert_eq!(us.transfer_timeout_s, Some(300));
    assert_eq!(us.handoff_bye_after_ms, Some(500));
    assert_eq!(us.refer_response, handoff::vocab::StatusCode::OK);
    let settings = handoff::transfer::TransferSettings::for_call(us, &config.sbc);
    assert_eq!(settings.transfer_timeout_ms, 300_000);
    assert_eq!(settings.handoff_bye_after_ms, 500);
    assert_eq!(settings.subscription_expires_s(), 300);
    let bad = MINIMAL.replace(
        "country_code = \"1\"",
        "country_code = \"1\"\nrefer_response = 201",
    );
    let errors = Config::from_toml_str(&bad, "bad.toml")
        .err()
        .map(|e| e.to_string());
    assert!(
        errors
            .as_deref()
            .is_some_and(|e| e.contains("refer_response: 201 is not 200 or 202")),
        "{errors:?}"
    );
}
