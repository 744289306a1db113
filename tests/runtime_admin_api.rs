//! The admin API of the running binary, on both backends: `GET /calls` lists a live call,
//! `GET /status` reports the shards, trunks and config, `GET /metrics` is valid Prometheus text
//! exposition whose counters follow real calls; with `admin_token` set, a request without the
//! right Bearer token gets 401 (the dashboard and `/transfers` included).

mod admin_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use admin_support::{Reply, parse_exposition, value, with_admin};
use runtime_support::call::{Endpoint, establish, hang_up_from_carrier};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// Admin ports of this test (29400..29410), media 29000..29400: inside the test's private
/// network namespace (see runtime_support), so nothing else holds them.
const ADMIN_PORT: u16 = 29400;

/// One HTTP/1.0 request, read to the end (the server closes).
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Reply {
    admin_support::request(addr, method, path, token, None, WAIT)
}

/// Polls `GET path` until `ready` holds (shards publish every 200 ms at most).
fn poll<T>(
    admin: SocketAddr,
    path: &str,
    token: Option<&str>,
    what: &str,
    mut ready: impl FnMut(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = http(admin, "GET", path, token);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        if let Some(found) = ready(&reply.body) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}; last {path}:\n{}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_status_and_calls_follow_real_calls_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 29000 + i as u16 * 100, 2, 30);
        let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + i as u16));
        with_admin(&s.config_path, admin, "");
        let mut handoff = Handoff::start(&s.config_path);
        handoff.wait_for_log("admin API listening", WAIT);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");

        let mut call = establish(s.sip, &carrier, &platform, &format!("admin-{io}"));
        let calls = poll(admin, "/calls", None, "the call in /calls", |body| {
            let calls: serde_json::Value = serde_json::from_str(body).expect("JSON");
            (calls.as_array().unwrap().len() == 1 && calls[0]["phase"] == "up").then_some(calls)
        });
        let live = &calls[0];
        assert!(!live["conversation"].as_str().unwrap().is_empty(), "{live}");
        let trunks: BTreeSet<&str> = live["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["trunk"].as_str().unwrap())
            .collect();
        assert_eq!(trunks, BTreeSet::from(["carrier", "platform"]), "{live}");
        assert!(live["shard"].as_u64().unwrap() < 2, "{live}");

        let status = poll(admin, "/status", None, "the call in /status", |body| {
            let status: serde_json::Value = serde_json::from_str(body).expect("JSON");
            (status["calls_active"] == 1 && status["trunks"][0]["sessions"] == 1).then_some(status)
        });
        assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
        assert!(status["uptime_s"].is_u64(), "{status}");
        assert_eq!(
            status["config"]["file"].as_str(),
            Some(s.config_path.to_str().unwrap())
        );
        let hash = status["config"]["hash"].as_str().unwrap();
        assert!(
            hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{hash}"
        );
        assert_eq!(status["shards"].as_array().unwrap().len(), 2, "{status}");
        // The backend configured and the one running (here the same: this kernel has io_uring).
        assert_eq!(status["io"]["configured"], *io, "{status}");
        assert_eq!(status["io"]["chosen"], *io, "{status}");
        let detail = status["io"]["detail"].as_str().unwrap();
        assert!(detail.starts_with("configured"), "{status}");
        assert!(status["shards"][0]["queue_depth"].is_u64(), "{status}");
        assert_eq!(status["trunks"][0]["name"], "carrier");
        assert_eq!(status["trunks"][0]["max_calls"], 0);
        assert_eq!(status["trunks"][1]["name"], "platform");
        assert_eq!(status["trunks"][1]["role"], "platform");
        assert_eq!(status["trunks"][1]["sessions"], 1);
        // The call has a leg on each trunk (same snapshot as the sessions).
        assert_eq!(status["trunks"][0]["calls"], 1, "{status}");
        assert_eq!(status["trunks"][1]["calls"], 1, "{status}");

        let reply = http(admin, "GET", "/metrics", None);
        assert!(
            reply.headers.contains("text/plain; version=0.0.4"),
            "{}",
            reply.headers
        );
        let up = parse_exposition(&reply.body);
        assert_eq!(value(&up, "handoff_calls_active", &[]), Some(1.0));
        // Zero-valued series for the configured trunks before any transfer (issue 11).
        for outcome in [
            "handed_off",
            "fallback_local",
            "failed",
            "cancelled",
            "denied",
        ] {
            assert_eq!(
                value(
                    &up,
                    "handoff_transfers_total",
                    &[
                        ("trunk", "carrier"),
                        ("kind", "blind"),
                        ("method", "refer"),
                        ("outcome", outcome)
                    ]
                ),
                Some(0.0),
                "{io}: {outcome}"
            );
        }
        assert_eq!(
            value(
                &up,
                "handoff_trunk_sessions_saved_total",
                &[("trunk", "carrier")]
            ),
            Some(0.0)
        );
        assert!(
            !up.iter()
                .any(|(n, l, _)| n == "handoff_transfers_total" && l["trunk"] == "platform"),
            "{io}: transfers are counted per carrier trunk"
        );

        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        let samples = poll(
            admin,
            "/metrics",
            None,
            "the ended call in /metrics",
            |body| {
                let samples = parse_exposition(body);
                (value(
                    &samples,
                    "handoff_calls_ended_total",
                    &[("reason", "bye_from_a")],
                ) == Some(1.0)
                    && value(&samples, "handoff_calls_active", &[]) == Some(0.0))
                .then_some(samples)
            },
        );
        assert_eq!(
            value(
                &samples,
                "handoff_calls_total",
                &[
                    ("from_trunk", "carrier"),
                    ("to_trunk", "platform"),
                    ("status", "200")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&samples, "handoff_trunk_sessions", &[("trunk", "carrier")]),
            Some(0.0)
        );
        // SIP by direction and method: the INVITE came in and went out, the BYE too.
        for (direction, method) in [
            ("in", "INVITE"),
            ("out", "INVITE"),
            ("in", "BYE"),
            ("out", "BYE"),
        ] {
            assert!(
                value(
                    &samples,
                    "handoff_sip_messages_total",
                    &[("direction", direction), ("method", method)]
                )
                .is_some_and(|v| v >= 1.0),
                "{io}: {direction} {method}"
            );
        }
        assert!(
            value(
                &samples,
                "handoff_sip_messages_total",
                &[("direction", "in"), ("method", "response")]
            )
            .is_some_and(|v| v >= 2.0),
            "{io}: responses in"
        );
        // Shard loop turns: a histogram whose +Inf bucket is its count.
        let turns = value(&samples, "handoff_shard_loop_turn_seconds_count", &[]).unwrap();
        assert!(turns > 0.0, "{io}");
        assert_eq!(
            value(
                &samples,
                "handoff_shard_loop_turn_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(turns)
        );
        assert_eq!(
            value(&samples, "handoff_audit_dropped_total", &[]),
            Some(0.0)
        );
        for family in [
            "handoff_audit_written_total",
            "handoff_rtp_packets_total",
            "handoff_rtp_dropped_total",
            "handoff_shard_queue_full_drops_total",
            "handoff_shard_sip_datagrams_read_total",
            "handoff_shard_sip_datagrams_passed_total",
            "handoff_shard_calls_started_total",
        ] {
            assert!(
                samples.iter().any(|(n, _, _)| n == family),
                "{io}: {family} missing"
            );
        }
        poll(admin, "/calls", None, "no call left in /calls", |body| {
            (body.trim() == "[]").then_some(())
        });

        assert_eq!(http(admin, "GET", "/nothing", None).status, 404);
        assert_eq!(http(admin, "POST", "/metrics", None).status, 405);

        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|s| s.success()),
            "{io}: handoff did not stop cleanly"
        );
    }
}

