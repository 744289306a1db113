//! `handoff --config PATH` runs: it binds the SIP socket on `sbc.listen` and answers OPTIONS with
//! 200 OK to a configured trunk; an invalid config stops it with exit status 2 before anything is bound.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn answers_options_with_200() {
    netns::enter();
    let port = netns::udp_addr(15060).port();
    // OPTIONS is answered only for a configured trunk (anything else gets 403), so the probe is one.
    let client = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    let local = client.local_addr().expect("client addr");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[sbc]\nlisten = \"127.0.0.1:{port}\"\nmedia_ports = [10000, 10100]\nadmin = \"off\"\naudit = \"-\"\n\n[[trunk]]\nname = \"probe\"\npeer = \"{local}\"\ncountry_code = \"1\"\n"
    )
    .expect("write");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(["--config", &file.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start handoff"),
    );

    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let request = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-cli-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag=p1\r\n\
         To: <sip:127.0.0.1:{port}>\r\n\
         Call-ID: cli-run-options@test\r\n\
         CSeq: 7 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // The server needs a moment to start: retransmit like a SIP client until it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 4096];
    let response = loop {
        assert!(
            Instant::now() < deadline,
            "no answer to OPTIONS on port {port}"
        );
        client
            .send_to(request.as_bytes(), ("127.0.0.1", port))
            .expect("send");
        if let Ok((len, _)) = client.recv_from(&mut buffer) {
            break String::from_utf8_lossy(&buffer[..len]).into_owned();
        }
    };
    assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Call-ID: cli-run-options@test\r\n"),
        "{response}"
    );
    assert!(response.contains("CSeq: 7 OPTIONS\r\n"), "{response}");
    assert!(response.contains("branch=z9hG4bK-cli-1"), "{response}");
}

#[test]
fn invalid_config_exits_2_without_running() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(file, "[sbc]\nio = \"select\"\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["--config", &file.path().display().to_string()])
        .output()
        .expect("run handoff");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with(":2:6: sbc.io: \"select\" is not one of \"auto\", \"uring\", \"epoll\"\n"),
        "{stderr}"
    );
}
