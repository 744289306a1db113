//! Issue 12, "No socket syscalls per call": "Each shard opens and binds its slice of the media
//! ports once, at start-up ... A call takes a free pair from the pool and returns it. A call
//! never creates, binds or closes a socket. ... On epoll, handoff prints its ceiling at start-up
//! and refuses calls beyond it with 503."
//!
//! Against the real binary, on io_uring (every feature, and the Linux 5.15 forms through
//! `HANDOFF_URING_WITHOUT=all`) and on epoll:
//! - `strace -f -e trace=socket,bind,close` attached to the running handoff sees no such system
//!   call while calls are set up, carry RTP and end (the old code made 4 socket + 4 bind +
//!   4 close per call on epoll and on the 5.15 forms);
//! - the process's descriptor count (/proc/PID/fd) is the same with calls up as when idle (the
//!   old epoll code opened 4 descriptors per call);
//! - the backend's own counters, in the "drained, stopping" line: media sockets created equals
//!   the ports opened at start-up, none closed, a pool take per leg (the full io_uring form
//!   creates sockets with IORING_OP_SOCKET, which strace cannot see).
//!
//! strace must be installed (Debian package `strace`); the test fails, never skips, without it.

mod runtime_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::ua::{request, sdp};
use runtime_support::{Handoff, WAIT, setup};

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// `strace -f -e trace=socket,bind,close` attached to `pid`, writing to `out`; returns once
/// strace says it attached to every thread.
fn attach_strace(pid: u32, out: &std::path::Path) -> Child {
    let mut child = Command::new("strace")
        .args(["-f", "-e", "trace=socket,bind,close", "-o"])
        .arg(out)
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "cannot run strace (install the Debian package `strace`): this test needs it to \
             count handoff's socket system calls",
        );
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut attached = 0;
    let mut seen = Vec::new();
    while attached < threads {
        assert!(
            Instant::now() < deadline,
            "strace did not attach to handoff's {threads} threads: {seen:?}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            // "Process N attached with T threads", or one "attached" line per thread.
            if line.contains("attached with") {
                attached = threads;
            } else if line.contains("attached") {
                attached += 1;
            }
            seen.push(line);
        } else if let Ok(Some(status)) = child.try_wait() {
            panic!("strace exited ({status}) without attaching (ptrace not permitted?): {seen:?}");
        }
    }
    child
}