#[test]
fn a_token_is_required_once_configured_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 29200 + i as u16 * 100, 1, 30);
        let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + 2 + i as u16));
        with_admin(&s.config_path, admin, "admin_token = \"s3cret-token\"");
        let mut handoff = Handoff::start(&s.config_path);
        handoff.wait_for_log("admin API listening", WAIT);
        for path in [
            "/metrics",
            "/status",
            "/calls",
            "/transfers?outcome=failed",
            "/",
            "/nothing",
        ] {
            let reply = http(admin, "GET", path, None);
            assert_eq!(reply.status, 401, "{io} {path} without a token");
            assert!(
                reply.headers.contains("WWW-Authenticate: Bearer"),
                "{}",
                reply.headers
            );
            assert!(!reply.body.contains("handoff_"), "{}", reply.body);
            assert_eq!(
                http(admin, "GET", path, Some("s3cret-tokeX")).status,
                401,
                "{io} {path} with a wrong token"
            );
            assert_eq!(
                http(admin, "GET", path, Some("s3cret")).status,
                401,
                "{io} {path} with a prefix of the token"
            );
        }
        let reply = http(admin, "GET", "/metrics", Some("s3cret-token"));
        assert_eq!(reply.status, 200);
        parse_exposition(&reply.body);
        assert_eq!(
            http(admin, "GET", "/status", Some("s3cret-token")).status,
            200
        );
        let reply = http(admin, "GET", "/transfers", Some("s3cret-token"));
        assert_eq!((reply.status, reply.body.trim()), (200, "[]"), "{io}");
        let reply = http(admin, "GET", "/", Some("s3cret-token"));
        assert_eq!(reply.status, 200, "{io}");
        assert!(reply.body.contains("<title>handoff dashboard</title>"));
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}

