//! SIPp through the real binary, on both backends: a SIPp uac (the "carrier" trunk) calls
//! through handoff to a SIPp uas (the "platform" trunk). 1,000 calls at 100 calls/s with 0
//! failed calls; and the same with RTP: the uac plays 1 s of G.711 A-law per call, the uas
//! echoes it back, and every call's audit record shows packets relayed in both directions
//! (so RTP reached the far side and came back).
//!
//! SIPp comes from the Debian package `sip-tester` (installed by scripts/test.sh).

mod runtime_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime_support::{Handoff, config_text, free_udp_addr};

const CALLS: u32 = 1000;
const RATE: u32 = 100;

struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sipp(args: &[String], dir: &Path) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Runs `CALLS` calls uac -> handoff -> uas; returns the audit records.
fn run(io: &str, media: (u16, u16), sipp_media: u16, with_rtp: bool) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let carrier: SocketAddr = free_udp_addr();
    let platform: SocketAddr = free_udp_addr();
    let sip = free_udp_addr();
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("handoff.toml");
    let text = config_text(
        io,
        sip,
        media.0,
        2,
        30,
        carrier,
        platform,
        &audit,
        &["PCMU", "PCMA"],
    )
    .replace(
        &format!("media_ports = [{}, {}]", media.0, media.0 + 200),
        &format!("media_ports = [{}, {}]", media.0, media.1),
    );
    std::fs::write(&config, text).unwrap();
    let mut handoff = Handoff::start(&config);

    let mut uas_args = strings(&["-sn", "uas", "-i", "127.0.0.1", "-nostdin"]);
    uas_args.extend(["-p".into(), platform.port().to_string()]);
    uas_args.extend(["-mp".into(), (sipp_media + 1000).to_string()]);
    if with_rtp {
        uas_args.push("-rtp_echo".into());
    }
    let _uas = Sipp(
        sipp(&uas_args, dir.path())
            .spawn()
            .expect("sipp (package sip-tester)"),
    );
    std::thread::sleep(Duration::from_millis(300));

    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sipp/uac_pcap_short.xml");
    let mut uac_args = if with_rtp {
        vec!["-sf".into(), scenario.display().to_string()]
    } else {
        strings(&["-sn", "uac", "-d", "500"])
    };
    uac_args.extend(strings(&[
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-s",
        "+15550001111",
    ]));
    uac_args.extend(["-p".into(), carrier.port().to_string()]);
    uac_args.extend(["-mp".into(), sipp_media.to_string()]);
    uac_args.extend([
        "-r".into(),
        RATE.to_string(),
        "-m".into(),
        CALLS.to_string(),
    ]);
    uac_args.extend(strings(&[
        "-timeout",
        "90s",
        "-timeout_error",
        "-recv_timeout",
        "10000",
    ]));
    uac_args.push(sip.to_string());
    let started = Instant::now();
    let uac = sipp(&uac_args, dir.path()).output().expect("sipp uac");
    let stderr = String::from_utf8_lossy(&uac.stderr);
    handoff.drain_log();
    assert!(
        uac.status.success(),
        "{io}: SIPp uac failed ({}) after {:?}: {stderr}\nhandoff log tail:\n{}",
        uac.status,
        started.elapsed(),
        handoff
            .log
            .iter()
            .rev()
            .take(30)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every call ends with a call_end record (the last BYEs may still be in flight).
    let deadline = Instant::now() + Duration::from_secs(15);
    let records = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let records: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r: &serde_json::Value| r["type"] == "call_end")
            .collect();
        if records.len() >= CALLS as usize || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    handoff.signal("TERM");
    assert!(
        handoff
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let errors: Vec<&String> = handoff
        .log
        .iter()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(
        errors.is_empty(),
        "{io}: handoff logged errors: {errors:#?}"
    );
    assert_eq!(
        records.len(),
        CALLS as usize,
        "{io}: one call_end record per call"
    );
    records
}

#[test]
fn sipp_1000_calls_at_100_cps_without_failure_on_both_backends() {
    for (io, media, sipp_media) in [
        ("uring", (29000, 29800), 42000),
        ("epoll", (29800, 30600), 44000),
    ] {
        let records = run(io, media, sipp_media, false);
        for r in &records {
            assert_eq!(r["setup_status"], 200, "{io}: {r}");
            assert_eq!(r["from_trunk"], "carrier", "{io}: {r}");
        }
    }
}

#[test]
fn sipp_1000_calls_with_rtp_relayed_both_ways_on_both_backends() {
    for (io, media, sipp_media) in [
        ("uring", (30600, 31600), 46000),
        ("epoll", (31600, 32600), 48000),
    ] {
        let records = run(io, media, sipp_media, true);
        let mut silent = 0;
        for r in &records {
            assert_eq!(r["setup_status"], 200, "{io}: {r}");
            let a_to_b = r["media"]["a_to_b_packets"].as_u64().unwrap_or(0);
            let b_to_a = r["media"]["b_to_a_packets"].as_u64().unwrap_or(0);
            if a_to_b == 0 || b_to_a == 0 {
                silent += 1;
                eprintln!("{io}: {r}");
            }
        }
        assert_eq!(
            silent, 0,
            "{io}: calls without RTP both ways: {silent} of {CALLS}"
        );
    }
}
