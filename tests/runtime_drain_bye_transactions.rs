//! Issue 8, "Drain that finishes its BYEs", against the real binary, both backends. The final
//! BYEs of a drain are client transactions (RFC 3261 section 17.1.2): retransmitted by Timer E
//! (T1, doubling, capped at T2) until a final response, given up by Timer F at 64*T1. The
//! process exits once they are done, and the audit then holds the calls' `call_end`.
//!
//! - A peer that drops the first BYE(s) and answers a retransmission gets it: handoff is still
//!   there to retransmit, takes the 200, and exits on its own (not by the drain's outer bound).
//! - A peer that never answers: the BYE is retransmitted, Timer F ends it, and the process
//!   still exits, by the bound `drain_s + 64*T1 + grace`.
//!
//! T1 is 100 ms here so Timer F (6.4 s) keeps the test short. Nothing is timed: the test waits
//! for messages and for the exit; counts of retransmissions are bounded by the RFC's schedule
//! (a busy machine can only make fewer fit before Timer F, never more).

mod runtime_support;

use std::time::Duration;

use handoff::runtime::shard::drain_bound;
use runtime_support::call::{Endpoint, establish};
use runtime_support::ua::{Msg, Ua, response};
use runtime_support::{BACKENDS, Handoff, Setup, WAIT, setup};

const DRAIN_S: u64 = 1;
const T1_MS: u64 = 100;
const T2_MS: u64 = 4000;

/// `setup` with T1/T2 of this test.
fn setup_with_timers(io: &str, media: u16) -> Setup {
    let s = setup(io, media, 2, DRAIN_S);
    let mut text = std::fs::read_to_string(&s.config_path).unwrap();
    text.push_str(&format!(
        "\n[sbc.timers]\nt1_ms = {T1_MS}\nt2_ms = {T2_MS}\n"
    ));
    std::fs::write(&s.config_path, text).unwrap();
    s
}

fn is_bye(m: &Msg) -> bool {
    m.method() == Some("BYE")
}

/// Same transaction: RFC 3261 17.1.3 matches by the top Via's branch and the CSeq method; a
/// retransmission is the same request again.
fn same_request(a: &Msg, b: &Msg) -> bool {
    a.header("via") == b.header("via") && a.header("cseq") == b.header("cseq")
}

/// Receives the drain's BYE, drops it and the next `drop_again` copies, then answers the copy
/// after that with 200 (it can only come as a retransmission).
fn answer_a_retransmission(ua: &Ua, drop_again: usize) -> Msg {
    let (first, _) = ua.expect(
        "the drain's BYE",
        Duration::from_secs(DRAIN_S) + WAIT,
        is_bye,
    );
    for _ in 0..drop_again {
        ua.expect("the BYE retransmitted", WAIT, |m| same_request(m, &first));
    }
    let (again, from) = ua.expect("the BYE retransmitted", WAIT, |m| same_request(m, &first));
    ua.send(from, &response(&again, 200, "OK", "x", ua.addr(), ""));
    again
}

fn call_ends(s: &Setup) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&s.audit_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "call_end")
        .collect()
}

#[test]
fn a_peer_that_drops_the_first_byes_gets_a_retransmission_answered_before_exit() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with_timers(io, 25200 + i as u16 * 100);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("lossy-{io}"));

        handoff.signal("TERM");
        let bye_a = answer_a_retransmission(&carrier.ua, 0);
        assert_eq!(bye_a.header("call-id"), Some(call.call_id.as_str()));
        let bye_b = answer_a_retransmission(&platform.ua, 1);
        assert_eq!(bye_b.header("call-id"), Some(call.b_call_id.as_str()));

        let status = handoff
            .wait_exit(WAIT)
            .expect("exits once its BYEs are answered");
        assert!(status.success(), "{io}: {status}");
        // It stopped because its BYEs were done, not because the drain's outer bound ran out.
        assert_eq!(
            handoff.count_log("drain bound reached"),
            0,
            "{io}: {}",
            handoff.log.join("\n")
        );
        let ends = call_ends(&s);
        assert_eq!(ends.len(), 1, "{io}: {ends:?}");
        assert_eq!(ends[0]["end_reason"], "drain", "{io}");
    }
}

#[test]
fn a_peer_that_never_answers_gets_retransmissions_and_the_process_still_exits() {
    // RFC 3261 17.1.2.2: Timer E fires at T1, 3*T1, 7*T1, ... (intervals doubling, capped at
    // T2) until Timer F at 64*T1. With T1 = 100 ms, T2 = 4 s: sends at 0, 0.1, 0.3, 0.7, 1.5,
    // 3.1 and 6.3 s; the next would be at 10.3 s, after Timer F (6.4 s).
    const MOST_SENDS: usize = 7;
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with_timers(io, 25400 + i as u16 * 100);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        establish(s.sip, &carrier, &platform, &format!("silent-{io}"));

        handoff.signal("TERM");
        // Count the BYEs each side gets, answering none, until the process is gone.
        let bound = Duration::from_secs(DRAIN_S) + drain_bound(T1_MS) + WAIT;
        let deadline = std::time::Instant::now() + bound;
        let mut byes = [0usize; 2];
        let mut buf = vec![0u8; 65536];
        while handoff.is_running() {
            assert!(
                std::time::Instant::now() < deadline,
                "{io}: still running {bound:?} after SIGTERM"
            );
            for (n, ua) in [&carrier.ua, &platform.ua].into_iter().enumerate() {
                ua.socket
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                while let Ok((len, _)) = ua.socket.recv_from(&mut buf) {
                    if Msg::parse(&buf[..len]).is_some_and(|m| is_bye(&m)) {
                        byes[n] += 1;
                    }
                }
            }
        }
        let status = handoff.wait_exit(WAIT).expect("exited");
        assert!(status.success(), "{io}: {status}");
        for (n, side) in ["carrier", "platform"].iter().enumerate() {
            assert!(
                (2..=MOST_SENDS).contains(&byes[n]),
                "{io}: the {side} got {} BYEs; want a retransmitted BYE, at most {MOST_SENDS} sends",
                byes[n]
            );
        }
        let ends = call_ends(&s);
        assert_eq!(ends.len(), 1, "{io}: {ends:?}");
        assert_eq!(ends[0]["end_reason"], "drain", "{io}");
    }
}