#[test]
fn non_loopback_admin_without_token_refuses_to_start() {
    let s = setup("epoll", 29400, 1, 30);
    with_admin(&s.config_path, "0.0.0.0:29410".parse().unwrap(), "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .arg("--config")
        .arg(&s.config_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = s.config_path.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:4:9: sbc.admin: 0.0.0.0:29410 is not a loopback address"
        )),
        "{stderr}"
    );
}

/// Issue 11, systemd and load balancers: `/healthz` answers while the process lives; `/readyz`
/// is 200 while handoff takes new calls and 503 from the moment it drains (a call still up),
/// while `/healthz` stays 200. `/metrics` carries `handoff_build_info{version,commit}` and the
/// standard `process_` metrics.
#[test]
fn health_readiness_build_and_process_metrics() {
    let s = setup("epoll", 29300, 1, 30);
    let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + 5));
    with_admin(&s.config_path, admin, "");
    let mut handoff = Handoff::start(&s.config_path);
    handoff.wait_for_log("admin API listening", WAIT);
    assert_eq!(http(admin, "GET", "/healthz", None).status, 200);
    assert_eq!(http(admin, "GET", "/readyz", None).status, 200);

    let samples = parse_exposition(&http(admin, "GET", "/metrics", None).body);
    let build = samples
        .iter()
        .find(|(name, _, _)| name == "handoff_build_info")
        .expect("handoff_build_info");
    assert_eq!(build.2, 1.0);
    assert_eq!(
        build.1.get("version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    assert_eq!(build.1.get("commit"), Some(&commit), "{build:?}");
    for family in [
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        let found = value(&samples, family, &[]).unwrap_or_else(|| panic!("{family} missing"));
        assert!(
            found > 0.0 || family == "process_cpu_seconds_total",
            "{family} = {found}"
        );
    }
    let fds = value(&samples, "process_open_fds", &[]).unwrap();
    assert!(fds >= 4.0, "SIP socket, media ports, rings: {fds}");

    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let _call = establish(s.sip, &carrier, &platform, "readyz");
    handoff.signal("TERM");
    handoff.wait_for_log("drain: 1 call left", WAIT);
    let deadline = Instant::now() + WAIT;
    while http(admin, "GET", "/readyz", None).status != 503 {
        assert!(
            Instant::now() < deadline,
            "/readyz never turned 503 while draining"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(admin, "GET", "/healthz", None).status, 200);
    handoff.signal("TERM");
    runtime_support::call::answer_byes(&carrier.ua, WAIT);
    runtime_support::call::answer_byes(&platform.ua, WAIT);
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

/// Issue 11: `DELETE /calls/{conversation}` ends one call with BYE on both legs and an audit
/// record (`end_reason = "ended_by_operator"`); another call stays up; an unknown id gets 404 and
/// another method 405. Both backends.
#[test]
fn an_operator_ends_one_call_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 29600 + i as u16 * 100, 2, 30);
        let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + 7 + i as u16));
        with_admin(&s.config_path, admin, "");
        let mut handoff = Handoff::start(&s.config_path);
        handoff.wait_for_log("admin API listening", WAIT);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let first = establish(s.sip, &carrier, &platform, &format!("first-{io}"));
        let second = establish(s.sip, &carrier, &platform, &format!("second-{io}"));
        let calls = poll(admin, "/calls", None, "two calls in /calls", |body| {
            let calls: serde_json::Value = serde_json::from_str(body).expect("JSON");
            (calls.as_array().unwrap().len() == 2).then_some(calls)
        });
        // End the first call /calls lists; the other one stays.
        let conversations: Vec<String> = calls
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversation"].as_str().unwrap().to_owned())
            .collect();

        assert_eq!(
            http(admin, "DELETE", "/calls/conv-nobody", None).status,
            404
        );
        assert_eq!(
            http(admin, "GET", &format!("/calls/{}", conversations[0]), None).status,
            405
        );
        let reply = http(
            admin,
            "DELETE",
            &format!("/calls/{}", conversations[0]),
            None,
        );
        assert_eq!(reply.status, 202, "{io}: {}", reply.body);
        let bye = runtime_support::call::answer_byes(&carrier.ua, WAIT);
        runtime_support::call::answer_byes(&platform.ua, WAIT);
        let record = poll_audit(&s.audit_path, |r| {
            r["type"] == "call_end" && r["end_reason"] == "ended_by_operator"
        });
        assert_eq!(record["conversation"], conversations[0].as_str(), "{io}");
        let kept = poll(admin, "/calls", None, "one call left", |body| {
            let calls: serde_json::Value = serde_json::from_str(body).expect("JSON");
            (calls.as_array().unwrap().len() == 1).then_some(calls)
        });
        assert_eq!(kept[0]["conversation"], conversations[1].as_str(), "{io}");
        let ended_call_id = bye.header("call-id").unwrap_or_default().to_owned();
        assert!(
            ended_call_id == first.call_id || ended_call_id == second.call_id,
            "{io}: the BYE names one of the two calls: {ended_call_id}"
        );
        handoff.signal("TERM");
        handoff.signal("TERM");
        runtime_support::call::answer_byes(&carrier.ua, WAIT);
        runtime_support::call::answer_byes(&platform.ua, WAIT);
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()), "{io}");
    }
}

