//! The platform trunk's `refer_hook` (README "REFER hook"): the sim answers each
//! `Output::ReferHook` from a script. Nothing reaches the carrier before the answer; "refer"
//! with a new target and an X- header reaches the carrier's REFER, "local" INVITEs the target,
//! "reject" gives the platform 403 and leaves the call up; no answer, a non-2xx or a bad answer
//! apply `on_error`; a late answer is ignored. Each hook call is in the transfer record.

use std::sync::Arc;

use handoff::config::{Config, HookAction, ReferHook};
use handoff::core::HookAnswer;
use handoff::sim::transfer_flows::{self, Transfer};
use handoff::sim::{CARRIER, PARTNER, PLATFORM, ScriptedHook, Sim, SimOptions};

const URL: &str = "http://10.0.0.9:8080/refer";
const NEW_TARGET: &str = "+442079990000";

fn config(on_error: HookAction) -> Arc<Config> {
    let mut config = (*transfer_flows::standard()).clone();
    let platform = config.trunk_by_name("platform").expect("platform trunk");
    config.trunks[platform].refer_hook = Some(ReferHook {
        url: URL.to_owned(),
        timeout_ms: 1500,
        on_error,
    });
    Arc::new(config)
}

/// A call, the platform's REFER, and the hook asked (its JSON checked).
fn refer(on_error: HookAction, script: Vec<ScriptedHook>) -> (Sim, Transfer) {
    let mut sim = Sim::new(SimOptions::default().config(config(on_error)));
    sim.hook_script = script.into();
    let t = transfer_flows::call_and_refer(&mut sim, true).expect("call and REFER");
    assert!(
        sim.run_until(|s| !s.hook_requests.is_empty(), 2_000),
        "the hook was not asked"
    );
    let (url, body) = sim.hook_requests[0].clone();
    assert_eq!(url, URL);
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert!(
        json["conversation"].as_str().is_some_and(|c| !c.is_empty()),
        "{json}"
    );
    assert_eq!(
        json["transferor"],
        transfer_flows::PLATFORM_REFERRED_BY,
        "{json}"
    );
    assert!(
        json["transferee"].as_str().is_some_and(|c| !c.is_empty()),
        "{json}"
    );
    assert_eq!(
        json["refer_target"], "sip:+442071234567@platform.example",
        "{json}"
    );
    assert_eq!(json["refer_target_e164"], transfer_flows::TARGET, "{json}");
    assert_eq!(json["kind"], "blind", "{json}");
    assert_eq!(json["trunk"], "platform", "{json}");
    assert_eq!(json["carrier"], "carrier", "{json}");
    assert!(json["replaces"].is_null(), "{json}");
    (sim, t)
}

fn carrier_refer_headers(sim: &mut Sim) -> Option<(String, Option<String>)> {
    if !sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), 3_000) {
        return None;
    }
    let id = sim.ua(CARRIER).take_request("REFER")?;
    let refer = sim.ua_ref(CARRIER).incoming(id).clone();
    sim.ua(CARRIER).answer(id, 202, None);
    Some((
        refer.header("Refer-To").unwrap_or_default(),
        refer.header("X-Queue"),
    ))
}

fn hook_of(sim: &Sim) -> handoff::transfer::HookRecord {
    let records = sim.transfers();
    assert_eq!(records.len(), 1, "{records:?}");
    *records[0]
        .hook
        .clone()
        .expect("the record names the hook call")
}

