//! A supervisor (systemd's `Restart=`, a deploy script) stops handoff and starts it again at
//! once. The new process must bind its SIP port on the first try and serve, and get every media
//! port of the range: 20 stop/start cycles in a row on each backend form, each new process
//! started the moment the old one exited, with a media range of the default's size (20,000
//! ports over 2 shards), every port of which the old process held.
//!
//! What makes it hold (issue 12, "restart in under 100 ms"):
//! - a shard frees its SIP port itself before it returns (`Backend::shut_down`): on io_uring the
//!   kernel tears a ring down later, in a worker, and an armed receive would keep the port bound
//!   for up to a second;
//! - on io_uring the media sockets are left to that teardown, so the new process may find some
//!   still held: it serves SIP first and opens its media pool from the shard loop, trying a pair
//!   found in use again for a while (`runtime/pool_open.rs`) rather than leaving it out.
//!
//! So each cycle asserts: the new process answers an OPTIONS (it serves), its pool is complete
//! with no pair refused, and nothing in either process's log says "in use". How long a cycle
//! takes is measured, not asserted: perf/restart.sh (perf/results/restart-*.md).
//!
//! Ports. 20,000 media ports cannot be kept clear of other tests and processes in the shared
//! network namespace, but the test runs in a private one (`runtime_support::netns`, as root):
//! there the range is [12768, 32768), the default's size, ending where the kernel's ephemeral
//! range (32768-60999) starts, so the test's own port-0 sockets (its trunks) never take one;
//! the SIP port moves to 5060, out of it. Without a private namespace (not root) the test falls
//! back to the 100-port range of the other runtime tests, and says so.

mod runtime_support;

use std::net::SocketAddr;

use runtime_support::ua::{Ua, request};
use runtime_support::{Handoff, WAIT, netns, setup};

/// The default `media_ports` holds 20,000 ports ([20000, 40000)).
const DEFAULT_RANGE_PORTS: u16 = 20_000;
const PRIVATE_RANGE_START: u16 = 12_768;
const PRIVATE_SIP_PORT: u16 = 5060;

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

fn restarts_at_once(io: &str, without: Option<&str>, small_range: u16) {
    let mut s = setup(io, small_range, 2, 30);
    let (media_start, media_ports) = if netns::is_private() {
        // Move SIP out of the large range, and widen the range to the default's size.
        let sip = SocketAddr::from(([127, 0, 0, 1], PRIVATE_SIP_PORT));
        let text = std::fs::read_to_string(&s.config_path).unwrap();
        let text = text
            .replace(
                &format!("listen = \"{}\"", s.sip),
                &format!("listen = \"{sip}\""),
            )
            .replace(
                &format!("media_ports = [{small_range}, {}]", small_range + 100),
                &format!(
                    "media_ports = [{PRIVATE_RANGE_START}, {}]",
                    PRIVATE_RANGE_START + DEFAULT_RANGE_PORTS
                ),
            );
        assert!(text.contains("media_ports = [12768, 32768]"), "{text}");
        std::fs::write(&s.config_path, text).unwrap();
        s.sip = sip;
        (PRIVATE_RANGE_START, DEFAULT_RANGE_PORTS)
    } else {
        eprintln!(
            "note: no private network namespace: the restart test uses the 100-port range \
             [{small_range}, {}) instead of 20,000 ports",
            small_range + 100
        );
        (small_range, 100)
    };
    let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
    let start = || -> Handoff {
        match without {
            Some(w) => Handoff::start_with_env(&s.config_path, &[("HANDOFF_URING_WITHOUT", w)]),
            None => Handoff::start(&s.config_path),
        }
    };
    // `start` panics with the log if the process exits before serving (a busy SIP port), and
    // waits for "media pool complete".
    let mut handoff = start();
    for cycle in 1..=20 {
        handoff.signal("TERM");
        let status = handoff
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("{io}: cycle {cycle}: no exit after SIGTERM"));
        assert!(
            status.success(),
            "{io}: cycle {cycle}: exit {status}:\n{}",
            handoff.log.join("\n")
        );
        assert_eq!(
            handoff.count_log("in use"),
            0,
            "{io}: cycle {cycle}, the old process:\n{}",
            handoff.log.join("\n")
        );
        // At once, as a supervisor does: the old process's ring may still be torn down.
        handoff = start();
        // It serves: an OPTIONS from a trunk is answered.
        let call_id = format!("restart-{io}-{cycle}");
        carrier.send(
            s.sip,
            &request(
                "OPTIONS",
                carrier.addr(),
                s.sip,
                "ping",
                &call_id,
                "r",
                1,
                "",
            ),
        );
        let (answer, _) = carrier.expect("a response to the OPTIONS", WAIT, |m| {
            m.header("call-id") == Some(call_id.as_str())
        });
        assert_eq!(answer.status(), Some(200), "{io}: cycle {cycle}");
        // Every pair of the range is open, none refused: ports the old process still held
        // were tried again until free.
        handoff.drain_log();
        let lines: Vec<String> = handoff
            .log
            .iter()
            .filter(|l| l.contains("media ports opened at start-up"))
            .cloned()
            .collect();
        assert_eq!(lines.len(), 2, "{io}: cycle {cycle}: {lines:?}");
        let mut opened = 0;
        for line in &lines {
            assert_eq!(
                field(line, "refused_pairs"),
                0,
                "{io}: cycle {cycle}: {line}"
            );
            opened += field(line, "media_ports") + 2 * field(line, "over_descriptor_budget_pairs");
        }
        assert_eq!(
            opened,
            u64::from(media_ports),
            "{io}: cycle {cycle}: ports [{media_start}, +{media_ports}) not all opened or over \
             the descriptor budget: {lines:?}"
        );
        assert_eq!(
            handoff.count_log("in use"),
            0,
            "{io}: cycle {cycle}, the new process:\n{}",
            handoff.log.join("\n")
        );
    }
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn uring_restarts_twenty_times_at_once() {
    restarts_at_once("uring", None, 11800);
}

#[test]
fn uring_5_15_forms_restart_twenty_times_at_once() {
    restarts_at_once("uring", Some("all"), 11700);
}

#[test]
fn epoll_restarts_twenty_times_at_once() {
    restarts_at_once("epoll", None, 11900);
}
