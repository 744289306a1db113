//! The media side of a call's set-up and teardown, per call: `MediaCommand::Open` (two legs,
//! RTP + RTCP each) and, `window` calls later, `MediaCommand::Close`, through the real
//! `MediaRelay` and backend, on io_uring, on io_uring's Linux 5.15 forms (`u5.15`) and on epoll;
//! each with the ports pre-opened at start-up (`pool`: issue 12, what handoff does now) and with
//! sockets created, bound and closed per call (`per-call`: what it did before). The loop turns
//! like a shard's (flush, then a non-blocking wait and dispatch every 64 calls), so the closes'
//! completions are reaped inside the measurement.
//!
//! `cargo bench --bench media_churn -- [calls] [window]` (defaults: 20,000 calls, 1,000 up at
//! once). Reported: calls per second of wall time, and microseconds of the thread's CPU time
//! (utime + stime from /proc/thread-self/stat) per call. A 2-core machine shared with other
//! work: compare the columns of one run.

#[path = "../tests/runtime_support/netns.rs"]
mod netns;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::core::{CallRef, MediaCommand, MediaLeg, ShardId};
use handoff::media::pool::PortPool;
use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::{UringBackend, UringFeatures};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PORT_BASE: u16 = 20000;

fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

fn make_backend(io: &str, max_media: usize) -> Box<dyn Backend> {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let waker = ShardWaker::new().unwrap();
    match io {
        "uring" => Box::new(UringBackend::new(sip, waker, max_media).unwrap()),
        "u5.15" => Box::new(
            UringBackend::with_features(sip, waker, max_media, UringFeatures::without("all").0)
                .unwrap(),
        ),
        _ => Box::new(EpollBackend::new(sip, waker, max_media).unwrap()),
    }
}

fn leg(port: u16, remote: SocketAddr) -> MediaLeg {
    MediaLeg {
        local_port: port,
        remote_rtp: Some(remote),
        remote_rtcp: None,
        rtcp_mux: false,
        sources: handoff::core::MediaSources {
            peer: Some(LOOPBACK),
            ..Default::default()
        },
    }
}

/// (calls per wall second, CPU µs per call, start-up ms to open the pool)
fn run(io: &str, pooled: bool, calls: usize, window: usize) -> (f64, f64, f64) {
    let ports = 4 * (window + 64);
    let end = PORT_BASE + ports as u16;
    let mut backend = make_backend(io, ports + 8);
    let opening = Instant::now();
    if pooled {
        let opened = backend
            .open_media_ports(LOOPBACK, PORT_BASE, end, usize::MAX)
            .unwrap();
        assert_eq!(opened.rtp_ports.len(), ports / 2, "{io}: {opened:?}");
    }
    let open_ms = opening.elapsed().as_secs_f64() * 1000.0;
    let mut relay = MediaRelay::new(LOOPBACK);
    let mut pool = PortPool::from_slice(PORT_BASE, end);
    let remote: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut up: VecDeque<(CallRef, u16, u16)> = VecDeque::with_capacity(window + 1);
    let turn = |backend: &mut Box<dyn Backend>| {
        backend.flush().unwrap();
        backend.wait(Some(Duration::ZERO)).unwrap();
        backend.dispatch(&mut |_, _| {}).unwrap();
    };
    let cpu0 = thread_cpu_seconds();
    let t0 = Instant::now();
    for i in 0..calls {
        if up.len() == window {
            let (call, a, b) = up.pop_front().unwrap();
            relay
                .command(&mut *backend, MediaCommand::Close { call })
                .unwrap();
            pool.release(a).unwrap();
            pool.release(b).unwrap();
        }
        let call = CallRef {
            shard: ShardId(0),
            seq: i as u64,
        };
        let (a, b) = (pool.allocate().unwrap(), pool.allocate().unwrap());
        relay
            .command(
                &mut *backend,
                MediaCommand::Open {
                    call,
                    a: leg(a, remote),
                    b: leg(b, remote),
                },
            )
            .unwrap_or_else(|e| panic!("{io} pooled={pooled}: call {i}: {e}"));
        up.push_back((call, a, b));
        if i % 64 == 63 {
            turn(&mut backend);
        }
    }
    turn(&mut backend);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu0;
    (calls as f64 / wall, cpu * 1e6 / calls as f64, open_ms)
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    netns::enter();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (default_calls, default_window) = if measuring {
        (20_000, 1_000)
    } else {
        (200, 20)
    };
    let calls: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_calls);
    let window: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_window);
    println!("media set-up + teardown per call: {calls} calls, {window} up at once, one thread");
    println!(
        "{:<6} {:<9} {:>12} {:>14} {:>16} {:>14}",
        "io", "sockets", "calls/s", "cpu us/call", "pool open ms", "cpu ratio"
    );
    for io in ["uring", "u5.15", "epoll"] {
        let (per_call_rate, per_call_cpu, _) = run(io, false, calls, window);
        let (pool_rate, pool_cpu, open_ms) = run(io, true, calls, window);
        println!(
            "{:<6} {:<9} {:>12.0} {:>14.2} {:>16} {:>14}",
            io, "per-call", per_call_rate, per_call_cpu, "-", "1.00"
        );
        println!(
            "{:<6} {:<9} {:>12.0} {:>14.2} {:>16.1} {:>14.3}",
            io,
            "pool",
            pool_rate,
            pool_cpu,
            open_ms,
            pool_cpu / per_call_cpu
        );
    }
}
