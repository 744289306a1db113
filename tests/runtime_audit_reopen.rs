//! Issue 11, "the audit file is never reopened, so logrotate needs copytruncate": after the file
//! is renamed (what logrotate does without copytruncate) and handoff gets SIGUSR1, the next
//! records go to a new file at the configured path; the renamed file keeps what was written
//! before and gets nothing more. Both backends. Nothing is timed: the test waits for records.

mod runtime_support;

use std::path::Path;
use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, hang_up_from_carrier};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

fn call_ends(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object a line"))
        .filter(|r| r["type"] == "call_end")
        .collect()
}

fn wait_for_call_ends(path: &Path, count: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let records = call_ends(path);
        if records.len() >= count {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{path:?} has {} call_end records, want {count}",
            records.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigusr1_reopens_the_audit_file_after_a_rename_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 33000 + i as u16 * 100, 2, 1);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");

        let mut before = establish(s.sip, &carrier, &platform, &format!("before-{io}"));
        hang_up_from_carrier(s.sip, &mut before, &carrier, &platform);
        wait_for_call_ends(&s.audit_path, 1);

        let rotated = s.dir.path().join("audit.jsonl.1");
        std::fs::rename(&s.audit_path, &rotated).expect("rotate");
        handoff.signal("USR1");
        handoff.wait_for_log("audit log reopened", WAIT);

        let mut after = establish(s.sip, &carrier, &platform, &format!("after-{io}"));
        hang_up_from_carrier(s.sip, &mut after, &carrier, &platform);
        let fresh = wait_for_call_ends(&s.audit_path, 1);
        assert_eq!(fresh.len(), 1, "{io}: {fresh:?}");
        let old = call_ends(&rotated);
        assert_eq!(old.len(), 1, "{io}: the rotated file got more: {old:?}");
        assert_ne!(
            fresh[0]["conversation"], old[0]["conversation"],
            "{io}: two different calls"
        );
        assert!(handoff.is_running(), "{io}");
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).expect("exits").success(), "{io}");
    }
}
