//! `sbc.sip_steering` against the real binary, on both backends: which shard *reads* a SIP
//! datagram.
//!
//! handoff runs 2 shards pinned to cpus 0 and 1. The test sends OPTIONS (which handoff answers)
//! from ONE socket, first from a thread pinned to cpu 0, then pinned to cpu 1. On loopback the
//! receive softirq runs on the sender's cpu, so:
//! - `"cpu"`: shard 0 reads the first batch and shard 1 the second
//!   (`handoff_shard_sip_datagrams_read_total{shard}`), from one ip:port;
//! - `"hash"`: the kernel's 4-tuple hash sends every datagram of that one ip:port to one shard.
//!
//! Either way the datagrams a shard reads but does not own (the Call-ID's hash names another
//! shard) are passed on: `handoff_shard_sip_datagrams_passed_total{shard}` is checked against
//! `owner_of_datagram`. With the program refused (a seccomp filter on the child), `"cpu"` falls
//! back to the hash and says so at start-up. Ports: 41000-41999 inside the test's private
//! network namespace.

mod admin_support;
mod runtime_support;

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use admin_support::{parse_exposition, value};
use handoff::vocab::ownership::owner_of_datagram;
use runtime_support::ua::{Ua, request};
use runtime_support::{Handoff, WAIT, netns, seccomp};

/// OPTIONS sent from each cpu.
const K: usize = 20;

struct Counts {
    read: [u64; 2],
    passed: [u64; 2],
}

fn counts(admin: SocketAddr) -> Counts {
    let reply = admin_support::request(admin, "GET", "/metrics", None, None, WAIT);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let samples = parse_exposition(&reply.body);
    let get = |name: &str, shard: &str| {
        value(&samples, name, &[("shard", shard)])
            .unwrap_or_else(|| panic!("no {name}{{shard={shard}}} in:\n{}", reply.body))
            as u64
    };
    Counts {
        read: ["0", "1"].map(|s| get("handoff_shard_sip_datagrams_read_total", s)),
        passed: ["0", "1"].map(|s| get("handoff_shard_sip_datagrams_passed_total", s)),
    }
}

/// Polls `/metrics` until the shards together have read `total` datagrams (the snapshots are
/// published between loop turns), or fails after [`WAIT`].
fn counts_when_read(admin: SocketAddr, total: u64) -> Counts {
    let deadline = Instant::now() + WAIT;
    loop {
        let c = counts(admin);
        let read = c.read[0] + c.read[1];
        if read == total {
            return c;
        }
        assert!(
            read < total && Instant::now() < deadline,
            "read {:?}, expected {total} in all",
            c.read
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `K` OPTIONS from `carrier` on a thread pinned to `cpu`, each answered 200; returns the
/// owner shard of each (the Call-ID's hash).
fn options_from_cpu(carrier: &Ua, sip: SocketAddr, cpu: usize, tag: &str) -> Vec<u16> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                assert!(
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu }),
                    "cannot pin the sending thread to cpu {cpu}"
                );
                (0..K)
                    .map(|n| {
                        let call_id = format!("steer-{tag}-{cpu}-{n}");
                        let text = request(
                            "OPTIONS",
                            carrier.addr(),
                            sip,
                            "ping",
                            &call_id,
                            "o1",
                            1,
                            "",
                        );
                        carrier.send(sip, &text);
                        let (ok, _) = carrier.expect("200 to OPTIONS", WAIT, |m| {
                            m.header("call-id") == Some(call_id.as_str())
                        });
                        assert_eq!(ok.status(), Some(200), "{}", ok.raw);
                        owner_of_datagram(text.as_bytes(), 2).0
                    })
                    .collect()
            })
            .join()
            .expect("sender thread")
    })
}

/// Datagrams of `owners` a shard that read them all would pass on: those it does not own.
fn passed_by(reader: usize, owners: &[u16]) -> u64 {
    owners.iter().filter(|o| usize::from(**o) != reader).count() as u64
}

/// How the test starts handoff.
#[derive(Clone, Copy, PartialEq)]
enum Kernel {
    /// As it is: takes the program.
    Takes,
    /// A seccomp filter refuses SO_ATTACH_REUSEPORT_CBPF to the child.
    Refuses,
}

fn steering(io: &str, mode: &str, base: u16) {
    steering_with(io, mode, base, Kernel::Takes)
}

