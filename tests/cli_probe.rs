//! Issue 11, carrier probe: `handoff probe` against SIPp carriers. One SIPp answers OPTIONS with
//! `Allow: ... REFER ...` and `Supported: replaces, tdialog, norefersub`; the other allows no
//! REFER although the config says `transfer = "refer"` toward it; a third trunk never answers.
//! The table must say so, line by line, with a warning for the second and the third, and the
//! exit code 1. Then `handoff probe TRUNK` probes only the good one and exits 0. SIPp's answers
//! are SIPp's own (scenario files in tests/sipp/), not handoff's.

#[path = "sipp/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::Sipp;

const SIP: u16 = 15060;
const REFER_OK: u16 = 15071;
const NO_REFER: u16 = 15072;
const SILENT: u16 = 15073;

fn sipp_carrier(dir: &Path, name: &'static str, scenario: &str, port: u16, answers: u32) -> Sipp {
    let args: Vec<String> = [
        "-sf",
        &harness::scenario(scenario).display().to_string(),
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        &answers.to_string(),
        "-timeout",
        "120s",
        "-nostdin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sipp = Sipp::spawn(name, dir, &args);
    sipp.wait_until_bound(port, Duration::from_secs(60));
    sipp
}

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
peer = "127.0.0.1:{REFER_OK}"
transfer = "refer"
country_code = "1"

[[trunk]]
name = "carrier-b"
role = "carrier"
peer = "127.0.0.1:{NO_REFER}"
transfer = "refer"
country_code = "1"

[[trunk]]
name = "platform"
role = "platform"
peer = "127.0.0.1:{SILENT}"
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

fn row<'a>(table: &'a str, trunk: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{trunk} ")))
        .unwrap_or_else(|| panic!("no row for {trunk}:\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn the_probe_table_tells_a_refer_carrier_from_a_refusing_one() {
    harness::sipp();
    harness::enter_private_network();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    // The silent trunk's port is held, so nothing answers there (not even ICMP).
    let _silent = std::net::UdpSocket::bind(("127.0.0.1", SILENT)).unwrap();
    let refer_ok = sipp_carrier(dir.path(), "refer_ok", "options_uas_refer.xml", REFER_OK, 2);
    let no_refer = sipp_carrier(
        dir.path(),
        "no_refer",
        "options_uas_norefer.xml",
        NO_REFER,
        1,
    );

    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["probe", "--timeout-ms", "3000", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{table}\n{stderr}");
    assert!(
        table.starts_with(&format!("probed from 127.0.0.1:{SIP}\n")),
        "{table}"
    );

    let a = row(&table, "carrier-a");
    assert_eq!(a[1], format!("127.0.0.1:{REFER_OK}"), "{table}");
    assert_eq!(a[2], "yes (200)", "{table}");
    assert!(a[3].ends_with(" ms"), "{table}");
    assert_eq!(&a[4..], ["yes", "yes", "yes", "yes", "refer"], "{table}");

    let b = row(&table, "carrier-b");
    assert_eq!(b[2], "yes (200)", "{table}");
    assert_eq!(&b[4..], ["no", "no", "no", "no", "refer"], "{table}");

    let p = row(&table, "platform");
    assert_eq!(&p[2..5], ["no", "-", "?"], "{table}");

    assert!(!table.contains("warning: carrier-a"), "{table}");
    assert!(
        table.contains(
            "warning: carrier-b: transfer = \"refer\", but the carrier's Allow has no REFER"
        ),
        "{table}"
    );
    assert!(table.contains("warning: platform: no answer"), "{table}");
    no_refer.wait(Duration::from_secs(60));

    // One trunk only: the good one, exit 0.
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["probe", "carrier-a", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    row(&table, "carrier-a");
    refer_ok.wait(Duration::from_secs(60));

    // A trunk the config does not have.
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["probe", "carrier-z", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no trunk named \"carrier-z\" (trunks: carrier-a, carrier-b, platform)")
    );
}
