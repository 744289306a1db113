//! The flood limiter (`sbc.source_limit`, issue 9 protection 3), driven with virtual time.
//! Expectations from the issue text: "Per source IP: `sbc.source_limit = { pps = 200, ban_s = 60 }`.
//! A token bucket; a source over its limit is dropped for `ban_s` (Kamailio's pike). Trunk peers
//! are limited too, by a higher per-trunk budget", and "every map keyed by network input is
//! bounded, and the bound is documented".

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use handoff::config::Config;
use handoff::core::Time;
use handoff::core::flood::{Admission, MAX_TRACKED_SOURCES, SourceLimiter};

fn config(limit: &str) -> Arc<Config> {
    let text = format!(
        "[sbc]\nunknown_source = \"reject\"\n[sbc.source_limit]\n{limit}\n\
         [[trunk]]\nname = \"carrier\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\
         sources = [\"10.0.0.0/24\"]\n"
    );
    Arc::new(Config::from_toml_str(&text, "flood.toml").expect("valid config"))
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn at_ms(ms: u64) -> Time {
    Time::from_millis(ms)
}

#[test]
fn a_burst_gets_one_second_of_budget_then_the_source_is_banned_for_ban_s() {
    let config = config("pps = 20\nban_s = 60");
    let mut limiter = SourceLimiter::default();
    let admitted = (0..20)
        .filter(|_| limiter.admit(at_ms(1), ip(7), None, &config) == Admission::Admitted)
        .count();
    assert_eq!(admitted, 20, "a full bucket holds pps tokens");
    assert_eq!(
        limiter.admit(at_ms(1), ip(7), None, &config),
        Admission::Banned { ban_s: 60 }
    );
    // Banned: even after the bucket would have refilled, until ban_s has passed.
    for ms in [2, 1_000, 30_000, 60_000] {
        assert_eq!(
            limiter.admit(at_ms(ms), ip(7), None, &config),
            Admission::Dropped,
            "at {ms} ms"
        );
    }
    assert_eq!(
        limiter.admit(at_ms(60_002), ip(7), None, &config),
        Admission::Admitted,
        "the ban is over: a full bucket again"
    );
    // Another source was never affected.
    assert_eq!(
        limiter.admit(at_ms(2), ip(8), None, &config),
        Admission::Admitted
    );
}

#[test]
fn a_source_within_its_rate_is_never_dropped() {
    let config = config("pps = 10\nban_s = 60");
    let mut limiter = SourceLimiter::default();
    // 10 per second, one every 100 ms, for a minute; then a burst of the tokens saved meanwhile.
    for n in 0..600u64 {
        assert_eq!(
            limiter.admit(at_ms(n * 100), ip(9), None, &config),
            Admission::Admitted,
            "datagram {n}"
        );
    }
}

#[test]
fn a_trunk_has_one_budget_for_all_its_sources() {
    let config = config("trunk_pps = 50\nban_s = 5");
    let mut limiter = SourceLimiter::default();
    let carrier = |last: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
    let admitted = (0..50u8)
        .filter(|n| {
            limiter.admit(at_ms(1), carrier(n % 5 + 1), Some(0), &config) == Admission::Admitted
        })
        .count();
    assert_eq!(admitted, 50, "five addresses share the trunk's 50");
    assert_eq!(
        limiter.admit(at_ms(1), carrier(9), Some(0), &config),
        Admission::Banned { ban_s: 5 }
    );
    assert_eq!(
        limiter.admit(at_ms(5_002), carrier(1), Some(0), &config),
        Admission::Admitted
    );
}

#[test]
fn zero_means_no_limit() {
    let config = config("pps = 0\ntrunk_pps = 0");
    let mut limiter = SourceLimiter::default();
    for _ in 0..10_000 {
        assert_eq!(
            limiter.admit(at_ms(1), ip(1), None, &config),
            Admission::Admitted
        );
        assert_eq!(
            limiter.admit(at_ms(1), ip(2), Some(0), &config),
            Admission::Admitted
        );
    }
    assert_eq!(limiter.tracked_sources(), 0, "no state without a limit");
}

#[test]
fn a_spoofed_flood_from_many_addresses_stays_within_the_documented_bound() {
    let config = config("pps = 5\nban_s = 60");
    let mut limiter = SourceLimiter::default();
    let spoofed = |n: u32| IpAddr::V4(Ipv4Addr::from(0x0A01_0000 + n));
    let total = MAX_TRACKED_SOURCES as u32 * 3;
    for n in 0..total {
        limiter.admit(at_ms(1), spoofed(n), None, &config);
        assert!(limiter.tracked_sources() <= MAX_TRACKED_SOURCES);
    }
    assert_eq!(limiter.tracked_sources(), MAX_TRACKED_SOURCES);
    // While every entry is fresh, a new source is dropped rather than growing the table.
    assert_eq!(
        limiter.admit(at_ms(2), ip(200), None, &config),
        Admission::Dropped
    );
    // Idle entries (a second without traffic: their buckets are full again) make room.
    assert_eq!(
        limiter.admit(at_ms(1_500), ip(200), None, &config),
        Admission::Admitted
    );
    assert!(limiter.tracked_sources() <= MAX_TRACKED_SOURCES);
}
