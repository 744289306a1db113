//! Issue 10 item 9, against a real peer: SIPp plays a platform trunk that demands digest
//! authentication (tests/sipp/uas_digest_challenge.xml: 401 with a WWW-Authenticate challenge
//! to the first INVITE, then `verifyauth` on the INVITE sent again). The real binary, with
//! `auth = { username, password }` on that trunk, answers the challenge once (RFC 3261 section
//! 22.2: same Call-ID and tags, CSeq + 1, new branch, Authorization), SIPp verifies the
//! credentials with the password itself and answers 200, and the carrier's call is set up and
//! torn down normally. SIPp's verdict (one successful call) is the proof that the digest is
//! right; the carrier never sees the 401. Neither the password nor the digest response appears
//! in handoff's trace log (every SIP message is logged there), its HEP capture or the audit.

mod runtime_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runtime_support::ua::{Ua, in_dialog, request, sdp};
use runtime_support::{Handoff, WAIT, setup};

const PASSWORD: &str = "s3cret-Pa55";

#[test]
fn sipp_verifies_the_credentials_handoff_answers_a_401_with() {
    let s = setup("epoll", 11760, 2, 1);
    let platform = s.platform.local_addr().unwrap();
    let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
    // SIPp takes over the platform trunk's address.
    drop(s.platform);
    let text = std::fs::read_to_string(&s.config_path)
        .unwrap()
        .replacen(
            "role = \"platform\"\n",
            &format!(
                "role = \"platform\"\nauth = {{ username = \"handoff-trunk\", password = \"{PASSWORD}\" }}\n"
            ),
            1,
        );
    // HEP capture on: the collector must get every message, credentials redacted.
    let collector = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let text = text.replacen(
        "[sbc]\n",
        &format!("[sbc]\nhep = \"{}\"\n", collector.local_addr().unwrap()),
        1,
    );
    std::fs::write(&s.config_path, text).unwrap();
    // SIPp (tests/sipp/harness.rs is not used: it brings its own copy of the netns module).
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uas_digest_challenge.xml");
    let out = std::fs::File::create(s.dir.path().join("sipp.out")).unwrap();
    let mut sipp = Command::new("sipp")
        .current_dir(s.dir.path())
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-p", &platform.port().to_string()])
        .args(["-mp", "8130", "-m", "1", "-timeout", "60s", "-nostdin"])
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("sipp is installed (apt-get install sip-tester)");
    // Bound once its port is taken.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::UdpSocket::bind(platform).is_ok() {
        assert!(Instant::now() < deadline, "sipp never bound {platform}");
        assert!(sipp.try_wait().unwrap().is_none(), "sipp exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut handoff = Handoff::start_with_args(&s.config_path, &["--log-level", "trace"]);

    let call_id = "digest-1";
    let a = carrier.addr();
    carrier.send(
        s.sip,
        &request(
            "INVITE",
            a,
            s.sip,
            "+15550001111",
            call_id,
            "atag",
            1,
            &sdp(7000),
        ),
    );
    let (ok, _) = carrier.expect("final response to the INVITE", WAIT, |m| {
        m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200)
    });
    assert_eq!(ok.status(), Some(200), "carrier got {}", ok.raw);
    let (from, to) = (
        ok.header("from").unwrap().to_owned(),
        ok.header("to").unwrap().to_owned(),
    );
    let target = ok.contact_uri().expect("Contact in the 200");
    carrier.send(
        s.sip,
        &in_dialog("ACK", &target, a, call_id, &from, &to, 1, "ack-1"),
    );
    // The BYE follows the ACK on the same path: handoff relays both to SIPp in order.
    carrier.send(
        s.sip,
        &in_dialog("BYE", &target, a, call_id, &from, &to, 2, "bye-1"),
    );
    carrier.expect("200 to the BYE", WAIT, |m| {
        m.status() == Some(200) && m.cseq_method() == Some("BYE")
    });

    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = sipp.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "sipp did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    handoff.drain_log();
    let log = handoff.log.join("\n");
    // SIPp's verdict: exit 0 = its one call succeeded (verifyauth accepted the credentials).
    assert_eq!(
        status.code(),
        Some(0),
        "sipp:\n{}\nhandoff:\n{log}",
        std::fs::read_to_string(s.dir.path().join("sipp.out")).unwrap_or_default()
    );

    // The challenge and our answer went by (trace logs every message), redacted.
    assert!(
        log.contains("WWW-Authenticate: Digest"),
        "no challenge logged"
    );
    assert!(
        log.contains("Authorization: Digest <redacted>"),
        "the resubmitted INVITE is not in the log, or not redacted"
    );
    assert!(!log.contains(PASSWORD), "the password is in the log");
    assert!(
        !log.contains("response=\""),
        "a digest response is in the log"
    );
    let mut captured = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = collector.recv(&mut buf) {
        captured.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        captured
            .iter()
            .any(|p| p.contains("Authorization: Digest <redacted>")),
        "the resubmitted INVITE was not captured, or not redacted ({} packets)",
        captured.len()
    );
    assert!(
        captured
            .iter()
            .all(|p| !p.contains("response=\"") && !p.contains(PASSWORD)),
        "credentials in a HEP capture"
    );
    let audit = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
    assert!(!audit.contains(PASSWORD) && !audit.contains("response=\""));
}