fn poll_audit(
    path: &std::path::Path,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(found) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| want(r))
        {
            return found;
        }
        assert!(Instant::now() < deadline, "not in the audit:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.0 PUT with a body.
fn http_put(addr: SocketAddr, path: &str, body: &str) -> Reply {
    admin_support::request(addr, "PUT", path, None, Some(body), WAIT)
}

/// Issue 11: "the log level changeable at run time through the admin API". Started at info, a
/// call's debug line ("call started") is not logged; after `PUT /log-level debug` the next
/// call's is. `GET /log-level` reads it back; a word that is no level gets 400.
#[test]
fn the_log_level_changes_at_run_time() {
    let s = setup("epoll", 29800, 1, 30);
    let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + 9));
    with_admin(&s.config_path, admin, "");
    let mut handoff = Handoff::start_with_args(&s.config_path, &["--log-level", "info"]);
    handoff.wait_for_log("admin API listening", WAIT);
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    assert_eq!(http(admin, "GET", "/log-level", None).body, "info\n");

    let mut quiet = establish(s.sip, &carrier, &platform, "quiet");
    hang_up_from_carrier(s.sip, &mut quiet, &carrier, &platform);
    // The call's info line comes after its debug line would have, on the same shard.
    handoff.wait_for_log("call ended", WAIT);
    assert_eq!(handoff.count_log("call started"), 0, "{:?}", handoff.log);

    let reply = http_put(admin, "/log-level", "debug");
    assert_eq!((reply.status, reply.body.as_str()), (200, "debug\n"));
    assert_eq!(http(admin, "GET", "/log-level", None).body, "debug\n");
    let mut loud = establish(s.sip, &carrier, &platform, "loud");
    handoff.wait_for_log("call started", WAIT);
    hang_up_from_carrier(s.sip, &mut loud, &carrier, &platform);

    let reply = http_put(admin, "/log-level", "loud");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("error, warn, info, debug, trace, off"));
    assert_eq!(http(admin, "DELETE", "/log-level", None).status, 405);
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