#[test]
fn refer_with_a_new_target_and_an_x_header() {
    let answer = format!(
        r#"{{"action": "refer", "target": "{NEW_TARGET}", "headers": {{"X-Queue": "vip"}}}}"#
    );
    let (mut sim, t) = refer(HookAction::Reject, vec![ScriptedHook::json(300, &answer)]);
    // The REFER is held while the hook decides: nothing to the carrier, no answer to the platform.
    sim.run_for(200);
    assert!(!sim.ua_ref(CARRIER).has_request("REFER"));
    assert_eq!(sim.ua_ref(PLATFORM).final_status(t.callee, "REFER"), None);
    let (refer_to, queue) = carrier_refer_headers(&mut sim).expect("carrier REFER");
    assert_eq!(refer_to, format!("<sip:{NEW_TARGET}@10.0.0.1>"));
    assert_eq!(queue.as_deref(), Some("vip"));
    transfer_flows::platform_refer_answered(&mut sim, &t, 202).unwrap();
    transfer_flows::carrier_notifies(&mut sim, &t, 200, true).unwrap();
    sim.ua(CARRIER).bye(t.caller);
    sim.run_for(2_000);
    let record = &sim.transfers()[0];
    assert_eq!(record.target_e164.as_deref(), Some(NEW_TARGET));
    let hook = hook_of(&sim);
    assert_eq!(
        (hook.status, hook.action, hook.error.as_deref()),
        (Some(200), "refer", None)
    );
    assert_eq!(hook.url, URL);
    assert!((300..=400).contains(&hook.duration_ms), "{hook:?}");
    let json = record.to_json();
    assert!(json.contains(r#""hook":{"url":"http://10.0.0.9:8080/refer","status":200,"action":"refer","error":null"#), "{json}");
}

#[test]
fn local_invites_the_target_and_sends_the_carrier_nothing() {
    let (mut sim, mut t) = refer(
        HookAction::Reject,
        vec![ScriptedHook::json(100, r#"{"action": "local"}"#)],
    );
    transfer_flows::platform_refer_answered(&mut sim, &t, 202).unwrap();
    transfer_flows::local_transfer_succeeds(&mut sim, &mut t).unwrap();
    assert!(!sim.ua_ref(CARRIER).has_request("REFER"));
    let hook = hook_of(&sim);
    assert_eq!(
        (hook.status, hook.action, hook.error),
        (Some(200), "local", None)
    );
    assert_eq!(sim.transfers()[0].reason.as_str(), "local_method");
}

#[test]
fn reject_answers_403_and_keeps_the_call() {
    let (mut sim, t) = refer(
        HookAction::Refer,
        vec![ScriptedHook::json(100, r#"{"action": "reject"}"#)],
    );
    transfer_flows::platform_refer_answered(&mut sim, &t, 403).unwrap();
    sim.run_for(3_000);
    assert!(!sim.ua_ref(CARRIER).has_request("REFER"));
    assert!(!sim.ua_ref(PARTNER).has_request("INVITE"));
    assert_eq!(sim.calls_active(), 1);
    let record = &sim.transfers()[0];
    assert_eq!(record.reason.as_str(), "hook_rejected");
    assert_eq!(record.outcome, handoff::transfer::TransferOutcome::Denied);
    let hook = hook_of(&sim);
    assert_eq!(
        (hook.status, hook.action, hook.error),
        (Some(200), "reject", None)
    );
}

#[test]
fn no_answer_applies_on_error_at_the_deadline() {
    // on_error = "reject": 403 once timeout_ms passed; the REFER's retransmissions meanwhile
    // are absorbed by its open server transaction.
    let (mut sim, t) = refer(HookAction::Reject, vec![]);
    sim.run_for(1_000);
    assert_eq!(sim.ua_ref(PLATFORM).final_status(t.callee, "REFER"), None);
    transfer_flows::platform_refer_answered(&mut sim, &t, 403).unwrap();
    assert!(!sim.ua_ref(CARRIER).has_request("REFER"));
    let hook = hook_of(&sim);
    assert_eq!(
        (hook.status, hook.action, hook.error.as_deref()),
        (None, "reject", Some("timeout"))
    );
    assert!((1_500..1_600).contains(&hook.duration_ms), "{hook:?}");
}

#[test]
fn a_late_answer_is_ignored_after_on_error_refer() {
    let late = ScriptedHook::json(2_500, r#"{"action": "reject"}"#);
    let (mut sim, t) = refer(HookAction::Refer, vec![late]);
    let (refer_to, _) = carrier_refer_headers(&mut sim).expect("carrier REFER at the deadline");
    assert_eq!(refer_to, transfer_flows::CARRIER_REFER_TO);
    transfer_flows::platform_refer_answered(&mut sim, &t, 202).unwrap();
    sim.run_for(2_000);
    assert_eq!(
        sim.ua_ref(PLATFORM).final_status(t.callee, "REFER"),
        Some(202)
    );
}

#[test]
fn a_bad_answer_or_an_http_error_applies_on_error() {
    for (answer, error) in [
        (
            HookAnswer::Response {
                status: 200,
                body: b"not json".to_vec(),
            },
            "bad answer",
        ),
        (
            HookAnswer::Response {
                status: 500,
                body: Vec::new(),
            },
            "status 500",
        ),
        (
            HookAnswer::Response {
                status: 200,
                body: br#"{"action": "refer", "headers": {"Contact": "x"}}"#.to_vec(),
            },
            "bad answer",
        ),
        (
            HookAnswer::Failed("connection refused".into()),
            "connection",
        ),
    ] {
        let script = vec![ScriptedHook {
            after_ms: 50,
            answer: Some(answer),
        }];
        let (mut sim, mut t) = refer(HookAction::Local, script);
        transfer_flows::platform_refer_answered(&mut sim, &t, 202).unwrap();
        transfer_flows::local_transfer_succeeds(&mut sim, &mut t).unwrap();
        assert!(!sim.ua_ref(CARRIER).has_request("REFER"));
        let hook = hook_of(&sim);
        assert_eq!(hook.action, "local");
        let got = hook.error.clone().unwrap_or_default();
        assert!(got.starts_with(error), "{got:?} for {error}");
    }
}
