//! `io = "auto"`, the default: io_uring where the kernel lets it run, else epoll, and one
//! start-up line that says which and why.
//!
//! - On this kernel: io_uring, "io backend: uring (auto; all features)".
//! - With io_uring refused (a seccomp filter on the child, as Docker's default profile or
//!   `kernel.io_uring_disabled = 2` do; `runtime_support/seccomp.rs`): epoll, "io backend: epoll
//!   (auto: io_uring refused by the kernel or a seccomp policy: Operation not permitted ...)",
//!   and a call with media both ways still goes through.
//! - With io_uring's newer features missing (the probe override): io_uring, naming them.
//! - With the kernel itself answering EINVAL to the register opcodes a 5.15 kernel lacks (a
//!   seccomp filter on `io_uring_register`): the probe's own detection finds them missing (no
//!   override), io_uring runs on the older forms, and a call goes through.

mod runtime_support;

use std::os::unix::process::CommandExt;
use std::process::Command;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::{Handoff, Setup, WAIT, seccomp, setup};

fn call_and_stop(s: &Setup, handoff: &mut Handoff, name: &str) {
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let mut call = establish(s.sip, &carrier, &platform, name);
    exchange_rtp(&call, &carrier, &platform, 0, 10);
    hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn auto_runs_on_io_uring_where_the_kernel_allows_it() {
    let s = setup("auto", 13000, 2, 30);
    let mut handoff = Handoff::start(&s.config_path);
    let line = handoff.wait_for_log("io backend:", WAIT);
    assert!(
        line.contains("io backend: uring (auto; all features)"),
        "{line}"
    );
    let serving = handoff.wait_for_log("serving", WAIT);
    assert!(serving.contains("io=\"uring\""), "{serving}");
    call_and_stop(&s, &mut handoff, "auto-uring");
}

#[test]
fn auto_names_the_features_the_kernel_lacks() {
    let s = setup("auto", 13100, 1, 30);
    let mut handoff = Handoff::start_with_env(
        &s.config_path,
        &[("HANDOFF_URING_WITHOUT", "bind,multishot")],
    );
    let line = handoff.wait_for_log("io backend:", WAIT);
    assert!(
        line.contains("io backend: uring (auto; without: bind, multishot)"),
        "{line}"
    );
    call_and_stop(&s, &mut handoff, "auto-older");
}

#[test]
fn auto_falls_back_to_epoll_where_io_uring_is_refused() {
    let s = setup("auto", 13200, 2, 30);
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    // SAFETY: the hook only calls prctl(2).
    unsafe {
        command.pre_exec(seccomp::refuse_io_uring);
    }
    let mut handoff = Handoff::start_command(command, &s.config_path);
    let line = handoff.wait_for_log("io backend:", WAIT);
    assert!(
        line.contains(
            "io backend: epoll (auto: io_uring refused by the kernel or a seccomp policy: \
             Operation not permitted"
        ),
        "{line}"
    );
    let serving = handoff.wait_for_log("serving", WAIT);
    assert!(serving.contains("io=\"epoll\""), "{serving}");
    // Sized for epoll: its ceiling is the open-file limit, not the ring's file table.
    handoff.wait_for_log("media ports opened at start-up", WAIT);
    call_and_stop(&s, &mut handoff, "auto-epoll");
}

#[test]
fn auto_detects_register_opcodes_the_kernel_refuses() {
    let s = setup("auto", 13300, 2, 30);
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    // SAFETY: the hook only calls prctl(2) (its filter program was built before the fork).
    unsafe {
        command.pre_exec(seccomp::register_ops_unknown(
            &seccomp::REGISTER_OPS_NEWER_THAN_5_15,
        ));
    }
    let mut handoff = Handoff::start_command(command, &s.config_path);
    let line = handoff.wait_for_log("io backend:", WAIT);
    // Without buffer rings the receives are single-shot (a multishot receive draws from one),
    // so multishot itself is not tried, nor reported missing.
    assert!(
        line.contains("io backend: uring (auto; without: buf_ring, sparse_files, sync_cancel)"),
        "{line}"
    );
    call_and_stop(&s, &mut handoff, "auto-register-einval");
}