fn steering_with(io: &str, mode: &str, base: u16, kernel: Kernel) {
    assert!(netns::enter(), "needs a private network namespace (root)");
    let sip: SocketAddr = format!("127.0.0.1:{base}").parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", base + 1).parse().unwrap();
    let carrier = UdpSocket::bind(("127.0.0.1", base + 2)).unwrap();
    let platform = UdpSocket::bind(("127.0.0.1", base + 3)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("handoff.toml");
    std::fs::write(
        &config,
        format!(
            r#"[sbc]
listen = "{sip}"
advertise = "127.0.0.1"
admin = "{admin}"
options_interval_s = 0
shards = 2
cpus = [0, 1]
io = "{io}"
sip_steering = "{mode}"
media_ports = [{media}, {media_end}]
audit = "{audit}"

[[trunk]]
name = "carrier"
peer = "{carrier}"
country_code = "1"

[[trunk]]
name = "platform"
role = "platform"
peer = "{platform}"
country_code = "1"

[[route]]
from = "carrier"
to = "platform"
"#,
            media = base + 10,
            media_end = base + 50,
            audit = dir.path().join("audit.jsonl").display(),
            carrier = carrier.local_addr().unwrap(),
            platform = platform.local_addr().unwrap(),
        ),
    )
    .unwrap();
    let mut handoff = match kernel {
        Kernel::Takes => Handoff::start(&config),
        Kernel::Refuses => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
            // SAFETY: the hook only calls prctl(2), async-signal-safe, between fork and exec.
            unsafe { command.pre_exec(seccomp::refuse_reuseport_cbpf) };
            Handoff::start_command(command, &config)
        }
    };
    let line = handoff.wait_for_log("sip steering:", WAIT);
    let want = match (mode, kernel) {
        ("cpu", Kernel::Takes) => {
            "sip steering: cpu (the shard pinned to the receiving cpu reads: cpu 0 -> shard 0"
        }
        ("cpu", Kernel::Refuses) => {
            "sip steering: hash (sip_steering = \"cpu\", but the kernel refused \
             SO_ATTACH_REUSEPORT_CBPF: Operation not permitted"
        }
        _ => "sip steering: hash (the kernel picks",
    };
    assert!(line.contains(want), "{io}/{mode}: {line}");
    if kernel == Kernel::Refuses {
        assert!(
            line.contains("WARN"),
            "{io}/{mode}: the fallback is a warning: {line}"
        );
    }
    let mode = if kernel == Kernel::Refuses {
        "hash"
    } else {
        mode
    };
    let status = admin_support::request(admin, "GET", "/status", None, None, WAIT);
    let status: serde_json::Value = serde_json::from_str(&status.body).expect("/status JSON");
    assert_eq!(
        status["sip_steering"]["mode"], mode,
        "{io}/{mode}: /status {status}"
    );
    let carrier = Ua::new(carrier, "carrier");

    let first = options_from_cpu(&carrier, sip, 0, mode);
    let after_first = counts_when_read(admin, K as u64);
    let second = options_from_cpu(&carrier, sip, 1, mode);
    let after_second = counts_when_read(admin, 2 * K as u64);
    let (k, both) = (K as u64, 2 * K as u64);
    match mode {
        "cpu" => {
            assert_eq!(after_first.read, [k, 0], "{io}/cpu: read from cpu 0");
            assert_eq!(after_second.read, [k, k], "{io}/cpu: read from cpu 1");
            assert_eq!(
                after_second.passed,
                [passed_by(0, &first), passed_by(1, &second)],
                "{io}/cpu: passed on to their owners"
            );
        }
        _ => {
            // One ip:port: one shard reads everything, from both cpus.
            let reader = if after_second.read[0] == both { 0 } else { 1 };
            assert_eq!(
                after_second.read[reader], both,
                "{io}/hash: {:?}",
                after_second.read
            );
            assert_eq!(
                after_first.read[reader], k,
                "{io}/hash: {:?}",
                after_first.read
            );
            let all: Vec<u16> = first.iter().chain(&second).copied().collect();
            let mut passed = [0, 0];
            passed[reader] = passed_by(reader, &all);
            assert_eq!(after_second.passed, passed, "{io}/hash: passed on");
        }
    }
    // The owners' split is the Call-ID hash's, whoever read: both shards own some of 40.
    let owners: Vec<u16> = first.iter().chain(&second).copied().collect();
    assert!(
        owners.contains(&0) && owners.contains(&1),
        "{io}/{mode}: the Call-IDs all hash to one shard: {owners:?}"
    );
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn uring_cpu_steering_reads_on_the_receiving_cpus_shard() {
    steering("uring", "cpu", 41100);
}

#[test]
fn uring_hash_steering_reads_one_peer_on_one_shard() {
    steering("uring", "hash", 41200);
}

#[test]
fn epoll_cpu_steering_reads_on_the_receiving_cpus_shard() {
    steering("epoll", "cpu", 41300);
}

#[test]
fn epoll_hash_steering_reads_one_peer_on_one_shard() {
    steering("epoll", "hash", 41400);
}

#[test]
fn uring_cpu_steering_refused_falls_back_to_the_hash() {
    steering_with("uring", "cpu", 41500, Kernel::Refuses);
}

#[test]
fn epoll_cpu_steering_refused_falls_back_to_the_hash() {
    steering_with("epoll", "cpu", 41600, Kernel::Refuses);
}
