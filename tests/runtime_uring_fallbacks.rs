//! The io_uring backend on the kernels users have (Linux 5.15 and newer): every older form it
//! falls back to, forced on this kernel through the probe override `HANDOFF_URING_WITHOUT`, one
//! feature at a time and all at once ("a 5.15 kernel"). Each run says at start-up what it runs
//! without, then carries a real call through the binary: SIP on both legs, RTP relayed both ways
//! through handoff's ports, the BYE relayed, and a clean exit on SIGTERM (the teardown, too,
//! has an older form: `sync_cancel`).
//!
//! | forced missing | older form exercised |
//! | --- | --- |
//! | `socket`, `bind` | socket(2) + bind(2), registered into the file slot, fd closed |
//! | `multishot`, `buf_ring` | single-shot RECVMSG per socket into its own buffer, re-armed |
//! | `send_addr` | IORING_OP_SENDMSG |
//! | `msg_ring` | a peer shard is woken through its eventfd |
//! | `submit_all`, `coop_taskrun` | the ring set up without those flags |
//! | `sparse_files` | the file table registered as -1 slots |
//! | `sync_cancel` | one ASYNC_CANCEL per armed request at teardown |

mod runtime_support;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::{Handoff, WAIT, setup};

/// RTP packets each way.
const PACKETS: u16 = 20;

fn call_without(without: &str, media: u16) {
    // Two shards: a datagram owned by the other shard is passed on and wakes it (MSG_RING, or
    // the eventfd without it).
    let s = setup("uring", media, 2, 30);
    let mut handoff = Handoff::start_with_env(
        &s.config_path,
        &[("HANDOFF_URING_WITHOUT", without), ("RUST_BACKTRACE", "1")],
    );
    let line = handoff.wait_for_log("io backend:", WAIT);
    assert!(
        line.contains("io backend: uring (configured; without: "),
        "{without}: {line}"
    );
    let expected: Vec<&str> = if without == "all" {
        vec![
            "socket",
            "bind",
            "multishot",
            "buf_ring",
            "send_addr",
            "msg_ring",
            "submit_all",
            "coop_taskrun",
            "sparse_files",
            "sync_cancel",
        ]
    } else {
        without.split(',').collect()
    };
    for name in expected {
        assert!(line.contains(name), "{without}: {name} not named in {line}");
    }
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    for n in 0..2 {
        // Two calls in a row: the second takes media slots the first one closed.
        let name = format!("without-{}-{n}", without.replace(',', "-"));
        let mut call = establish(s.sip, &carrier, &platform, &name);
        exchange_rtp(&call, &carrier, &platform, 0, PACKETS);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
    }
    handoff.signal("TERM");
    let status = handoff.wait_exit(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{without}: exit {status:?}:\n{}",
        handoff.log.join("\n")
    );
}

#[test]
fn without_socket() {
    call_without("socket", 12000);
}

#[test]
fn without_bind() {
    call_without("bind", 12100);
}

#[test]
fn without_multishot() {
    call_without("multishot", 12200);
}

#[test]
fn without_buf_ring() {
    call_without("buf_ring", 12300);
}

#[test]
fn without_send_addr() {
    call_without("send_addr", 12400);
}

#[test]
fn without_msg_ring() {
    call_without("msg_ring", 12500);
}

#[test]
fn without_setup_flags() {
    call_without("submit_all,coop_taskrun", 12600);
}

#[test]
fn without_sparse_files() {
    call_without("sparse_files", 12700);
}

#[test]
fn without_sync_cancel() {
    call_without("sync_cancel", 12800);
}

/// Everything newer than Linux 5.15 missing at once.
#[test]
fn without_everything_newer_than_5_15() {
    call_without("all", 12900);
}
