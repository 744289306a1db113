//! Issue 11: `handoff probe TRUNK --test-transfer NUMBER` places a real test call to a SIPp
//! carrier and REFERs it to NUMBER the way handoff does. Against a carrier that takes REFER over
//! (202, NOTIFY 100 and 200, then BYE: tests/sipp/refer_uas_accept.xml, which also checks that
//! the Refer-To is an E.164 SIP URI) the report says so and the exit code is 0; against one that
//! answers 403 (refer_uas_refuse.xml) the report shows the 403, the probe hangs up, and the exit
//! code is 1. Each SIPp run must end with its one call successful: SIPp's own verdict on the
//! messages the probe sent.

#[path = "sipp/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::Sipp;

const SIP: u16 = 15160;
const CARRIER: u16 = 15171;

fn config(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"[sbc]
listen = "127.0.0.1:{SIP}"
advertise = "127.0.0.1"
admin = "off"
audit = "{audit}"

[[trunk]]
name = "carrier-a"
role = "carrier"
peer = "127.0.0.1:{CARRIER}"
transfer = "refer"
country_code = "1"
refer_domain = "carrier-a.example"

[[trunk]]
name = "platform"
role = "platform"
peer = "127.0.0.1:15173"
country_code = "1"

[[route]]
from = "carrier-a"
to = "platform"
"#,
        audit = dir.join("audit.jsonl").display()
    );
    let path = dir.join("handoff.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, scenario: &str, name: &'static str) -> (Option<i32>, String) {
    let args: Vec<String> = [
        "-sf",
        &harness::scenario(scenario).display().to_string(),
        "-i",
        "127.0.0.1",
        "-p",
        &CARRIER.to_string(),
        "-m",
        "1",
        "-timeout",
        "120s",
        "-nostdin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sipp = Sipp::spawn(name, dir, &args);
    sipp.wait_until_bound(CARRIER, Duration::from_secs(60));
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["probe", "carrier-a", "--test-transfer", "5559876543"])
        .args(["--transfer-timeout-s", "60", "--config"])
        .arg(config(dir))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    sipp.wait(Duration::from_secs(120))
        .assert_all_succeeded(1, &String::from_utf8_lossy(&out.stderr));
    (out.status.code(), report)
}

#[test]
fn a_carrier_that_takes_refer_releases_the_test_call() {
    harness::sipp();
    harness::enter_private_network();
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = run(dir.path(), "refer_uas_accept.xml", "refer_accept");
    assert_eq!(
        report,
        "test transfer via carrier-a: REFER to <sip:+15559876543@carrier-a.example>\n\
         INVITE: 200\nREFER: 202\nNOTIFY: 100, 200\nreleased by the carrier: yes\n"
    );
    assert_eq!(code, Some(0), "{report}");
}

#[test]
fn a_carrier_that_refuses_refer_is_reported_and_hung_up() {
    harness::sipp();
    harness::enter_private_network();
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = run(dir.path(), "refer_uas_refuse.xml", "refer_refuse");
    assert_eq!(
        report,
        "test transfer via carrier-a: REFER to <sip:+15559876543@carrier-a.example>\n\
         INVITE: 200\nREFER: 403\nNOTIFY: none\nreleased by the carrier: no\n"
    );
    assert_eq!(code, Some(1), "{report}");
}
