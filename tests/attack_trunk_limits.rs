//! Attack, against the real binary on both backends, with 2 shards: a trunk that floods handoff
//! with INVITEs (a dialer gone wrong, a toll-fraud burst) must not take more than its share of the
//! box. The issue (9, #3): "Per trunk: `max_calls` and `max_cps` (0 = unlimited). Above either, a
//! new INVITE gets 503 with Retry-After, and is counted." RFC 3261 section 21.5.4: 503 "The server
//! MAY indicate when the client should retry the request in a Retry-After header field"; section
//! 20.33: its value is delta-seconds. handoff documents 5 s for `max_calls` and 1 s for `max_cps`.
//!
//! Shards share nothing: each enforces a share of the limit (`limit / shards`, the remainder to
//! the first shards), so the sum over shards is the limit and it holds across shards. A new call
//! belongs to the shard its Call-ID hashes to (`owner_of_datagram`, documented in
//! ARCHITECTURE.md), which is how this test puts INVITEs on both shards.

mod runtime_support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use handoff::core::ShardId;
use handoff::core::ids::owner_of_datagram;
use runtime_support::ua::{Msg, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, Setup, WAIT, setup};

const SHARDS: u16 = 2;

/// `setup` with 2 shards and `limits` added to the carrier trunk.
fn setup_with(io: &str, media: u16, limits: &str) -> Setup {
    let s = setup(io, media, usize::from(SHARDS), 30);
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    let text = text.replacen(
        "name = \"carrier\"\n",
        &format!("name = \"carrier\"\n{limits}\n"),
        1,
    );
    std::fs::write(&s.config_path, text).unwrap();
    s
}

fn invite(s: &Setup, call_id: &str) -> String {
    let carrier = s.carrier.local_addr().unwrap();
    request(
        "INVITE",
        carrier,
        s.sip,
        "+15550001111",
        call_id,
        "atag",
        1,
        &sdp(40000),
    )
}

/// `count` Call-IDs owned by each shard, prefixed `prefix`.
fn call_ids_per_shard(s: &Setup, prefix: &str, count: usize) -> Vec<Vec<String>> {
    let mut per_shard = vec![Vec::new(); usize::from(SHARDS)];
    for n in 0.. {
        if per_shard.iter().all(|ids: &Vec<String>| ids.len() == count) {
            break;
        }
        let id = format!("{prefix}-{n}");
        let ShardId(owner) = owner_of_datagram(invite(s, &id).as_bytes(), SHARDS);
        let ids = &mut per_shard[usize::from(owner)];
        if ids.len() < count {
            ids.push(id);
        }
    }
    per_shard
}

/// What became of the INVITEs: Call-IDs refused with 503 (with their Retry-After), and leg-B
/// INVITEs that reached the platform (by their own Call-ID). Reads until `total` are accounted
/// for (each INVITE is either relayed or refused).
struct Outcomes {
    refused: Vec<(String, Option<String>)>,
    relayed: Vec<Msg>,
}

/// Call-IDs in `known` (retransmissions of earlier outcomes) are skipped.
fn collect(
    carrier: &UdpSocket,
    platform: &UdpSocket,
    total: usize,
    known: &BTreeSet<String>,
) -> Outcomes {
    let mut out = Outcomes {
        refused: Vec::new(),
        relayed: Vec::new(),
    };
    let mut seen_refused = BTreeSet::new();
    let mut seen_relayed = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    let mut buf = vec![0u8; 65536];
    while out.refused.len() + out.relayed.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} refused and {} relayed of {total}",
            out.refused.len(),
            out.relayed.len()
        );
        for socket in [carrier, platform] {
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let Ok((n, _)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Some(m) = Msg::parse(&buf[..n]) else {
                continue;
            };
            let call_id = m.header("call-id").unwrap_or_default().to_owned();
            if known.contains(&call_id) {
                continue;
            }
            if m.status() == Some(503) && seen_refused.insert(call_id.clone()) {
                let retry = m.header("retry-after").map(str::to_owned);
                out.refused.push((call_id, retry));
            } else if m.method() == Some("INVITE") && seen_relayed.insert(call_id) {
                out.relayed.push(m);
            } else if let Some(status) = m.status() {
                assert!(status < 300, "unexpected {}", m.first_line);
            }
        }
    }
    out
}

