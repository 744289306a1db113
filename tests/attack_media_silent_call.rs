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
use runtime_support::ua::response;
use runtime_support::{BACKENDS, Handoff, Setup, WAIT, setup};
use sipwire::agent::{AudioSdp, RequestHead, via};

/// An SDP body for `port` with a=`direction` (RFC 3264 section 8.4: hold is sendonly/inactive).
fn sdp_dir(port: u16, direction: &str) -> String {
    AudioSdp {
        origin: "- 1 2",
        ip: "127.0.0.1",
        port,
        formats: &[(0, "PCMU/8000")],
        events: "0-15",
        direction,
    }
    .text()
}

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

#[test]
fn a_held_call_is_measured_against_hold_timeout_not_media_timeout() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup_with(
            io,
            26800 + i as u16 * 100,
            // The hold re-INVITE must be through before media_timeout_s runs out after the last
            // RTP: 8 s leaves a loaded machine ample time; hold_timeout_s stays distinguishable.
            "media_timeout_s = 8\nhold_timeout_s = 12\nmax_call_s = 0",
        );
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("held-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 5);
        // The carrier puts the call on hold: re-INVITE with a=sendonly, answered a=recvonly.
        let a_addr = carrier.ua.addr();
        let branch = format!("z9hG4bK-held-{io}-2");
        let via_invite = via(a_addr, &branch);
        let contact = format!("<sip:ua@{a_addr}>");
        let head = RequestHead {
            method: "INVITE",
            uri: &call.a_target,
            via: &via_invite,
            from: &call.a_from,
            to: &call.a_to,
            call_id: &call.call_id,
            cseq: 2,
            contact: Some(&contact),
        };
        let reinvite = head
            .builder()
            .body("application/sdp", sdp_dir(carrier.rtp_port(), "sendonly"))
            .build();
        carrier
            .ua
            .send(s.sip, &String::from_utf8(reinvite).unwrap());
        let (b_reinvite, b_src) = platform
            .ua
            .expect("re-INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
        assert!(
            b_reinvite.body.contains("a=sendonly"),
            "{io}: {}",
            b_reinvite.body
        );
        platform.ua.send(
            b_src,
            &response(
                &b_reinvite,
                200,
                "OK",
                "btag",
                platform.ua.addr(),
                &sdp_dir(platform.rtp_port(), "recvonly"),
            ),
        );
        let (ok, _) = carrier.ua.expect("200 to the re-INVITE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
        assert!(ok.body.contains("a=recvonly"), "{io}: {}", ok.body);
        let via_ack = via(a_addr, &format!("z9hG4bK-held-{io}-ack"));
        let ack = RequestHead {
            method: "ACK",
            uri: &call.a_target,
            via: &via_ack,
            from: &call.a_from,
            to: &call.a_to,
            call_id: &call.call_id,
            cseq: 2,
            contact: Some(&contact),
        };
        carrier
            .ua
            .send(s.sip, &String::from_utf8(ack.builder().build()).unwrap());
        // Silent and held: handoff waits out hold_timeout_s, not media_timeout_s.
        answer_byes(&carrier.ua, WAIT);
        answer_byes(&platform.ua, WAIT);
        let record = call_end(&s);
        assert_eq!(record["end_reason"], "hold_timeout", "{io}: {record}");
        assert!(
            record["duration_ms"].as_u64().unwrap_or(0) >= 12_000,
            "{io}: {record}"
        );
        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|st| st.success()),
            "{io}"
        );
    }
}
