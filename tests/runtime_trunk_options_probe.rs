//! Issue 11: "The running instance keeps probing each trunk with OPTIONS every
//! options_interval_s. The result appears in /status and /metrics (handoff_trunk_up{trunk})."
//! The carrier trunk here answers OPTIONS 200 with `Allow: ..., REFER` (written by the test from
//! RFC 3261 section 11.2's shape); the platform trunk never answers. /status shows the carrier up
//! with REFER allowed and the platform down; /metrics says 1 and 0; the log says the platform is
//! down. Then the carrier stops answering: it goes down too.

mod runtime_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use runtime_support::{Handoff, WAIT, setup};

/// Answers every OPTIONS on `socket` with 200 and Allow/Supported, while `answering`.
fn answer_options(socket: UdpSocket, answering: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("OPTIONS ") || !answering.load(Ordering::Relaxed) {
                continue;
            }
            let header = |name: &str| {
                text.lines()
                    .find(|l| {
                        l.to_ascii_lowercase()
                            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                    })
                    .unwrap_or("")
                    .to_owned()
            };
            let response = format!(
                "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=carrier-1\r\n{}\r\n{}\r\n\
                 Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n\
                 Supported: replaces\r\nContent-Length: 0\r\n\r\n",
                header("Via"),
                header("From"),
                header("To"),
                header("Call-ID"),
                header("CSeq"),
            );
            let _ = socket.send_to(response.as_bytes(), from);
        }
    });
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: handoff\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn trunks_are_probed_and_their_state_is_published() {
    let s = setup("epoll", 33800, 1, 1);
    let admin: SocketAddr = "127.0.0.1:33890".parse().unwrap();
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    let text = text
        .replace("admin = \"off\"", &format!("admin = \"{admin}\""))
        .replace("options_interval_s = 0", "options_interval_s = 1");
    std::fs::write(&s.config_path, text).unwrap();
    let answering = Arc::new(AtomicBool::new(true));
    answer_options(s.carrier.try_clone().unwrap(), answering.clone());
    let mut handoff = Handoff::start(&s.config_path);

    let status = wait_for("the carrier up and the platform down in /status", || {
        let status: serde_json::Value = serde_json::from_str(&get(admin, "/status")).ok()?;
        let trunks = status["trunks"].as_array()?.clone();
        let carrier = trunks.iter().find(|t| t["name"] == "carrier")?;
        let platform = trunks.iter().find(|t| t["name"] == "platform")?;
        (carrier["options"]["up"] == true && platform["options"]["up"] == false).then_some(status)
    });
    let carrier = &status["trunks"][0]["options"];
    assert_eq!(carrier["status"], 200, "{status}");
    assert_eq!(carrier["refer"], true, "{status}");
    assert_eq!(carrier["replaces"], true, "{status}");
    assert_eq!(carrier["tdialog"], false, "{status}");
    assert!(carrier["rtt_ms"].as_f64().is_some(), "{status}");
    assert!(
        status["trunks"][1]["options"]["status"].is_null(),
        "{status}"
    );

    let metrics = get(admin, "/metrics");
    assert!(
        metrics.contains("# TYPE handoff_trunk_up gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains("handoff_trunk_up{trunk=\"carrier\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("handoff_trunk_up{trunk=\"platform\"} 0"),
        "{metrics}"
    );
    handoff.wait_for_log("trunk down", WAIT);

    // The carrier stops answering: the next round marks it down.
    answering.store(false, Ordering::Relaxed);
    wait_for("the carrier down in /metrics", || {
        get(admin, "/metrics")
            .contains("handoff_trunk_up{trunk=\"carrier\"} 0")
            .then_some(())
    });
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}
