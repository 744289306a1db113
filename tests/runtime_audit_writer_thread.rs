//! Issue 9, "Audit off the hot path", against the real binary: records are written while calls
//! run (not only at exit), a rejected request's record names the requester's source address, and
//! a SIGTERM drain leaves every call's `call_end` in the file before the process exits. Both
//! backends.
//!
//! Nothing is timed: the test waits for each record (up to the helpers' generous deadline) and
//! for the exit, then reads the file.

mod runtime_support;

use std::path::Path;
use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, answer_byes, establish, hang_up_from_carrier};
use runtime_support::ua::{request, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// Short: the calls left up get their BYEs one second after SIGTERM.
const DRAIN_S: u64 = 1;
const CALLS_LEFT_UP: usize = 4;

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each audit line is one JSON object"))
        .collect()
}

fn wait_for_record(
    path: &Path,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(r) = records(path).into_iter().find(|r| want(r)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} in the audit within {WAIT:?}: {:?}",
            records(path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn records_appear_while_calls_run_and_a_drain_leaves_every_call_end_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 25000 + i as u16 * 100, 2, DRAIN_S);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        for n in 0..CALLS_LEFT_UP {
            establish(s.sip, &carrier, &platform, &format!("up-{io}-{n}"));
        }

        // A call ends while the others run: its record is in the file while handoff runs.
        let mut short = establish(s.sip, &carrier, &platform, &format!("short-{io}"));
        hang_up_from_carrier(s.sip, &mut short, &carrier, &platform);
        let short_end = wait_for_record(&s.audit_path, "call_end of the short call", |r| {
            r["type"] == "call_end" && r["end_reason"] == "bye_from_a"
        });
        // Issue 11: the legs' Call-IDs (the carrier's own first), the numbers, the times.
        assert_eq!(
            short_end["legs"][0]["call_id"],
            short.call_id.as_str(),
            "{short_end}"
        );
        assert_eq!(short_end["legs"][0]["trunk"], "carrier", "{short_end}");
        assert_eq!(short_end["legs"][1]["role"], "platform", "{short_end}");
        assert_ne!(short_end["legs"][1]["call_id"], short.call_id.as_str());
        assert!(
            !short_end["called"].as_str().unwrap().is_empty(),
            "{short_end}"
        );
        assert!(
            !short_end["calling"].as_str().unwrap().is_empty(),
            "{short_end}"
        );
        let (started, answered) = (
            short_end["started"].as_str().unwrap(),
            short_end["answered"].as_str().unwrap(),
        );
        assert!(started.ends_with('Z') && started <= answered, "{short_end}");
        assert!(handoff.is_running(), "{io}");

        // A request refused before any call existed: on record with who sent it.
        let invite = request(
            "INVITE",
            carrier.ua.addr(),
            s.sip,
            "+15550003333",
            &format!("refused-{io}"),
            "rt",
            1,
            &sdp(carrier.rtp_port()),
        )
        .replacen("\r\n", "\r\nRequire: 100rel\r\n", 1);
        carrier.ua.send(s.sip, &invite);
        carrier
            .ua
            .expect("420 to the INVITE", WAIT, |m| m.status() == Some(420));
        let rejected = wait_for_record(&s.audit_path, "request_rejected", |r| {
            r["type"] == "request_rejected"
        });
        assert_eq!(rejected["status"], 420, "{io}: {rejected}");
        assert_eq!(
            rejected["source"],
            carrier.ua.addr().to_string(),
            "{io}: {rejected}"
        );

        // SIGTERM: at drain_s the calls still up get BYE on both legs; the peers answer.
        handoff.signal("TERM");
        for _ in 0..CALLS_LEFT_UP {
            answer_byes(&carrier.ua, Duration::from_secs(DRAIN_S) + WAIT);
            answer_byes(&platform.ua, WAIT);
        }
        let status = handoff.wait_exit(WAIT).expect("exits after the drain");
        assert!(status.success(), "{io}: {status}");

        // After the exit, every call is on record: nothing was left in the queue.
        let all = records(&s.audit_path);
        let ends: Vec<&serde_json::Value> =
            all.iter().filter(|r| r["type"] == "call_end").collect();
        assert_eq!(ends.len(), CALLS_LEFT_UP + 1, "{io}: {all:?}");
        assert_eq!(
            ends.iter().filter(|r| r["end_reason"] == "drain").count(),
            CALLS_LEFT_UP,
            "{io}: {all:?}"
        );
        handoff.drain_log();
        assert!(
            handoff.log.iter().any(|l| l.contains("audit log complete")),
            "{io}: {}",
            handoff.log.join("\n")
        );
    }
}
