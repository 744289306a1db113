//! A second handoff on the same SIP address is refused with a clear error instead of silently
//! sharing the port (SO_REUSEPORT) with the first; same for any other program holding it.

mod runtime_support;

use std::net::UdpSocket;
use std::process::Command;

use runtime_support::setup;

#[test]
fn a_held_sip_port_is_an_error_naming_it() {
    let s = setup("epoll", 9300, 1, 30);
    let _holder = UdpSocket::bind(s.sip).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .arg("--config")
        .arg(&s.config_path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains(&s.sip.to_string()), "{stderr}");
}
