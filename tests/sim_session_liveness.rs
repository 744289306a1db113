//! Session liveness (issue 9, protection 7) in the core, on the simulation's virtual clock:
//! "`sbc.media_timeout_s` (default 60; 0 = off): no RTP from either side for that long ends the
//! call with BYE to both legs, `end_reason = "media_timeout"`. A call on hold (`sendonly`/
//! `inactive` in the last offer or answer) is measured against `sbc.hold_timeout_s` instead";
//! "`sbc.max_call_s`". The simulated relay's packets are `Sim::media_seen`; the core asks for
//! them (`Output::QueryMediaActivity`) and the simulation answers as the runtime does.
//! The real-binary attack is `attack_media_silent_call.rs`.

use std::sync::Arc;

use handoff::core::{CallRef, EndReason, MediaCommand};
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, scenarios, sdp_with, standard_config};

fn sim_with(seed: u64, media_s: u64, hold_s: u64, max_call_s: u64) -> Sim {
    let mut config = standard_config();
    config.sbc.media_timeout_s = media_s;
    config.sbc.hold_timeout_s = hold_s;
    config.sbc.max_call_s = max_call_s;
    Sim::new(SimOptions::default().seed(seed).config(Arc::new(config)))
}

fn opened_call(sim: &Sim) -> CallRef {
    sim.media
        .iter()
        .find_map(|(_, c)| match c {
            MediaCommand::Open { call, .. } => Some(*call),
            _ => None,
        })
        .expect("an Open command")
}

fn ended_for(sim: &Sim) -> Option<EndReason> {
    sim.call_ends().first().map(|end| end.end_reason)
}

#[test]
fn a_silent_call_ends_after_media_timeout_with_bye_to_both_legs() {
    let mut sim = sim_with(41, 5, 3_600, 14_400);
    let (caller, callee) = scenarios::establish(&mut sim).expect("call up");
    // Silence shorter than the bound: the call stays.
    sim.run_for(4_000);
    assert_eq!(sim.calls_active(), 1, "ended before media_timeout_s");
    assert!(sim.run_until(|s| s.calls_active() == 0, 2_000));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).dialog(caller).bye_received
            && s.ua_ref(PLATFORM).dialog(callee).bye_received,
        5_000
    ));
    assert_eq!(ended_for(&sim), Some(EndReason::MediaTimeout));
    assert_eq!(sim.call_ends()[0].end_reason.as_str(), "media_timeout");
    assert_eq!(
        sim.metrics().calls_ended.get("media_timeout"),
        Some(&1),
        "counted by reason"
    );
    assert_eq!(sim.media_ports_in_use(), 0);
}

#[test]
fn media_keeps_a_call_alive_and_its_end_starts_the_clock() {
    let mut sim = sim_with(42, 5, 3_600, 14_400);
    scenarios::establish(&mut sim).expect("call up");
    let call = opened_call(&sim);
    // 20 s of media, seen every second: four times the bound.
    for _ in 0..20 {
        sim.run_for(1_000);
        sim.media_seen(call);
    }
    assert_eq!(sim.calls_active(), 1, "a call with media ended");
    let last = sim.now;
    // The media stops: the call ends media_timeout_s after the last packet, not before.
    assert!(sim.run_until(|s| s.calls_active() == 0, 10_000));
    let ended_after = sim.now.millis_since(last);
    assert!(
        (5_000..6_000).contains(&ended_after),
        "ended {ended_after} ms after the last packet (bound 5 s)"
    );
    assert_eq!(ended_for(&sim), Some(EndReason::MediaTimeout));
    // One question per bound, not per packet.
    assert!(sim.media_queries <= 10, "{} queries", sim.media_queries);
}

#[test]
fn a_call_on_hold_is_measured_against_hold_timeout() {
    let mut sim = sim_with(43, 2, 30, 14_400);
    let (caller, _) = scenarios::establish(&mut sim).expect("call up");
    sim.ua(CARRIER)
        .reinvite(caller, sdp_with("10.0.0.1", 4000, "sendonly", &[0, 8]));
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).has_request("INVITE"), 1_500));
    let reinvite = sim.ua(PLATFORM).take_request("INVITE").expect("re-INVITE");
    sim.ua(PLATFORM).answer(
        reinvite,
        200,
        Some(sdp_with("10.0.0.2", 5000, "recvonly", &[0, 8])),
    );
    let held_at = sim.now;
    // Silent, but on hold: well past media_timeout_s the call stays.
    sim.run_for(20_000);
    assert_eq!(sim.calls_active(), 1, "a held call ended by media_timeout");
    assert!(sim.run_until(|s| s.calls_active() == 0, 20_000));
    let after = sim.now.millis_since(held_at);
    assert!(
        (28_000..34_000).contains(&after),
        "held call ended {after} ms after the hold (hold_timeout_s = 30)"
    );
    assert_eq!(ended_for(&sim), Some(EndReason::HoldTimeout));
}

#[test]
fn a_resumed_call_is_measured_against_media_timeout_again() {
    let mut sim = sim_with(44, 3, 600, 14_400);
    let (caller, _) = scenarios::establish(&mut sim).expect("call up");
    for direction in ["inactive", "sendrecv"] {
        sim.ua(CARRIER)
            .reinvite(caller, sdp_with("10.0.0.1", 4000, direction, &[0, 8]));
        assert!(sim.run_until(|s| s.ua_ref(PLATFORM).has_request("INVITE"), 1_500));
        let reinvite = sim.ua(PLATFORM).take_request("INVITE").expect("re-INVITE");
        sim.ua(PLATFORM).answer(
            reinvite,
            200,
            Some(sdp_with("10.0.0.2", 5000, direction, &[0, 8])),
        );
        if direction == "inactive" {
            sim.run_for(10_000);
            assert_eq!(sim.calls_active(), 1, "an inactive (held) call ended early");
        }
    }
    let resumed = sim.now;
    assert!(sim.run_until(|s| s.calls_active() == 0, 20_000));
    let after = sim.now.millis_since(resumed);
    // Checks come at least every media_timeout_s: a resume is seen within one period.
    assert!(after <= 2 * 3_000 + 500, "ended {after} ms after resume");
    assert_eq!(ended_for(&sim), Some(EndReason::MediaTimeout));
}

#[test]
fn media_timeout_zero_is_off() {
    let mut sim = sim_with(45, 0, 0, 0);
    scenarios::establish(&mut sim).expect("call up");
    sim.run_for(120_000);
    assert_eq!(sim.calls_active(), 1);
    assert_eq!(sim.media_queries, 0, "no liveness checks when off");
}

#[test]
fn max_call_s_ends_a_call_with_media_at_its_bound() {
    let mut sim = sim_with(46, 5, 3_600, 10);
    scenarios::establish(&mut sim).expect("call up");
    let answered = sim.now;
    let call = opened_call(&sim);
    while sim.calls_active() == 1 && sim.now.millis_since(answered) < 15_000 {
        sim.run_for(500);
        sim.media_seen(call);
    }
    let after = sim.now.millis_since(answered);
    assert_eq!(sim.calls_active(), 0, "still up after {after} ms");
    assert!((9_000..=10_500).contains(&after), "ended after {after} ms");
    assert_eq!(ended_for(&sim), Some(EndReason::MaxDuration));
    assert_eq!(sim.call_ends()[0].end_reason.as_str(), "max_duration");
}
