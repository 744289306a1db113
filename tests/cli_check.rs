//! `handoff check` exits 0 with a summary for a valid config, and 2 with every error as
//! `file:line:col: message` on stderr for an invalid one.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .expect("run the handoff binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A valid config's stdout: the `sip steering:` line (which depends on the host's cpu count
/// when `shards = 0`), then the summary.
fn assert_summary(output: &Output, summary: &str) {
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("sip steering: "), "{stdout}");
    assert_eq!(lines[1], summary, "{stdout}");
}

/// `handoff check` shows how SIP datagrams will be steered over the shards (`sbc.sip_steering`)
/// and refuses a mode it does not know, with file:line:col.
#[test]
fn check_shows_sip_steering() {
    netns::enter();
    for (steering, shards, expect) in [
        (
            "",
            "shards = 2\ncpus = [0, 1]",
            "sip steering: cpu (the shard pinned to the receiving cpu reads: cpu 0 -> shard 0, cpu 1 -> shard 1)",
        ),
        (
            "sip_steering = \"hash\"\n",
            "shards = 2",
            "sip steering: hash (the kernel picks the shard by 4-tuple: one peer ip:port is read by one shard)",
        ),
        (
            "sip_steering = \"cpu\"\n",
            "shards = 1",
            "sip steering: none (one shard reads every datagram)",
        ),
    ] {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        write!(
            file,
            "[sbc]\nlisten = \"{}\"\nadmin = \"off\"\nmedia_ports = [41800, 41900]\naudit = \"-\"\n{steering}{shards}\n",
            netns::udp_addr(41760)
        )
        .expect("write");
        let path = file.path().display().to_string();
        let output = handoff(&["check", &path]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(
            text(&output.stdout),
            format!("{expect}\nok: 0 trunks, 0 routes\n")
        );
    }
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(file, "[sbc]\nsip_steering = \"rss\"\n").expect("write");
    let path = file.path().display().to_string();
    let output = handoff(&["check", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!("{path}:2:16: sbc.sip_steering: \"rss\" is not one of \"cpu\", \"hash\"\n")
    );
}

#[test]
fn valid_example_config() {
    netns::enter();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/contact-center.toml");
    let output = handoff(&["check", "--config", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_summary(&output, "ok: 3 trunks, 5 routes");
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn embedded_default_when_no_config_is_given() {
    netns::enter();
    let output = handoff(&["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_summary(&output, "ok: 2 trunks, 2 routes");
}

#[test]
fn invalid_config_lists_every_error_and_exits_2() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[sbc]\nlisten = \"127.0.0.1\"\nsharts = 2\n\n[[route]]\nto = \"nowhere\"\n"
    )
    .expect("write");
    let path = file.path().display().to_string();
    let output = handoff(&["check", "--config", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        format!(
            "{path}:2:10: sbc.listen: \"127.0.0.1\" is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")\n\
             {path}:3:1: unknown key `sharts` in [sbc]; did you mean `shards`?\n\
             {path}:6:6: route.to: no trunk named \"nowhere\" (trunks: none defined)\n"
        )
    );
}

#[test]
fn unreadable_config_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.toml").display().to_string();
    let output = handoff(&["check", "--config", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with(&format!("{path}: cannot read config file: ")),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn config_may_come_before_the_subcommand() {
    netns::enter();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let output = handoff(&["--config", path, "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_summary(&output, "ok: 2 trunks, 2 routes");
}

#[test]
fn a_config_without_a_platform_trunk_is_valid_with_a_warning() {
    netns::enter();
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[[trunk]]\nname = \"a\"\npeer = \"10.0.0.1:5060\"\ncountry_code = \"1\"\n\n[[trunk]]\nname = \"b\"\npeer = \"10.0.0.2:5060\"\ncountry_code = \"1\"\n"
    )
    .expect("write");
    let path = file.path().to_str().expect("utf-8 path");
    let output = handoff(&["check", "--config", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "warning: no trunk has role = \"platform\": REFERs are only honoured from platform legs, so no transfer can happen\n"
    );
}

#[test]
fn the_file_may_be_a_plain_argument() {
    netns::enter();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/contact-center.toml");
    let output = handoff(&["check", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_summary(&output, "ok: 3 trunks, 5 routes");
}

/// Issue 11: `check` must catch what would stop a run: paths it cannot write, CPUs that do not
/// exist, ports it cannot bind (SIP and admin). An admin listener off loopback without a token is a
/// config error (`runtime_admin_api`).
#[test]
fn check_catches_what_would_stop_a_run() {
    netns::enter();
    let busy = std::net::UdpSocket::bind(netns::udp_addr(29500)).expect("hold the SIP port");
    let listen = busy.local_addr().expect("addr");
    let busy_admin =
        std::net::TcpListener::bind(netns::udp_addr(29510)).expect("hold the admin port");
    let admin = busy_admin.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("missing-dir/audit.jsonl");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[sbc]\nlisten = \"{listen}\"\ncpus = [0, 1000]\nmedia_ports = [29600, 29700]\nadmin = \"{admin}\"\naudit = \"{}\"\n",
        audit.display()
    )
    .expect("write");
    let path = file.path().display().to_string();
    let output = handoff(&["check", &path]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    let lines: Vec<&str> = stderr.lines().collect();
    let expect = [
        format!("{path}:6:9: sbc.audit: the directory "),
        format!("{path}:3:8: sbc.cpus: this host has no cpu 1000 "),
        format!("{path}:2:10: sbc.listen: cannot bind UDP {listen}: "),
        format!("{path}:5:9: sbc.admin: cannot bind TCP {admin}: "),
    ];
    assert_eq!(lines.len(), expect.len(), "{stderr}");
    for (line, start) in lines.iter().zip(&expect) {
        assert!(
            line.starts_with(start.as_str()),
            "{line:?} should start with {start:?}"
        );
    }
    drop((busy, busy_admin));
}

/// Issue 11: the contact-center example runs as shipped (from the repo root; here from a
/// scratch directory, where its relative audit path lands) and stops cleanly on SIGTERM.
#[test]
fn the_contact_center_example_runs() {
    netns::enter();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/contact-center.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["--config", path])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start handoff");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = String::new();
    let serving = loop {
        match lines.next() {
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("serving") {
                    break true;
                }
            }
            _ => break false,
        }
    };
    if !serving {
        let _ = child.kill();
        let _ = child.wait();
        panic!("handoff did not start:\n{seen}");
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    for line in lines.map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}:\n{seen}");
    assert!(dir.path().join("audit.jsonl").exists(), "{seen}");
}

/// Issue 11: when a run fails, its cause is printed once.
#[test]
fn a_failed_run_prints_its_cause_once() {
    netns::enter();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[sbc]\nlisten = \"{}\"\nmedia_ports = [29600, 29700]\naudit = \"{}/nowhere/audit.jsonl\"\n",
        netns::udp_addr(29520),
        dir.path().display()
    )
    .expect("write");
    let output = handoff(&["--config", &file.path().display().to_string()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("Caused by"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}