#[test]
fn max_calls_holds_across_two_shards_and_frees_up_when_a_call_ends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with(io, 26400 + i as u16 * 100, "max_calls = 2");
        let mut handoff = Handoff::start(&s.config_path);
        // Three INVITEs toward each shard: each shard admits its share (1), so 2 calls in all.
        let ids = call_ids_per_shard(&s, &format!("limit-{io}"), 4);
        for shard_ids in &ids {
            for id in &shard_ids[..3] {
                s.carrier.send_to(invite(&s, id).as_bytes(), s.sip).unwrap();
            }
        }
        let out = collect(&s.carrier, &s.platform, 6, &BTreeSet::new());
        assert_eq!(
            out.relayed.len(),
            2,
            "{io}: calls admitted over max_calls = 2"
        );
        assert_eq!(out.refused.len(), 4, "{io}");
        for (call_id, retry) in &out.refused {
            assert_eq!(retry.as_deref(), Some("5"), "{io}: {call_id}: Retry-After");
        }
        handoff.wait_for_log("request rejected by a trunk limit", WAIT);

        // The platform refuses one of the two calls: its trunk session frees up, and a new
        // INVITE on that call's shard is admitted again.
        let platform = s.platform.local_addr().unwrap();
        let busy = &out.relayed[0];
        s.platform
            .send_to(
                response(busy, 486, "Busy Here", "b486", platform, "").as_bytes(),
                s.sip,
            )
            .unwrap();
        // Which shard owned the refused call: the carrier's Call-ID that got the 486.
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + WAIT;
        let freed = loop {
            assert!(
                Instant::now() < deadline,
                "{io}: no 486 relayed to the carrier"
            );
            s.carrier
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            if let Ok((n, _)) = s.carrier.recv_from(&mut buf)
                && let Some(m) = Msg::parse(&buf[..n])
                && m.status() == Some(486)
            {
                break m.header("call-id").unwrap().to_owned();
            }
        };
        let shard = ids.iter().position(|list| list.contains(&freed)).unwrap();
        s.carrier
            .send_to(invite(&s, &ids[shard][3]).as_bytes(), s.sip)
            .unwrap();
        let mut known: BTreeSet<String> = out.refused.iter().map(|(id, _)| id.clone()).collect();
        known.extend(
            out.relayed
                .iter()
                .map(|m| m.header("call-id").unwrap_or_default().to_owned()),
        );
        let again = collect(&s.carrier, &s.platform, 1, &known);
        assert_eq!(again.relayed.len(), 1, "{io}: a freed share admits again");

        // Counted, in the audit: one `request_rejected` record per refused INVITE.
        let deadline = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
            let records = text
                .lines()
                .filter(|l| l.contains("\"request_rejected\"") && l.contains("max_calls"))
                .count();
            if records == 4 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{io}: {records} rejected records"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        handoff.signal("KILL");
        let _ = handoff.wait_exit(WAIT);
    }
}

#[test]
fn max_cps_refuses_a_burst_with_retry_after_1() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with(io, 26600 + i as u16 * 100, "max_cps = 2");
        let mut handoff = Handoff::start(&s.config_path);
        let ids = call_ids_per_shard(&s, &format!("cps-{io}"), 10);
        let started = Instant::now();
        for shard_ids in &ids {
            for id in shard_ids {
                s.carrier.send_to(invite(&s, id).as_bytes(), s.sip).unwrap();
            }
        }
        let out = collect(&s.carrier, &s.platform, 20, &BTreeSet::new());
        // Every INVITE was handled between `started` and now: at most this many one-second
        // windows of a shard's clock, each admitting that shard's share (1).
        let windows = started.elapsed().as_secs() + 2;
        let bound = usize::from(SHARDS) * windows as usize;
        assert!(
            out.relayed.len() <= bound,
            "{io}: {} admitted in {windows} windows (max_cps = 2 over 2 shards)",
            out.relayed.len()
        );
        assert!(!out.relayed.is_empty(), "{io}: nothing admitted");
        if bound < 20 {
            assert!(!out.refused.is_empty(), "{io}: nothing refused");
        }
        for (call_id, retry) in &out.refused {
            assert_eq!(retry.as_deref(), Some("1"), "{io}: {call_id}: Retry-After");
        }
        handoff.signal("KILL");
        let _ = handoff.wait_exit(WAIT);
    }
}
