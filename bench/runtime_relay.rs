//! Relay throughput per core of the forwarding thread: handoff's relay (MediaRelay + RelayTable)
//! against the bare forwarder (same backend, sockets and batching, no SBC logic), on io_uring
//! and on epoll, in one run; and io_uring on the forms of a Linux 5.15 kernel (`u5.15`: sockets
//! bound with bind(2), single-shot receives, SENDMSG; `UringFeatures::without("all")`).
//!
//! `cargo bench --bench runtime_relay -- [calls] [seconds]` (defaults: 500 calls, 3 s each).
//! Mode `pool`: the relay with every port opened at start-up (`Backend::open_media_ports`,
//! issue 12), against `relay`, whose calls bind their own sockets.
//!
//! One forwarding thread per case. A generator thread sends 172-byte RTP packets round-robin
//! from each call's leg-A client socket to handoff's leg-A port as fast as it can; the packets
//! leave from leg B toward the leg-B client (never read: the kernel drops them there, which
//! costs the forwarder nothing). Reported: packets forwarded per second of wall time, and per
//! second of the forwarding thread's own CPU time (utime + stime from /proc/thread-self/stat),
//! i.e. "per core". Loopback and a shared 2-core machine: compare columns of the same run.

#[path = "../tests/runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use handoff::core::{CallRef, MediaCommand, MediaLeg, ShardId, Time};
use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::bare::BareForwarder;
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::{UringBackend, UringFeatures};
use handoff::runtime::uring_sys::{self, SendItem, SendScratch};
use std::os::fd::AsRawFd;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3; utime and stime are fields 14 and 15.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
    p.resize(172, 0xd5);
    p
}

struct Case {
    io: &'static str,
    mode: &'static str,
}

struct Outcome {
    forwarded: u64,
    dropped: u64,
    received: u64,
    wall: f64,
    cpu: f64,
    sent: u64,
}

fn make_backend(io: &str, max_media: usize) -> Box<dyn Backend> {
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let waker = ShardWaker::new().unwrap();
    match io {
        "uring" => Box::new(UringBackend::new(sip, waker, max_media).unwrap()),
        // io_uring on the forms of a Linux 5.15 kernel (every newer feature left unused).
        "u5.15" => Box::new(
            UringBackend::with_features(sip, waker, max_media, UringFeatures::without("all").0)
                .unwrap(),
        ),
        _ => Box::new(EpollBackend::new(sip, waker, max_media).unwrap()),
    }
}

