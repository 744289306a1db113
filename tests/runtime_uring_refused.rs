//! With io = "uring" on a host that refuses io_uring, handoff says so clearly and exits non-zero;
//! it never falls back to epoll silently.
//!
//! The refusal is simulated for the handoff process alone: a seccomp filter, installed in the
//! child before exec, fails `io_uring_setup` with EPERM, exactly what a host with
//! `kernel.io_uring_disabled = 2` (or a container's seccomp profile) answers. Flipping that
//! kernel switch instead (as scripts/check-uring-refused.sh did) would break every other io_uring
//! user on the machine meanwhile, including tests running in parallel.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// Installs a seccomp filter on the calling thread: io_uring_setup fails with EPERM, every
/// other system call is allowed. Only async-signal-safe calls (it runs between fork and exec).
fn refuse_io_uring() -> std::io::Result<()> {
    // Offsets in struct seccomp_data: nr at 0, arch at 4.
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut program = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH,
            0,
            3,
        ),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_io_uring_setup as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with a valid, live filter program; no memory is allocated.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

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
        command.pre_exec(refuse_io_uring);
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
