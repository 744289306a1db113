//! Per-trunk admission (issue 9, #3) in the core: "Per trunk: `max_calls` and `max_cps` (0 =
//! unlimited). Above either, a new INVITE gets 503 with Retry-After, and is counted." RFC 3261
//! section 21.5.4 (503 with Retry-After), 20.33 (delta-seconds). handoff documents Retry-After
//! 5 for `max_calls` and 1 for `max_cps`. The 2-shard real-binary test is `attack_trunk_limits.rs`.

use std::sync::Arc;

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, standard_config};

fn sim_with(seed: u64, max_calls: u32, max_cps: u32) -> Sim {
    let mut config = standard_config();
    config.trunks[0].limits.max_calls = max_calls;
    config.trunks[0].limits.max_cps = max_cps;
    Sim::new(
        SimOptions::default()
            .seed(seed)
            .shards(1)
            .config(Arc::new(config)),
    )
}

/// The Retry-After of the carrier's last 503, if it got one.
fn retry_after(sim: &Sim) -> Option<String> {
    let seen = sim
        .ua_ref(CARRIER)
        .responses
        .iter()
        .rfind(|r| r.status == 503)?;
    let text = String::from_utf8_lossy(&seen.bytes).into_owned();
    text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    })
}

#[test]
fn max_calls_refuses_the_call_over_the_limit_with_503_and_retry_after() {
    let mut sim = sim_with(51, 1, 0);
    let first = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).has_request("INVITE"), 2_000));
    let second = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(second, "INVITE").is_some(),
        2_000
    ));
    assert_eq!(
        sim.ua_ref(CARRIER).final_status(second, "INVITE"),
        Some(503)
    );
    assert_eq!(retry_after(&sim).as_deref(), Some("5"));
    assert_eq!(sim.ua_ref(CARRIER).final_status(first, "INVITE"), None);
    let metrics = sim.metrics();
    assert_eq!(
        metrics
            .trunk_limited
            .get(&("carrier".to_string(), "max_calls")),
        Some(&1)
    );
    assert!(
        metrics
            .render_prometheus()
            .contains("handoff_trunk_limit_rejects_total{trunk=\"carrier\",limit=\"max_calls\"} 1")
    );
    assert_eq!(sim.calls_active(), 1);
}

#[test]
fn max_cps_admits_its_rate_per_second_and_refuses_the_rest() {
    let mut sim = sim_with(52, 0, 1);
    let first = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let second = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(second, "INVITE").is_some(),
        500
    ));
    assert_eq!(
        sim.ua_ref(CARRIER).final_status(second, "INVITE"),
        Some(503)
    );
    assert_eq!(retry_after(&sim).as_deref(), Some("1"));
    assert_eq!(sim.ua_ref(CARRIER).final_status(first, "INVITE"), None);
    // After Retry-After, a new second: admitted again.
    sim.run_for(1_000);
    let third = sim
        .ua(CARRIER)
        .invite("+15551230002", Some(offer_sdp("10.0.0.1", 4004)));
    sim.run_for(500);
    assert_eq!(sim.ua_ref(CARRIER).final_status(third, "INVITE"), None);
    assert_eq!(sim.calls_active(), 2);
    assert_eq!(
        sim.metrics()
            .trunk_limited
            .get(&("carrier".to_string(), "max_cps")),
        Some(&1)
    );
}
