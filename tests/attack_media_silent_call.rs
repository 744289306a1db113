//! Attack, against the real binary on both backends: session liveness (issue 9, protection 7).
//! A peer that answers and then goes silent (a crashed phone, a carrier that lost the call, a
//! caller who holds a trunk session open for free) would keep two trunk sessions and four media
//! ports forever. The issue: "`sbc.media_timeout_s` (default 60; 0 = off): no RTP from either
//! side for that long ends the call with BYE to both legs, `end_reason = "media_timeout"`", and
//! "`sbc.max_call_s`" bounds a call that does send media. Both "are in the audit". The tests set
//! the bounds to 1-2 s through the config and wait for the BYEs, never for a fixed time.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, answer_byes, establish, exchange_rtp};
use runtime_support::{BACKENDS, Handoff, Setup, WAIT, setup};

/// `setup`, with `extra` lines added to `[sbc]`.
fn setup_with(io: &str, media: u16, extra: &str) -> Setup {
    let s = setup(io, media, 2, 30);
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    let text = text.replacen("drain_s = 30\n", &format!("drain_s = 30\n{extra}\n"), 1);
    std::fs::write(&s.config_path, text).unwrap();
    s
}

/// The `call_end` audit record, once written.
fn call_end(s: &Setup) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"call_end\"")) {
            return serde_json::from_str(line).unwrap();
        }
        assert!(Instant::now() < deadline, "no call_end record");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_call_gone_silent_gets_bye_on_both_legs_and_media_timeout_in_the_audit() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with(
            io,
            26000 + i as u16 * 100,
            "media_timeout_s = 2\nhold_timeout_s = 3600\nmax_call_s = 0",
        );
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("silent-{io}"));
        // The call has media, then both parties go silent.
        let sent = exchange_rtp(&call, &carrier, &platform, 0, 10);
        // handoff hangs up: BYE to both legs (answered, so its transactions end cleanly).
        let bye_a = answer_byes(&carrier.ua, WAIT);
        let bye_b = answer_byes(&platform.ua, WAIT);
        assert_eq!(bye_a.header("call-id"), Some(call.call_id.as_str()), "{io}");
        assert_eq!(
            bye_b.header("call-id"),
            Some(call.b_call_id.as_str()),
            "{io}"
        );
        handoff.wait_for_log("call ended by session liveness", WAIT);
        let record = call_end(&s);
        assert_eq!(record["end_reason"], "media_timeout", "{io}: {record}");
        assert_eq!(record["setup_status"], 200, "{io}: {record}");
        // The media it had before the silence is in the record too.
        let a_to_b = record["media"]["a_to_b_packets"].as_u64().unwrap_or(0);
        assert!(
            (10..=sent.a_to_b).contains(&a_to_b),
            "{io}: {a_to_b} packets a->b: {record}"
        );
        // Never before media_timeout_s (2 s) of silence after the answer.
        assert!(
            record["duration_ms"].as_u64().unwrap_or(0) >= 2_000,
            "{io}: {record}"
        );
        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|st| st.success()),
            "{io}"
        );
    }
}

#[test]
fn a_call_past_max_call_s_is_ended_with_max_duration() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with(
            io,
            26200 + i as u16 * 100,
            "media_timeout_s = 0\nmax_call_s = 2",
        );
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("endless-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 5);
        answer_byes(&carrier.ua, WAIT);
        answer_byes(&platform.ua, WAIT);
        handoff.wait_for_log("call ended by session liveness", WAIT);
        let record = call_end(&s);
        assert_eq!(record["end_reason"], "max_duration", "{io}: {record}");
        // Never before max_call_s after the answer.
        assert!(
            record["duration_ms"].as_u64().unwrap_or(0) >= 2_000,
            "{io}: {record}"
        );
        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|st| st.success()),
            "{io}"
        );
    }
}
