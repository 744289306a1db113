//! Helpers of the tests/e2e_targets_*.rs files (issue 10: transfer targets, what a Refer-To
//! carries, Refer-To validation, conversation linking): the real binary with the demo's config,
//! edited per test, and the demo's agents. Media ranges 37000..38000.
#![allow(dead_code)]

#[path = "../e2e_support/mod.rs"]
mod e2e_support;

use std::time::{Duration, Instant};

pub use e2e_support::{BACKENDS, E2e, Options, start};
use handoff::demo::agent::Msg;
pub use handoff::demo::flows::{CARRIER, CallUp, PARTNER, PLATFORM, STEP, establish};

/// The config edit: a route by `domain` (`pbx.local` -> partner) after the others.
pub fn with_pbx_domain_route(text: String) -> String {
    format!("{text}\n[[route]]\nfrom = \"platform\"\ndomain = \"pbx.local\"\nto = \"partner\"\n")
}

/// Starts handoff with `edit` applied to the demo's config.
pub fn start_with(io: &'static str, media_start: u16, edit: fn(String) -> String) -> E2e {
    let mut options = Options::new(io, media_start);
    options.config_edit = Some(edit);
    start(&options)
}

/// The platform REFERs its leg of `call` with `refer_to` and `extra` headers; returns the final
/// status of its REFER.
pub fn platform_refers(
    e2e: &mut E2e,
    call: &mut CallUp,
    refer_to: &str,
    extra: &[(&str, &str)],
) -> u16 {
    let mut headers = vec![("Refer-To", refer_to)];
    headers.extend_from_slice(extra);
    e2e.cast[PLATFORM]
        .request(&mut call.b, "REFER", &headers, None)
        .expect("REFER sent");
    let answer = e2e
        .cast
        .wait(PLATFORM, "final answer to REFER", STEP, |m| {
            m.cseq_method() == Some("REFER") && m.status() >= Some(200)
        })
        .expect("REFER answered");
    answer.status().unwrap_or(0)
}

/// Waits for a request `method` at `agent`.
pub fn request_at(e2e: &mut E2e, agent: usize, method: &'static str) -> Msg {
    e2e.cast
        .wait(agent, method, STEP, move |m| {
            m.is_request(method) && (method != "INVITE" || m.tag("to").is_none())
        })
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// Whether `agent` receives a request `method` within `within`.
pub fn receives(e2e: &mut E2e, agent: usize, method: &'static str, within: Duration) -> bool {
    e2e.cast
        .wait(agent, method, within, move |m| m.is_request(method))
        .is_ok()
}

/// The audit's records of `kind` (`transfer`, `call_end`), waiting up to 10 s for `count`.
pub fn records(e2e: &E2e, kind: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&e2e.audit).unwrap_or_default();
        let found: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["type"] == kind)
            .collect();
        if found.len() >= count || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The target (partner) answers leg C; the platform gets NOTIFY 200.
pub fn target_answers(e2e: &mut E2e, invite: &Msg) {
    e2e.cast[PARTNER]
        .respond(invite, 180, "Ringing", "target-c", None)
        .expect("180");
    e2e.cast[PARTNER].answer(invite, "target-c").expect("200");
    e2e.cast
        .wait(PARTNER, "ACK", STEP, |m| m.is_request("ACK"))
        .expect("leg C ACKed");
    e2e.cast
        .wait(PLATFORM, "NOTIFY 200", STEP, |m| {
            m.is_request("NOTIFY") && m.sipfrag_status() >= Some(200)
        })
        .expect("platform NOTIFYed 200");
}

/// The Request-URI of a request.
pub fn request_uri(msg: &Msg) -> String {
    msg.first_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}
