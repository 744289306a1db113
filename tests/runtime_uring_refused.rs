//! With io = "uring" on a host that refuses io_uring, handoff says so clearly and exits non-zero;
//! it never falls back to epoll silently.
//!
//! The refusal is simulated for the handoff process alone: a seccomp filter
//! (`runtime_support/seccomp.rs`), installed in the child before exec, fails `io_uring_setup`
//! with EPERM, exactly what a host with `kernel.io_uring_disabled = 2` (or a container's seccomp
//! profile) answers. Flipping that kernel switch instead (as scripts/check-uring-refused.sh did)
//! would break every other io_uring user on the machine meanwhile, including tests running in
//! parallel. (With `io = "auto"`, the default, the same host runs on epoll:
//! tests/runtime_io_auto.rs.)

#[path = "runtime_support/netns.rs"]
mod netns;
#[path = "runtime_support/seccomp.rs"]
mod seccomp;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn refused_io_uring_is_a_clear_error_without_fallback() {
    netns::enter();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("uring.toml");
    std::fs::write(
        &config,
        format!(
            "[sbc]\nlisten = \"{}\"\nio = \"uring\"\nmedia_ports = [46000, 46100]\nadmin = \"off\"\naudit = \"-\"\n",
            netns::udp_addr(15060)
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    command
        .arg("--config")
        .arg(&config)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the hook only calls prctl(2).
    unsafe {
        command.pre_exec(seccomp::refuse_io_uring);
    }
    let mut child = command.spawn().expect("start handoff");
    // It must stop by itself; a handoff that carried on (on epoll, or hung) is killed and fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "handoff kept running although io_uring was refused:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "exit status {}:\n{text}", out.status);
    assert!(
        text.contains("io_uring is not available on this host"),
        "the error says io_uring is unavailable:\n{text}"
    );
    assert!(
        text.contains("io = \"epoll\""),
        "the error says how to use epoll:\n{text}"
    );
}