fn stop_strace(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "strace did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the audit file holds `n` `call_end` records.
fn wait_for_call_ends(audit: &std::path::Path, n: usize, label: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(audit).unwrap_or_default();
        let ends = text
            .lines()
            .filter(|l| l.contains("\"type\":\"call_end\""))
            .count();
        if ends >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: {ends} of {n} call_end records in {}",
            audit.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `key=value` field of a log line, as a number.
fn field(line: &str, key: &str) -> u64 {
    let start = line
        .find(&format!(" {key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
        + key.len()
        + 2;
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key}= is not a number in {line}"))
}

#[test]
fn calls_make_no_socket_system_calls() {
    let runs: [(&str, Option<&str>, u16); 3] = [
        ("uring", None, 14100),
        ("uring", Some("all"), 14200),
        ("epoll", None, 14300),
    ];
    const CALLS: usize = 3;
    for (io, without, base) in runs {
        let label = format!(
            "{io}{}",
            without.map(|w| format!("-without-{w}")).unwrap_or_default()
        );
        let s = setup(io, base, 2, 30);
        let mut handoff = match without {
            Some(w) => Handoff::start_with_env(&s.config_path, &[("HANDOFF_URING_WITHOUT", w)]),
            None => Handoff::start(&s.config_path),
        };
        let pid = handoff.child.id();
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        // A first call outside the trace: whatever a first call touches once (lazy statics,
        // thread-local buffers) is not per call.
        let mut warm = establish(s.sip, &carrier, &platform, &format!("warm-{label}"));
        exchange_rtp(&warm, &carrier, &platform, 0, 3);
        hang_up_from_carrier(s.sip, &mut warm, &carrier, &platform);

        let idle_fds = fd_count(pid);
        let trace = s.dir.path().join("strace.out");
        let strace = attach_strace(pid, &trace);
        let mut calls = Vec::new();
        for n in 0..CALLS {
            let call = establish(s.sip, &carrier, &platform, &format!("pool-{label}-{n}"));
            exchange_rtp(&call, &carrier, &platform, (n * 10) as u16, 3);
            calls.push(call);
        }
        let busy_fds = fd_count(pid);
        for mut call in calls {
            hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        }
        // Every call's end is on record (the warm one too): its media went back to the pool in
        // that loop turn, so a close (old code: IORING_OP_CLOSE, close(2)) has happened by now.
        wait_for_call_ends(&s.audit_path, CALLS + 1, &label);
        let after_fds = fd_count(pid);
        stop_strace(strace);
        let traced = std::fs::read_to_string(&trace).unwrap_or_default();
        let syscalls: Vec<&str> = traced
            .lines()
            .filter(|l| l.contains("socket(") || l.contains("bind(") || l.contains("close("))
            .collect();
        assert!(
            syscalls.is_empty(),
            "{label}: {CALLS} calls made socket system calls:\n{}",
            syscalls.join("\n")
        );
        assert_eq!(
            (busy_fds, after_fds),
            (idle_fds, idle_fds),
            "{label}: descriptors idle {idle_fds}, with {CALLS} calls up {busy_fds}, after {after_fds}"
        );

        // 100 ports, 2 shards: 50 ports (25 pairs) each, all opened at start-up.
        let mut opened_ports = 0;
        for shard in 0..2 {
            let line = handoff.wait_for_log(&format!("shard={shard} media_ports="), WAIT);
            assert!(
                line.contains("media ports opened at start-up"),
                "{label}: {line}"
            );
            assert_eq!(field(&line, "media_ports"), 50, "{label}: {line}");
            assert_eq!(field(&line, "concurrent_calls"), 12, "{label}: {line}");
            opened_ports += field(&line, "media_ports");
        }
        handoff.signal("TERM");
        assert!(
            handoff.wait_exit(WAIT).is_some_and(|s| s.success()),
            "{label}"
        );
        let drained: Vec<String> = handoff
            .log
            .iter()
            .filter(|l| l.contains("drained, stopping"))
            .cloned()
            .collect();
        assert_eq!(drained.len(), 2, "{label}: {drained:?}");
        let sum = |key: &str| drained.iter().map(|l| field(l, key)).sum::<u64>();
        assert_eq!(
            sum("media_sockets_created"),
            opened_ports,
            "{label}: {drained:?}"
        );
        assert_eq!(sum("media_sockets_closed"), 0, "{label}: {drained:?}");
        // Two legs per call, the warm-up call included; each pair given back.
        let legs = 2 * (CALLS as u64 + 1);
        assert_eq!(sum("media_pool_takes"), legs, "{label}: {drained:?}");
        assert_eq!(sum("media_pool_returns"), legs, "{label}: {drained:?}");
    }
}

/// On epoll every media socket is a descriptor of the process: under a hard RLIMIT_NOFILE of
/// 84, one shard may hold 84 - 64 (reserve) - 8 (per shard) = 12 sockets, 6 pairs, 3 calls.
/// handoff prints that ceiling at start-up; a fourth concurrent call gets 503; a call that ends
/// gives its pairs back, and the next call has media again.
#[test]
fn epoll_prints_its_ceiling_and_refuses_calls_beyond_it_with_503() {
    let s = setup("epoll", 14400, 1, 30);
    let mut handoff = Handoff::start_with_nofile_limit(&s.config_path, 84);
    let line = handoff.wait_for_log("shard=0 media_ports=", WAIT);
    assert_eq!(field(&line, "media_ports"), 12, "{line}");
    assert_eq!(field(&line, "concurrent_calls"), 3, "{line}");
    assert!(line.contains("ceiling: 3 concurrent calls"), "{line}");
    handoff.wait_for_log("RLIMIT_NOFILE is the ceiling", WAIT);

    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let mut calls: Vec<_> = (0..3)
        .map(|n| {
            let call = establish(s.sip, &carrier, &platform, &format!("ceiling-{n}"));
            exchange_rtp(&call, &carrier, &platform, (n * 10) as u16, 3);
            call
        })
        .collect();

    carrier.ua.send(
        s.sip,
        &request(
            "INVITE",
            carrier.ua.addr(),
            s.sip,
            "+15550001111",
            "ceiling-over",
            "atag",
            1,
            &sdp(carrier.rtp_port()),
        ),
    );
    let (refused, _) = carrier.ua.expect("a final response", WAIT, |m| {
        m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200)
    });
    assert_eq!(refused.status(), Some(503), "{}", refused.first_line);

    // One call ends: its pairs go back to the pool, and the next call has media.
    let mut first = calls.remove(0);
    hang_up_from_carrier(s.sip, &mut first, &carrier, &platform);
    let mut next = establish(s.sip, &carrier, &platform, "ceiling-after");
    exchange_rtp(&next, &carrier, &platform, 100, 3);
    hang_up_from_carrier(s.sip, &mut next, &carrier, &platform);
    for mut call in calls {
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
    }
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

/// "Packets arriving on a pair no call holds are dropped and counted": a stale sender keeps
/// sending to a call's ports after it ended. Its packets are received and dropped while the pair
/// is free (they neither reach anyone nor wait in a socket buffer), and when the pair serves a
/// later call that call's counters hold its own packets only: the relay's slots (latch, strict
/// sources, counters) start afresh. One shard, 50 pairs: the FIFO pool gives the first call's
/// pairs again to the 26th call.
#[test]
fn a_stale_sender_reaches_no_later_call_on_its_pair() {
    for (i, io) in runtime_support::BACKENDS.iter().enumerate() {
        let s = setup(io, 14500 + i as u16 * 100, 1, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let mut first = establish(s.sip, &carrier, &platform, &format!("stale-first-{io}"));
        exchange_rtp(&first, &carrier, &platform, 0, 3);
        let ports = [first.handoff_rtp_for_a, first.handoff_rtp_for_b];
        hang_up_from_carrier(s.sip, &mut first, &carrier, &platform);

        // The stale sender: an allowed source (the trunks' peer IP), to both freed RTP ports.
        let stale = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for seq in 0..20u16 {
            for port in ports {
                stale
                    .send_to(&runtime_support::call::rtp_packet(1000 + seq), port)
                    .unwrap();
            }
        }
        let mut buf = [0u8; 2048];
        for (name, socket) in [("carrier", &carrier.rtp), ("platform", &platform.rtp)] {
            socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            assert!(
                socket.recv_from(&mut buf).is_err(),
                "{io}: a stale packet to a free pair reached the {name}"
            );
            socket
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
        }
        // 24 calls take the other 48 pairs; the 26th call gets the first call's pairs again.
        for n in 0..24 {
            let mut call = establish(s.sip, &carrier, &platform, &format!("stale-{io}-{n}"));
            hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        }
        let mut reuse = establish(s.sip, &carrier, &platform, &format!("stale-reuse-{io}"));
        assert_eq!(
            [reuse.handoff_rtp_for_a, reuse.handoff_rtp_for_b],
            ports,
            "{io}: the pool did not give the first call's pairs again"
        );
        let sent = exchange_rtp(&reuse, &carrier, &platform, 100, 5);
        hang_up_from_carrier(s.sip, &mut reuse, &carrier, &platform);
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()), "{io}");

        let text = std::fs::read_to_string(&s.audit_path).unwrap();
        let record: serde_json::Value = text
            .lines()
            .rfind(|l| l.contains("\"call_end\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .expect("call_end records");
        let media = &record["media"];
        let a_to_b = media["a_to_b_packets"].as_u64().unwrap();
        let b_to_a = media["b_to_a_packets"].as_u64().unwrap();
        assert!(
            (5..=sent.a_to_b).contains(&a_to_b) && (5..=sent.b_to_a).contains(&b_to_a),
            "{io}: the reused pair's call counted packets it was not sent: {media} (sent {sent:?})"
        );
        assert_eq!(media["dropped"], 0, "{io}: {media}");
        let drained = handoff
            .log
            .iter()
            .find(|l| l.contains("drained, stopping"))
            .cloned()
            .unwrap();
        assert!(
            field(&drained, "media_dropped_unheld_port") >= 40,
            "{io}: stale packets not counted as dropped on a free pair: {drained}"
        );
    }
}