fn run_case(case: &Case, calls: usize, seconds: f64, port_base: u16) -> Outcome {
    let a_clients: Vec<UdpSocket> = (0..calls)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let b_clients: Vec<UdpSocket> = (0..calls)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let a_addrs: Vec<SocketAddr> = a_clients.iter().map(|s| s.local_addr().unwrap()).collect();
    let b_addrs: Vec<SocketAddr> = b_clients.iter().map(|s| s.local_addr().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let mode = case.mode;
    let io = case.io;
    let stop_fwd = stop.clone();
    let forwarder = std::thread::spawn(move || {
        let mut backend = make_backend(io, calls * 4 + 8);
        if mode == "pool" {
            // Issue 12: every port opened at start-up, calls take their pairs from the pool.
            let end = port_base + (calls * 4) as u16;
            backend
                .open_media_ports(LOOPBACK, port_base, end, usize::MAX)
                .unwrap();
        }
        let mut relay = MediaRelay::new(LOOPBACK);
        let mut bare = BareForwarder::new();
        for i in 0..calls {
            let a_port = port_base + (i as u16) * 4;
            let b_port = a_port + 2;
            if mode == "bare" {
                bare.add_pair(&mut *backend, LOOPBACK, a_port, b_port)
                    .unwrap();
            } else {
                let leg = |port, remote| MediaLeg {
                    local_port: port,
                    remote_rtp: Some(remote),
                    remote_rtcp: None,
                    rtcp_mux: false,
                    // The bench's peers are on loopback: the trunk's peer IP.
                    sources: handoff::core::MediaSources {
                        peer: Some(LOOPBACK),
                        ..Default::default()
                    },
                };
                relay
                    .command(
                        &mut *backend,
                        MediaCommand::Open {
                            call: CallRef {
                                shard: ShardId(0),
                                seq: i as u64,
                            },
                            a: leg(a_port, a_addrs[i]),
                            b: leg(b_port, b_addrs[i]),
                        },
                    )
                    .unwrap();
            }
        }
        ready_tx.send(()).unwrap();
        let cpu_start = thread_cpu_seconds();
        let started = Instant::now();
        while !stop_fwd.load(Ordering::Relaxed) {
            backend.wait(Some(Duration::from_millis(50))).unwrap();
            backend
                .dispatch(&mut |incoming, outbox| {
                    if let Incoming::Media {
                        socket,
                        from,
                        payload,
                    } = incoming
                    {
                        if mode == "bare" {
                            bare.on_packet(socket, from, payload, outbox);
                        } else {
                            relay.on_packet(Time::ZERO, socket, from, payload, outbox);
                        }
                    }
                })
                .unwrap();
            backend.flush().unwrap();
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = thread_cpu_seconds() - cpu_start;
        let (forwarded, dropped) = if mode == "bare" {
            (bare.forwarded, bare.dropped)
        } else {
            (relay.stats().relayed, relay.stats().dropped)
        };
        let received = backend.stats().media_received;
        (forwarded, dropped, received, wall, cpu)
    });
    ready_rx.recv().unwrap();
    // Bare forwarding learns leg B's destination from a first packet.
    for (i, b) in b_clients.iter().enumerate() {
        let b_port = port_base + (i as u16) * 4 + 2;
        b.send_to(&rtp(0), (LOOPBACK, b_port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // One generator thread (the other core is the forwarder's), sendmmsg bursts of BURST
    // packets per client socket.
    const GENERATORS: usize = 1;
    const BURST: usize = 8;
    let packet = rtp(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let a_clients = Arc::new(a_clients);
    let generators: Vec<_> = (0..GENERATORS)
        .map(|g| {
            let a_clients = a_clients.clone();
            let packet = packet.clone();
            std::thread::spawn(move || {
                let mut scratch = SendScratch::new(BURST);
                let mut errors = 0u64;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    for (i, a) in a_clients.iter().enumerate().skip(g).step_by(GENERATORS) {
                        let to = SocketAddr::new(LOOPBACK, port_base + (i as u16) * 4);
                        let items: [SendItem<'_>; BURST] = std::array::from_fn(|_| SendItem {
                            to,
                            payload: &packet,
                        });
                        sent +=
                            uring_sys::sendmmsg(a.as_raw_fd(), &items, &mut scratch, &mut errors)
                                as u64;
                    }
                }
                sent
            })
        })
        .collect();
    let sent: u64 = generators.into_iter().map(|g| g.join().unwrap()).sum();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let (forwarded, dropped, received, wall, cpu) = forwarder.join().unwrap();
    Outcome {
        forwarded,
        dropped,
        received,
        wall,
        cpu,
        sent,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
    // then gets a short smoke run instead of the measurement.
    let measuring = std::env::args().any(|a| a == "--bench");
    // Its fixed media ports (25000..) must not collide with another run on the machine (another
    // checkout's `cargo test --all-targets` runs this too): a private network namespace.
    netns::enter();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (default_calls, default_seconds) = if measuring { (500, 3.0) } else { (4, 0.2) };
    let calls: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_calls);
    let seconds: f64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_seconds);
    println!("relay throughput, {calls} calls, {seconds} s per case, one forwarding thread");
    println!(
        "{:<6} {:<6} {:>12} {:>12} {:>12} {:>14} {:>8} {:>9}",
        "io", "mode", "sent pkt/s", "recv pkt/s", "fwd pkt/s", "fwd pkt/cpu-s", "cpu %", "dropped"
    );
    let cases = [
        Case {
            io: "uring",
            mode: "bare",
        },
        Case {
            io: "uring",
            mode: "relay",
        },
        Case {
            io: "epoll",
            mode: "bare",
        },
        Case {
            io: "epoll",
            mode: "relay",
        },
        Case {
            io: "u5.15",
            mode: "bare",
        },
        Case {
            io: "u5.15",
            mode: "relay",
        },
        // The relay with the ports pre-opened (what handoff runs since issue 12).
        Case {
            io: "uring",
            mode: "pool",
        },
        Case {
            io: "epoll",
            mode: "pool",
        },
        Case {
            io: "u5.15",
            mode: "pool",
        },
    ];
    let mut per_core = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        // Away from the tests' media ports (9600..12000), below the ephemeral ports.
        let base = 25000 + (k as u16 % 2) * 3600;
        let o = run_case(case, calls, seconds, base);
        let rate = o.forwarded as f64 / o.wall;
        let per_cpu = if o.cpu > 0.0 {
            o.forwarded as f64 / o.cpu
        } else {
            0.0
        };
        per_core.push(per_cpu);
        println!(
            "{:<6} {:<6} {:>12.0} {:>12.0} {:>12.0} {:>14.0} {:>7.0}% {:>9}",
            case.io,
            case.mode,
            o.sent as f64 / o.wall,
            o.received as f64 / o.wall,
            rate,
            per_cpu,
            100.0 * o.cpu / o.wall,
            o.dropped
        );
    }
    if per_core[0] > 0.0 && per_core[2] > 0.0 {
        println!(
            "relay/bare per core: uring {:.2}x, epoll {:.2}x",
            per_core[1] / per_core[0],
            per_core[3] / per_core[2]
        );
    }
    if per_core[1] > 0.0 {
        println!(
            "io_uring on the Linux 5.15 forms / all features, relay per core: {:.2}x",
            per_core[5] / per_core[1]
        );
    }
    if per_core[1] > 0.0 && per_core[3] > 0.0 && per_core[5] > 0.0 {
        println!(
            "relay with pre-opened ports / per-call sockets, per core: uring {:.2}x, epoll {:.2}x, u5.15 {:.2}x",
            per_core[6] / per_core[1],
            per_core[7] / per_core[3],
            per_core[8] / per_core[5]
        );
    }
}
