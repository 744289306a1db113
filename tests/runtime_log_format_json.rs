//! Issue 11, "Log format", against the real binary: `--log-format json` writes one JSON object
//! per line on stderr (every line parses), with the event's fields at the top level, and every
//! call-related line carries the call's conversation id, the one its audit record carries. The
//! default stays text.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, hang_up_from_carrier};
use runtime_support::{Handoff, WAIT, setup};

fn audit_conversation(path: &std::path::Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(record) = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["type"] == "call_end")
        {
            return record["conversation"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no call_end in {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn json_logs_are_one_object_per_line_and_name_the_conversation() {
    let s = setup("epoll", 32400, 2, 30);
    let mut handoff = Handoff::start_with_args(
        &s.config_path,
        &["--log-format", "json", "--log-level", "trace"],
    );
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let mut call = establish(s.sip, &carrier, &platform, "json-log-call");
    hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
    let conversation = audit_conversation(&s.audit_path);
    handoff.wait_for_log("\"message\":\"call ended\"", WAIT);
    handoff.signal("TERM");
    let status = handoff.wait_exit(WAIT).expect("exits after SIGTERM");
    assert!(status.success(), "{status}");

    let lines: Vec<serde_json::Value> = handoff
        .log
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
        })
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line[key].is_string(), "no {key} in {line}");
        }
        assert!(line.get("fields").is_none(), "fields are flattened: {line}");
    }
    let with_message = |m: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["message"] == m).collect()
    };
    let ended = with_message("call ended");
    assert_eq!(ended.len(), 1, "one call-end line: {lines:?}");
    assert_eq!(ended[0]["level"], "INFO");
    assert_eq!(ended[0]["conversation"], conversation.as_str());
    assert_eq!(ended[0]["reason"], "bye_from_a");
    assert!(ended[0]["duration_ms"].is_u64(), "{}", ended[0]);
    for m in ["call started", "call answered"] {
        let found = with_message(m);
        assert_eq!(found.len(), 1, "{m}: {lines:?}");
        assert_eq!(found[0]["conversation"], conversation.as_str(), "{m}");
    }
    let media = with_message("media");
    assert!(!media.is_empty());
    for line in media {
        assert_eq!(line["conversation"], conversation.as_str(), "{line}");
    }
    // Every SIP message of the call's two legs, as traced, names the conversation.
    let sip: Vec<_> = lines
        .iter()
        .filter(|l| {
            l["message"].as_str().is_some_and(|m| {
                (m.starts_with("SIP received:") || m.starts_with("SIP sent:"))
                    && (m.contains(&call.call_id) || m.contains(&call.b_call_id))
            })
        })
        .collect();
    assert!(sip.len() >= 8, "{sip:?}");
    for line in sip {
        assert_eq!(line["conversation"], conversation.as_str(), "{line}");
    }
}

#[test]
fn text_stays_the_default() {
    let s = setup("epoll", 32500, 1, 30);
    let mut handoff = Handoff::start(&s.config_path);
    let line = handoff.wait_for_log("serving", WAIT);
    assert!(
        serde_json::from_str::<serde_json::Value>(&line).is_err(),
        "{line}"
    );
    assert!(line.contains(" INFO "), "{line}");
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}