/// Issue 11: `/status` has each shard's CPU time and the top dropped sources; `/calls` each
/// call's codec, the trunks' codecs and its packet counts.
#[test]
fn status_shows_shard_cpu_and_dropped_sources_and_calls_show_codecs_and_packets() {
    let s = setup("epoll", 29900, 2, 30);
    let admin = SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT + 6));
    with_admin(&s.config_path, admin, "");
    let mut handoff = Handoff::start(&s.config_path);
    handoff.wait_for_log("admin API listening", WAIT);
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let _call = establish(s.sip, &carrier, &platform, "status-extras");

    // A stranger (no trunk's source) knocks three times: dropped, and on record.
    let stranger = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    for n in 0..3 {
        let options = format!(
            "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-stranger-{n}\r\n\
             From: <sip:x@{}>;tag=s\r\nTo: <sip:{}>\r\nCall-ID: stranger-{n}\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            s.sip,
            stranger.local_addr().unwrap(),
            stranger.local_addr().unwrap(),
            s.sip
        );
        stranger.send_to(options.as_bytes(), s.sip).unwrap();
    }
    let status = poll(admin, "/status", None, "the stranger in /status", |body| {
        let status: serde_json::Value = serde_json::from_str(body).expect("JSON");
        (status["top_dropped_sources"][0]["dropped"] == 3).then_some(status)
    });
    assert_eq!(
        status["top_dropped_sources"][0]["source"], "127.0.0.2",
        "{status}"
    );
    for shard in status["shards"].as_array().unwrap() {
        assert!(shard["cpu_seconds"].as_f64().is_some(), "{status}");
    }

    let calls = poll(
        admin,
        "/calls",
        None,
        "the call's codec in /calls",
        |body| {
            let calls: serde_json::Value = serde_json::from_str(body).expect("JSON");
            (!calls[0]["codec"].is_null()).then_some(calls)
        },
    );
    let call = &calls[0];
    assert_eq!(call["codec"], "PCMU", "{call}");
    assert!(call["codecs"].is_array(), "{call}");
    assert!(call["packets"]["a_to_b"].is_u64(), "{call}");
    assert!(call["packets"]["b_to_a"].is_u64(), "{call}");
    handoff.signal("TERM");
    handoff.signal("TERM");
    runtime_support::call::answer_byes(&carrier.ua, WAIT);
    runtime_support::call::answer_byes(&platform.ua, WAIT);
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}
