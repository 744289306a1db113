//! Issue 11's `/metrics` series against the real binary (epoll, two shards), with the demo's
//! scripted agents: before any transfer every carrier trunk has zero-valued transfer series
//! (kind x method x outcome) and sessions; after a handed-off transfer and one the carrier
//! NOTIFYs sipfrag 486 (local fallback), each series issue 11 lists has the right labels and
//! values: transfers, REFER responses, final NOTIFY codes, the transfer duration histogram,
//! sessions saved, labelled calls, SIP messages by direction and method, RTP packets and drops,
//! the loop turn histogram, audit drops. The exposition is parsed strictly (histograms: `le`
//! labels, cumulative buckets, `+Inf` equal to `_count`), and no ratio gauge is published.
//!
//! Ports 36000..37000 (admin 36900, media 36000..36200), inside the test's private network
//! namespace.

mod admin_support;
mod e2e_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use admin_support::{Sample, parse_exposition, value};
use e2e_support::{BACKENDS, Options, WAIT, netns, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

const ADMIN_PORT: u16 = 36900;

fn get_metrics(addr: SocketAddr) -> String {
    let reply = admin_support::request(addr, "GET", "/metrics", None, None, WAIT);
    assert_eq!(reply.status, 200, "{}", reply.headers);
    reply.body
}

fn transfers(samples: &[Sample], kind: &str, method: &str, outcome: &str) -> Option<f64> {
    value(
        samples,
        "handoff_transfers_total",
        &[
            ("trunk", "carrier-a"),
            ("kind", kind),
            ("method", method),
            ("outcome", outcome),
        ],
    )
}

#[test]
fn issue_11_series_after_real_calls_and_transfers() {
    let io = BACKENDS[1];
    let mut options = Options::new(io, 36000);
    options.media_ports = (36000, 36200);
    let admin = netns::udp_addr(ADMIN_PORT);
    options.admin = Some(admin);
    let mut e2e = start(&options);

    // Before any transfer: zero-valued series for every carrier trunk.
    let text = get_metrics(admin);
    let before = parse_exposition(&text);
    assert!(!text.contains("_ratio"), "no ratio gauge: {text}");
    let outcomes = [
        "handed_off",
        "fallback_local",
        "failed",
        "cancelled",
        "relayed",
        "denied",
    ];
    for trunk in ["carrier-a", "partner"] {
        for (kind, method) in [
            ("blind", "refer"),
            ("blind", "local"),
            ("attended", "refer"),
            ("attended", "local"),
            ("carrier_initiated", "refer"),
        ] {
            for outcome in outcomes {
                let labels = [
                    ("trunk", trunk),
                    ("kind", kind),
                    ("method", method),
                    ("outcome", outcome),
                ];
                assert_eq!(
                    value(&before, "handoff_transfers_total", &labels),
                    Some(0.0),
                    "{labels:?}"
                );
            }
        }
        assert_eq!(
            value(
                &before,
                "handoff_trunk_sessions_saved_total",
                &[("trunk", trunk)]
            ),
            Some(0.0)
        );
    }
    for trunk in ["carrier-a", "platform", "partner"] {
        assert_eq!(
            value(&before, "handoff_trunk_sessions", &[("trunk", trunk)]),
            Some(0.0),
            "{trunk}"
        );
    }
    assert_eq!(
        value(&before, "handoff_transfer_duration_seconds_count", &[]),
        Some(0.0)
    );
    assert_eq!(value(&before, "handoff_calls_active", &[]), Some(0.0));

    // A handed-off transfer, then one the carrier NOTIFYs sipfrag 486 (local fallback).
    for carrier in [CarrierAnswer::HandOff, CarrierAnswer::SipfragFailure(486)] {
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier,
            target: if carrier == CarrierAnswer::HandOff {
                TargetAnswer::NotReached
            } else {
                TargetAnswer::Answer
            },
            early_transferor_bye: false,
        };
        let seen =
            blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{carrier:?}: {e}"));
        assert_eq!(seen.platform_refer_status, Some(202), "{carrier:?}");
    }
    let audit = e2e.transfer_records(2);
    assert_eq!(audit.len(), 2, "{audit:?}");
    let durations_ms: Vec<u64> = audit
        .iter()
        .map(|r| r["duration_ms"].as_u64().unwrap())
        .collect();

    // Snapshots are published every 200 ms: wait for both transfers to show.
    let deadline = Instant::now() + WAIT;
    let samples = loop {
        let samples = parse_exposition(&get_metrics(admin));
        if value(&samples, "handoff_transfer_duration_seconds_count", &[]) == Some(2.0)
            || Instant::now() > deadline
        {
            break samples;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dump = || {
        samples
            .iter()
            .map(|(n, l, v)| format!("{n}{l:?} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Transfers, REFER responses and final NOTIFYs per carrier trunk.
    assert_eq!(
        transfers(&samples, "blind", "refer", "handed_off"),
        Some(1.0)
    );
    assert_eq!(
        transfers(&samples, "blind", "refer", "fallback_local"),
        Some(1.0)
    );
    assert_eq!(transfers(&samples, "blind", "refer", "failed"), Some(0.0));
    assert_eq!(
        value(
            &samples,
            "handoff_refer_responses_total",
            &[("trunk", "carrier-a"), ("code", "202")]
        ),
        Some(2.0),
        "{}",
        dump()
    );
    for code in ["200", "486"] {
        assert_eq!(
            value(
                &samples,
                "handoff_notify_final_total",
                &[("trunk", "carrier-a"), ("code", code)]
            ),
            Some(1.0),
            "{code}: {}",
            dump()
        );
    }
    assert_eq!(
        value(
            &samples,
            "handoff_trunk_sessions_saved_total",
            &[("trunk", "carrier-a")]
        ),
        Some(2.0)
    );

    // The duration histogram holds the audit's two durations, in seconds.
    assert_eq!(
        value(
            &samples,
            "handoff_transfer_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(2.0)
    );
    let sum = value(&samples, "handoff_transfer_duration_seconds_sum", &[]).unwrap();
    let expected = durations_ms.iter().sum::<u64>() as f64 / 1000.0;
    assert!((sum - expected).abs() < 1e-6, "{sum} != {expected}");
    let longest = *durations_ms.iter().max().unwrap() as f64 / 1000.0;
    for (_, labels, count) in samples
        .iter()
        .filter(|(n, _, _)| n == "handoff_transfer_duration_seconds_bucket")
    {
        let le: f64 = match labels["le"].as_str() {
            "+Inf" => f64::INFINITY,
            le => le.parse().unwrap(),
        };
        if le >= longest * 1.01 {
            assert_eq!(*count, 2.0, "le {le}");
        }
    }

    // Calls by trunks and setup status: each transfer began with a call answered 200.
    let answered = value(
        &samples,
        "handoff_calls_total",
        &[
            ("from_trunk", "carrier-a"),
            ("to_trunk", "platform"),
            ("status", "200"),
        ],
    )
    .unwrap_or(0.0);
    assert!(answered >= 2.0, "{}", dump());
    for (_, labels, _) in samples
        .iter()
        .filter(|(n, _, _)| n == "handoff_calls_total")
    {
        let keys: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["from_trunk", "to_trunk", "status"]));
        let status = &labels["status"];
        assert!(
            status == "none" || status.parse::<u16>().is_ok_and(|s| (100..700).contains(&s)),
            "{status}"
        );
    }

    // SIP by direction and method, bounded.
    let sip = |direction: &str, method: &str| {
        value(
            &samples,
            "handoff_sip_messages_total",
            &[("direction", direction), ("method", method)],
        )
        .unwrap_or_else(|| panic!("{direction} {method} missing"))
    };
    assert!(sip("in", "INVITE") >= 2.0);
    assert!(sip("out", "INVITE") >= 2.0);
    assert!(sip("in", "REFER") >= 2.0, "the platform's REFERs");
    assert!(
        sip("out", "REFER") >= 2.0,
        "handoff's REFERs to the carrier"
    );
    assert!(sip("in", "NOTIFY") >= 2.0, "the carrier's NOTIFYs");
    assert!(sip("in", "response") >= 2.0);
    assert!(sip("out", "response") >= 2.0);
    let methods: BTreeSet<&str> = samples
        .iter()
        .filter(|(n, _, _)| n == "handoff_sip_messages_total")
        .map(|(_, l, _)| l["method"].as_str())
        .collect();
    assert_eq!(methods.len(), handoff::metrics::SIP_METHODS.len());

    // RTP: the agents exchange media through the relay.
    let rtp_in = value(
        &samples,
        "handoff_rtp_packets_total",
        &[("direction", "in")],
    )
    .unwrap();
    let rtp_out = value(
        &samples,
        "handoff_rtp_packets_total",
        &[("direction", "out")],
    )
    .unwrap();
    assert!(rtp_in > 0.0 && rtp_out > 0.0, "{rtp_in} {rtp_out}");
    let mut dropped = 0.0;
    for reason in [
        "foreign_source",
        "unlatched_source",
        "malformed",
        "muted",
        "outbox_full",
        "no_peer",
    ] {
        dropped += value(&samples, "handoff_rtp_dropped_total", &[("reason", reason)])
            .unwrap_or_else(|| panic!("{reason} missing"));
    }
    assert!(dropped <= rtp_in, "drops are among the received packets");

    // Loop turns, audit drops, the gauges.
    let turns = value(&samples, "handoff_shard_loop_turn_seconds_count", &[]).unwrap();
    assert!(turns > 0.0);
    assert_eq!(
        value(&samples, "handoff_audit_dropped_total", &[]),
        Some(0.0)
    );
    assert!(value(&samples, "handoff_calls_active", &[]).is_some());
    for family in [
        "handoff_media_packets_relayed_total",
        "handoff_trunk_sessions_in_use",
    ] {
        assert!(
            !samples.iter().any(|(n, _, _)| n == family),
            "{family} was renamed"
        );
    }
    // Base units: nothing in milliseconds.
    assert!(
        !samples.iter().any(|(n, _, _)| n.contains("_ms")),
        "{}",
        dump()
    );
}
