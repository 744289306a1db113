//! perf/relay: the RTP load generator that measures handoff's media relay against a bare
//! forwarder, in the same run, at the same load. See perf/README.md.
//!
//! For every (N calls, backend) pair it runs two systems under test (SUT), one after the other,
//! each as its own process pinned to `--relay-cpu` (the generator is pinned to `--generator-cpu`):
//! - `bare`: this program re-executed as `relay bare`, which drives
//!   `handoff::runtime::bare::BareForwarder` over the same backend code (same sockets: an RTP and
//!   an RTCP socket per leg, same batching and outbox) with no SBC logic;
//! - `handoff`: the real release binary with one shard, N calls set up by SIP through it (this
//!   program is the carrier UAC and the platform UAS).
//!
//! Then every call sends 50 packets/s per direction (172-byte RTP, G.711 20 ms) for the warm-up
//! and the measured window. Reported: offered and relayed packets/s, loss, one-way latency
//! (send timestamp in the payload, same clock on both ends) p50/p99/p99.9, the SUT's CPU from
//! /proc/<pid>/stat (utime+stime) as cores used, CPU per 100k packets/s and packets/s per core,
//! handoff/bare per core, and handoff's memory per established call (RSS delta / calls).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, IoSliceMut, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use handoff::runtime::backend::{Backend, BackendError, ShardWaker};
use handoff::runtime::bare::{BareForwarder, run_bare};
use handoff::runtime::epoll::{Epoll, EpollBackend};
use handoff::runtime::uring::UringBackend;
use handoff::runtime::uring_sys::{self, SendItem, SendScratch};
use handoff::vocab::ownership::shard_for_call_id;
use hdrhistogram::Histogram;
use nix::sys::socket::{
    self, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, sockopt,
};
use nix::sys::time::TimeSpec;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOOPBACK_ANY: SocketAddr = SocketAddr::new(LOOPBACK, 0);
/// 12-byte RTP header + 160 bytes of G.711 (20 ms at 8 kHz).
const PACKET_LEN: usize = 172;
const PACKETS_PER_SECOND: u64 = 50;
/// Generator threads' scheduling granularity: calls are spread over their packet interval in
/// The generator's default slot: calls are spread over their packet interval in slots of this
/// many µs, and each slot's packets leave together.
const SLOT_US: u64 = 100;
/// Calls are spread over the 20 ms packet interval in 1 ms slots.
const SLOTS: usize = 20;
/// Generator sockets per side; calls share them (handoff latches per call, not per socket).
const GENERATOR_SOCKETS: usize = 8;
const MAGIC: u32 = 0x5245_4c59; // "RELY"
/// Calls set up in parallel through handoff.
const SETUP_WINDOW: usize = 200;

#[derive(Parser, Debug)]
#[command(
    name = "relay",
    about = "RTP relay load generator: handoff vs a bare forwarder"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Numbers of calls to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    calls: Vec<usize>,
    /// Backends to run, comma separated (uring, epoll).
    #[arg(long, value_delimiter = ',', default_value = "uring,epoll")]
    io: Vec<String>,
    /// Packets per second per direction per call (1000 / rate must be a whole number of ms:
    /// 50 = G.711 at 20 ms; 10 or 5 where the host cannot offer 50 for every call).
    #[arg(long, default_value_t = PACKETS_PER_SECOND)]
    rate: u64,
    /// Measured window per run, in seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The handoff binary (default: `handoff` in the directory above this example's).
    #[arg(long)]
    handoff: Option<PathBuf>,
    /// CPUs the system under test is pinned to, one per shard (handoff's shard `i`, or bare
    /// forwarder process `i`, on the `i`-th listed CPU). Its length is the number of shards.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    relay_cpu: Vec<usize>,
    /// Which systems under test to run, comma separated (bare, handoff).
    #[arg(long, value_delimiter = ',', default_value = "bare,handoff")]
    sut: Vec<String>,
    /// CPU the generator's threads are pinned to (default: not pinned; its sender and
    /// receiver then use whatever CPU time the SUT leaves).
    #[arg(long)]
    generator_cpu: Option<usize>,
    /// The generator's receiver reads every socket in turn without epoll (yielding its CPU
    /// after an empty round): its sockets then have no wait-queue entry, so the SUT's sends
    /// (on loopback the delivery into the generator's socket is part of the send) wake nobody
    /// and take no epoll lock the receiver also takes.
    #[arg(long)]
    generator_poll: bool,
    /// The generator's slot in µs: the packet interval is cut into slots and each slot's calls
    /// send together, so a slot's packets reach the SUT as one burst (1 ms slots at 1,000 calls:
    /// 100-packet bursts, whose queueing in the SUT is most of the measured latency). Must divide
    /// the packet interval (1,000,000 / rate µs).
    #[arg(long, default_value_t = SLOT_US)]
    slot_us: u64,
    /// First media port of the SUT; ports up to first + 4 x calls (+ 64 per shard) are used.
    /// Keep it below the ephemeral range (32768+), where other processes' sockets collide, or
    /// run the tool in a network namespace of its own (`scripts/perf.sh` does, as root).
    #[arg(long, default_value_t = 12000)]
    base_port: u16,
    /// After the calls are set up, wait this long before the media starts (handoff) and sample
    /// its RSS again: the set-up transactions (Timers D, J, K, L: 64 x T1 = 32 s) have expired
    /// by then, so the second sample is what an established call holds. 0: no second sample.
    #[arg(long, default_value_t = 33)]
    settle: u64,
    /// The marginal RSS per call: set up this share of the N calls first, wait `--settle`, sample
    /// handoff's RSS (R1, n1 calls), then set up the rest, wait `--settle` again, sample (R2, n2
    /// calls): marginal = (R2 - R1) / (n2 - n1), what one more established call costs with the
    /// start-up costs (buffers, maps' first growth, the pool's opening) out of it. 0: one step,
    /// no marginal figure. Needs `--settle` > 0.
    #[arg(long, default_value_t = 0.5)]
    marginal_split: f64,
    /// Also write the results as a markdown file here.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// (internal) The bare forwarder process: forwards `pairs` socket pairs until stdin closes.
    Bare {
        #[arg(long)]
        io: String,
        #[arg(long)]
        pairs: usize,
        #[arg(long)]
        base_port: u16,
        #[arg(long)]
        cpu: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Mode::Bare {
        io,
        pairs,
        base_port,
        cpu,
    }) = &cli.command
    {
        return bare_main(io, *pairs, *base_port, *cpu);
    }
    let handoff = match &cli.handoff {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("handoff"))
            .context("cannot locate the handoff binary; pass --handoff")?,
    };
    if !handoff.is_file() {
        bail!(
            "{} does not exist: build it (cargo build --release --bin handoff) or pass --handoff",
            handoff.display()
        );
    }
    if let Some(cpu) = cli.generator_cpu {
        pin(cpu);
    }
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let mut rows = Vec::new();
    if cli.io.iter().any(|io| io == "loopback") {
        // The generator alone: each side sends straight to the other side's sockets.
        let endpoints = Endpoints::bind()?;
        for &calls in &cli.calls {
            let plans: Vec<CallPlan> = (0..calls)
                .map(|i| CallPlan {
                    to_a: endpoints.b[Endpoints::socket_of(i)]
                        .local_addr()
                        .unwrap_or(LOOPBACK_ANY),
                    to_b: endpoints.a[Endpoints::socket_of(i)]
                        .local_addr()
                        .unwrap_or(LOOPBACK_ANY),
                })
                .collect();
            let mut r = drive(&cli, &endpoints, &plans, &[std::process::id()])?;
            r.sut = "loopback";
            report_row(&r);
        }
        return Ok(());
    }
    for &calls in &cli.calls {
        for io in &cli.io {
            let bare = if cli.sut.iter().any(|s| s == "bare") {
                eprintln!("== {calls} calls, io = {io}: bare forwarder");
                let bare = run_bare_sut(&cli, io, calls);
                report_row(&bare);
                Some(bare)
            } else {
                None
            };
            let sut = if cli.sut.iter().any(|s| s == "handoff") {
                eprintln!("== {calls} calls, io = {io}: handoff");
                let sut = run_handoff_sut(&cli, &handoff, io, calls);
                report_row(&sut);
                Some(sut)
            } else {
                None
            };
            rows.push((calls, io.clone(), bare, sut));
        }
    }
    let markdown = render(&cli, &command_line, &rows);
    println!("{markdown}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn pin(cpu: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!("warning: could not pin to cpu {cpu}");
    }
}

// ---------------------------------------------------------------------------------------------
// The bare forwarder child process

fn bare_main(io: &str, pairs: usize, base_port: u16, cpu: usize) -> anyhow::Result<()> {
    pin(cpu);
    let sip = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let max_media = pairs * 4;
    match io {
        "uring" => serve_bare(
            UringBackend::new(sip, ShardWaker::new()?, max_media)?,
            pairs,
            base_port,
        ),
        "epoll" => serve_bare(
            EpollBackend::new(sip, ShardWaker::new()?, max_media)?,
            pairs,
            base_port,
        ),
        other => bail!("unknown io backend {other:?} (uring or epoll)"),
    }
}

fn serve_bare<B: Backend>(mut backend: B, pairs: usize, base_port: u16) -> anyhow::Result<()> {
    let mut forwarder = BareForwarder::new();
    let mut opened = 0;
    for i in 0..pairs {
        let (a, b) = bare_ports(base_port, i);
        match forwarder.add_pair(&mut backend, LOOPBACK, a, b) {
            Ok(_) => opened += 1,
            // The host's socket limit (RLIMIT_NOFILE caps both the fd table and a ring's
            // registered-file table): forward the pairs that fit, as handoff does.
            Err(BackendError::MediaTableFull(_)) => break,
            Err(BackendError::MediaBind { source, .. })
                if source.raw_os_error() == Some(libc::EMFILE) =>
            {
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("pair {i} of {pairs}")),
        }
    }
    if opened < pairs {
        eprintln!("bare forwarder: only {opened} of {pairs} pairs fit the socket limit");
    }
    println!("ready {opened}");
    std::io::stdout().flush()?;
    // The parent closes our stdin to stop us.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        stop_flag.store(true, Ordering::Relaxed);
    });
    run_bare(&mut backend, &mut forwarder, &stop)?;
    eprintln!(
        "bare forwarder: forwarded {}, dropped {}",
        forwarder.forwarded, forwarder.dropped
    );
    Ok(())
}

/// The RTP ports of pair `i`'s two legs (each with its RTCP socket on port + 1).
fn bare_ports(base_port: u16, i: usize) -> (u16, u16) {
    let a = usize::from(base_port) + 4 * i;
    (a as u16, (a + 2) as u16)
}

// ---------------------------------------------------------------------------------------------
// Runs

#[derive(Default, Debug, Clone)]
struct RunResult {
    sut: &'static str,
    error: Option<String>,
    calls_up: usize,
    /// Calls whose media sockets the SUT could open (the host's socket limit caps them).
    calls_with_media: usize,
    target_pps: f64,
    offered_pps: f64,
    relayed_pps: f64,
    loss: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// The same from the kernel's receive stamps (see `Received::hop_ns`).
    hop_p50_us: f64,
    hop_p99_us: f64,
    hop_p999_us: f64,
    cores: f64,
    memory_per_call: Option<f64>,
    /// The same once the set-up transactions have expired (`--settle`), still before any media:
    /// what an established call holds.
    memory_per_established_call: Option<f64>,
    /// The slope between two established samples (`--marginal-split`): bytes of RSS one more
    /// established call adds.
    marginal_memory_per_call: Option<f64>,
    /// Kernel drops on the generator's receive sockets, from the window's start to the end of
    /// the run: loss the generator caused by falling behind.
    generator_drops: u64,
    /// Kernel drops on the SUT's media sockets over the same span: the SUT fell behind.
    sut_drops: u64,
}

impl RunResult {
    fn failed(sut: &'static str, error: String) -> RunResult {
        RunResult {
            sut,
            error: Some(error),
            ..RunResult::default()
        }
    }

    fn pps_per_core(&self) -> f64 {
        if self.cores > 0.0 {
            self.relayed_pps / self.cores
        } else {
            0.0
        }
    }

    /// The load held: every call had media, under 0.01% loss, and at least 95% of the target
    /// rate offered and relayed (the criterion of the "maximum load" search).
    fn holds(&self) -> bool {
        self.error.is_none()
            && self.calls_with_media == self.calls_up
            && self.loss < 0.0001
            && self.offered_pps >= 0.95 * self.target_pps
            && self.relayed_pps >= 0.95 * self.target_pps
    }

    /// % of one core per 100k relayed packets/s.
    fn cpu_per_100k(&self) -> f64 {
        if self.relayed_pps > 0.0 {
            self.cores * 100.0 * 100_000.0 / self.relayed_pps
        } else {
            0.0
        }
    }
}

fn report_row(r: &RunResult) {
    match &r.error {
        Some(e) => eprintln!("   {}: FAILED: {e}", r.sut),
        None => eprintln!(
            "   {}: {} calls up, offered {:.0} pps, relayed {:.0} pps, loss {:.3}%, p50 {:.0} µs, \
             p99 {:.0} µs, p99.9 {:.0} µs, hop p50/p99/p99.9 {:.0}/{:.0}/{:.0} µs, {:.2} cores, {:.1}% core per 100k pps, {:.0} pps/core, \
             kernel drops: generator {} SUT {}{}",
            r.sut,
            r.calls_up,
            r.offered_pps,
            r.relayed_pps,
            r.loss * 100.0,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.hop_p50_us,
            r.hop_p99_us,
            r.hop_p999_us,
            r.cores,
            r.cpu_per_100k(),
            r.pps_per_core(),
            r.generator_drops,
            r.sut_drops,
            r.memory_per_call
                .map(|m| format!(", {m:.0} bytes RSS per call"))
                .unwrap_or_default()
                + &r.memory_per_established_call
                    .map(|m| format!(", {m:.0} bytes per established call"))
                    .unwrap_or_default()
                + &r.marginal_memory_per_call
                    .map(|m| format!(", {m:.0} bytes marginal"))
                    .unwrap_or_default()
        ),
    }
}

/// A child process, killed on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_bare_sut(cli: &Cli, io: &str, calls: usize) -> RunResult {
    match bare_sut(cli, io, calls) {
        Ok(r) => r,
        Err(e) => RunResult::failed("bare", format!("{e:#}")),
    }
}

/// Waits until every port of `[start, end)` can be bound on loopback: an io_uring process's
/// direct descriptors are closed by the kernel some time after the process exits.
fn wait_ports_free(start: u16, end: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let busy = (usize::from(start)..end.min(65_536))
            .find(|&port| UdpSocket::bind((LOOPBACK, port as u16)).is_err());
        match busy {
            None => return Ok(()),
            Some(port) if Instant::now() > deadline => {
                bail!("media port {port} is still in use after 30 s")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn bare_sut(cli: &Cli, io: &str, calls: usize) -> anyhow::Result<RunResult> {
    wait_ports_free(cli.base_port, usize::from(cli.base_port) + 4 * calls)?;
    let exe = std::env::current_exe()?;
    // One forwarder process per SUT cpu, each with its share of the pairs (handoff's shards
    // likewise each hold their slice): each process has its own ring and registered-file table.
    let processes = cli.relay_cpu.len().max(1);
    let mut children = Vec::new();
    let mut plans: Vec<CallPlan> = Vec::new();
    let mut first = 0;
    for (k, cpu) in cli.relay_cpu.iter().enumerate() {
        let pairs = calls / processes + usize::from(k < calls % processes);
        let base_port = usize::from(cli.base_port) + 4 * first;
        let mut child = ChildGuard(
            Command::new(&exe)
                .args([
                    "bare",
                    "--io",
                    io,
                    "--pairs",
                    &pairs.to_string(),
                    "--base-port",
                    &base_port.to_string(),
                    "--cpu",
                    &cpu.to_string(),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting the bare forwarder")?,
        );
        let stdout = child.0.stdout.take().context("bare stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(opened) = line
            .strip_prefix("ready ")
            .and_then(|n| n.trim().parse::<usize>().ok())
        else {
            let _ = child.0.kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            let cause = err
                .lines()
                .take_while(|l| !l.contains("Stack backtrace"))
                .collect::<Vec<_>>();
            bail!(
                "the bare forwarder did not start: {}",
                cause.join(" ").trim()
            );
        };
        plans.extend((0..opened).map(|i| {
            let (a, b) = bare_ports(base_port as u16, i);
            CallPlan {
                to_a: SocketAddr::new(LOOPBACK, a),
                to_b: SocketAddr::new(LOOPBACK, b),
            }
        }));
        first += pairs;
        children.push(child);
    }
    let endpoints = Endpoints::bind()?;
    let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
    let mut result = drive(cli, &endpoints, &plans, &pids)?;
    result.sut = "bare";
    result.calls_up = calls;
    result.calls_with_media = plans.len();
    Ok(result)
}

fn run_handoff_sut(cli: &Cli, handoff: &Path, io: &str, calls: usize) -> RunResult {
    match handoff_sut(cli, handoff, io, calls) {
        Ok(r) => r,
        Err(e) => RunResult::failed("handoff", format!("{e:#}")),
    }
}

/// handoff's config for the generator's two sides: perf/two-trunks.toml, its placeholders
/// filled (every one must be).
fn two_trunks_config(values: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut config = include_str!("two-trunks.toml").to_owned();
    for (key, value) in values {
        config = config.replace(&format!("{{{key}}}"), value);
    }
    if let Some(at) = config.find('{') {
        bail!(
            "perf/two-trunks.toml: a placeholder is left: {}",
            &config[at..]
        );
    }
    Ok(config)
}

fn handoff_sut(cli: &Cli, handoff: &Path, io: &str, calls: usize) -> anyhow::Result<RunResult> {
    let dir = tempfile::tempdir()?;
    let uac = UdpSocket::bind("127.0.0.1:0")?;
    let uas = UdpSocket::bind("127.0.0.1:0")?;
    for socket in [&uac, &uas] {
        socket.set_nonblocking(true)?;
        let _ = socket2::SockRef::from(socket).set_recv_buffer_size(4 << 20);
    }
    let listen: SocketAddr = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let shards = cli.relay_cpu.len().max(1);
    // Each shard's slice holds its share of the calls (Call-IDs are chosen so the calls spread
    // evenly, see `call_id`) plus 16 spare pairs.
    let media_end = usize::from(cli.base_port) + 4 * calls + 64 * shards;
    if media_end > 65_535 {
        bail!("{calls} calls need ports {}..{media_end}", cli.base_port);
    }
    wait_ports_free(cli.base_port, media_end)?;
    let cpus = cli
        .relay_cpu
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let config = two_trunks_config(&[
        ("listen", &listen.to_string()),
        ("admin", "off"),
        ("shards", &shards.to_string()),
        ("io", io),
        ("media_start", &cli.base_port.to_string()),
        ("media_end", &media_end.to_string()),
        (
            "audit",
            &dir.path().join("audit.jsonl").display().to_string(),
        ),
        ("carrier", &uac.local_addr()?.to_string()),
        ("platform", &uas.local_addr()?.to_string()),
        // No media-timeout check: the calls have no media through the settles (up to 2 x 33 s
        // with `--marginal-split`), and handoff's default (60 s) would end the first half of
        // them before the last RSS sample.
        (
            "sbc_extra",
            &format!("cpus = [{cpus}]\nmedia_timeout_s = 0"),
        ),
    ])?;
    let config_path = dir.path().join("handoff.toml");
    std::fs::write(&config_path, config)?;
    let log_path = dir.path().join("handoff.log");
    let child = ChildGuard(
        Command::new(handoff)
            .arg("--config")
            .arg(&config_path)
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .spawn()
            .with_context(|| format!("starting {}", handoff.display()))?,
    );
    let pid = child.0.id();
    let log_tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    };
    wait_serving(&uac, listen).with_context(log_tail)?;
    // handoff serves SIP before its media pool is open (the pool opens from the shard loops
    // for up to ~0.5 s): the baseline waits until the RSS stops moving (two samples 250 ms
    // apart within 64 KiB, at most 5 s), so the pool's opening is not counted per call.
    let rss_serving = rss_bytes(pid)?;
    let mut rss_before = rss_serving;
    let settled_by = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settled_by {
        std::thread::sleep(Duration::from_millis(250));
        let rss = rss_bytes(pid)?;
        let moved = rss.abs_diff(rss_before) > 64 << 10;
        rss_before = rss;
        if !moved {
            break;
        }
    }
    eprintln!(
        "   handoff: RSS {:.1} MiB when it first answered OPTIONS, {:.1} MiB once it stopped moving (the baseline)",
        rss_serving as f64 / (1 << 20) as f64,
        rss_before as f64 / (1 << 20) as f64
    );
    // RELAY_SMAPS_DIR=dir: keep handoff's /proc/<pid>/smaps before and after the set-up there,
    // to see which mappings the per-call memory is in.
    let smaps_dir = std::env::var_os("RELAY_SMAPS_DIR").map(PathBuf::from);
    if let Some(dir) = &smaps_dir {
        let _ = std::fs::copy(
            format!("/proc/{pid}/smaps"),
            dir.join(format!("{io}-{calls}-before.smaps")),
        );
    }
    let endpoints = Endpoints::bind()?;
    let split =
        if calls >= 2 && cli.settle > 0 && cli.marginal_split > 0.0 && cli.marginal_split < 1.0 {
            ((calls as f64 * cli.marginal_split) as usize).clamp(1, calls - 1)
        } else {
            0
        };
    // The marginal step: the first `split` calls, established, then the RSS (R1).
    let mut first_step = None;
    if split > 0 {
        let setup = setup_calls(listen, &uac, &uas, &endpoints, 0, split, shards);
        settle(&uac, &uas, Duration::from_secs(cli.settle));
        if let Some(dir) = &smaps_dir {
            let _ = std::fs::copy(
                format!("/proc/{pid}/smaps"),
                dir.join(format!("{io}-{calls}-first-{split}.smaps")),
            );
        }
        first_step = Some((setup, rss_bytes(pid)?));
    }
    let setup_started = Instant::now();
    let mut setup = setup_calls(listen, &uac, &uas, &endpoints, split, calls, shards);
    let setup_time = setup_started.elapsed();
    let first_plans = first_step.as_ref().map_or(0, |(s, _)| s.plans.len());
    if let Some((first, _)) = &mut first_step {
        setup.failed += first.failed;
        let mut plans = std::mem::take(&mut first.plans);
        plans.append(&mut setup.plans);
        setup.plans = plans;
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_bytes(pid)?;
    if let Some(dir) = &smaps_dir {
        let _ = std::fs::copy(
            format!("/proc/{pid}/smaps"),
            dir.join(format!("{io}-{calls}-after.smaps")),
        );
    }
    let plans = setup.plans;
    let rss_established = if cli.settle > 0 {
        settle(&uac, &uas, Duration::from_secs(cli.settle));
        if let Some(dir) = &smaps_dir {
            let _ = std::fs::copy(
                format!("/proc/{pid}/smaps"),
                dir.join(format!("{io}-{calls}-settled.smaps")),
            );
        }
        Some(rss_bytes(pid)?)
    } else {
        None
    };
    eprintln!(
        "   handoff: {} of {calls} calls up in {:.1} s ({} failed){}",
        plans.len(),
        setup_time.as_secs_f64(),
        setup.failed,
        if plans.len() < calls {
            format!("; handoff log: {}", log_tail())
        } else {
            String::new()
        }
    );
    if plans.is_empty() {
        bail!("no call could be set up; handoff log: {}", log_tail());
    }
    let media_failures = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("not opened"))
        .count();
    if media_failures > 0 {
        eprintln!(
            "   handoff: {media_failures} calls have no media sockets (see its log: {})",
            log_tail()
        );
    }
    // The memory figures come before any media: printed now, so a run whose media part fails
    // (a saturated generator) still reports them.
    let per_call =
        |rss: u64, base: u64, calls: usize| rss.saturating_sub(base) as f64 / calls.max(1) as f64;
    eprintln!(
        "   handoff: RSS per call: {:.0} bytes set up, {} established, {} marginal",
        per_call(rss_after, rss_before, plans.len()),
        rss_established.map_or("-".to_owned(), |rss| format!(
            "{:.0} bytes",
            per_call(rss, rss_before, plans.len())
        )),
        match (&first_step, rss_established) {
            (Some((_, first)), Some(rss)) if plans.len() > first_plans => format!(
                "{:.0} bytes",
                (rss as f64 - *first as f64) / (plans.len() - first_plans) as f64
            ),
            _ => "-".to_owned(),
        }
    );
    let mut result = drive(cli, &endpoints, &plans, &[pid])?;
    result.sut = "handoff";
    result.calls_with_media = plans.len().saturating_sub(media_failures);
    result.memory_per_call = Some(rss_after.saturating_sub(rss_before) as f64 / plans.len() as f64);
    result.memory_per_established_call =
        rss_established.map(|rss| rss.saturating_sub(rss_before) as f64 / plans.len() as f64);
    if let (Some((_, rss_first)), Some(rss)) = (&first_step, rss_established)
        && plans.len() > first_plans
    {
        result.marginal_memory_per_call =
            Some((rss as f64 - *rss_first as f64) / (plans.len() - first_plans) as f64);
    }
    // Keep the SIP sockets alive until handoff is gone, so it sees no ICMP errors.
    drop(child);
    drop((uac, uas));
    Ok(result)
}

/// Waits `time` while answering what handoff sends the carrier and the platform meanwhile (its
/// OPTIONS keepalives: unanswered, they would mark the trunks down during a long settle).
fn settle(uac: &UdpSocket, uas: &UdpSocket, time: Duration) {
    let until = Instant::now() + time;
    let mut buffer = vec![0u8; 65_536];
    while Instant::now() < until {
        for socket in [uac, uas] {
            while let Ok((len, from)) = socket.recv_from(&mut buffer) {
                let Ok(message) = std::str::from_utf8(&buffer[..len]) else {
                    continue;
                };
                if message.starts_with("SIP/") || message.starts_with("ACK") {
                    continue;
                }
                let response = response_to(message, "200 OK", "", "Content-Length: 0\r\n\r\n");
                let _ = socket.send_to(response.as_bytes(), from);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("VmRSS missing")?;
    Ok(kb * 1024)
}

/// utime + stime of the whole process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .context("malformed /proc/<pid>/stat")?;
    // USER_HZ is 100 on Linux.
    Ok(ticks as f64 / 100.0)
}

/// Kernel receive-queue drops (the `drops` column of /proc/net/udp) summed over the loopback
/// sockets whose local port satisfies `select`: where packets were lost, if not in the SUT.
fn udp_drops(select: impl Fn(u16) -> bool) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            let drops = fields.last()?.parse::<u64>().ok()?;
            select(port).then_some(drops)
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Media load

/// Where a call's two directions are sent: the SUT's leg-A and leg-B RTP ports.
#[derive(Clone, Copy, Debug)]
struct CallPlan {
    to_a: SocketAddr,
    to_b: SocketAddr,
}

/// The generator's media sockets: side A plays the caller, side B the callee.
struct Endpoints {
    a: Vec<UdpSocket>,
    b: Vec<UdpSocket>,
}

impl Endpoints {
    fn bind() -> anyhow::Result<Endpoints> {
        let open = || -> anyhow::Result<UdpSocket> {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.set_nonblocking(true)?;
            let sock = socket2::SockRef::from(&socket);
            let _ = sock.set_recv_buffer_size(4 << 20);
            let _ = sock.set_send_buffer_size(4 << 20);
            Ok(socket)
        };
        Ok(Endpoints {
            a: (0..GENERATOR_SOCKETS)
                .map(|_| open())
                .collect::<Result<_, _>>()?,
            b: (0..GENERATOR_SOCKETS)
                .map(|_| open())
                .collect::<Result<_, _>>()?,
        })
    }

    fn socket_of(call: usize) -> usize {
        (call / SLOTS) % GENERATOR_SOCKETS
    }
}

// Payload layout after the 12-byte RTP header: magic (4), phase (1), direction (1), send time
// in ns since the run's epoch (8). The phase says whether a packet counts (sent in the measured
// window) or not (warm-up, cool-down).
const PHASE_WARMUP: u8 = 0;
const PHASE_MEASURED: u8 = 1;
const PHASE_COOLDOWN: u8 = 2;

fn fill_packet(
    packet: &mut [u8; PACKET_LEN],
    call: usize,
    direction: u8,
    seq: u16,
    phase: u8,
    sent_ns: u64,
    sent_realtime_ns: u64,
) {
    packet[0] = 0x80; // RTP version 2
    packet[1] = 0; // PCMU
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet[8..12].copy_from_slice(&((call as u32) << 1 | u32::from(direction)).to_be_bytes());
    packet[12..16].copy_from_slice(&MAGIC.to_be_bytes());
    packet[16] = phase;
    packet[17] = direction;
    packet[18..26].copy_from_slice(&sent_ns.to_be_bytes());
    packet[26..34].copy_from_slice(&sent_realtime_ns.to_be_bytes());
}

/// CLOCK_REALTIME in ns: the clock of the kernel's receive timestamps (SO_TIMESTAMPNS).
fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

struct Received {
    measured: u64,
    /// Every relayed packet (any phase) by receive time, in 10 ms buckets since the epoch: the
    /// throughput inside the measured window, even when the SUT falls behind.
    per_10ms: Vec<u64>,
    latency_ns: Histogram<u64>,
    /// Send stamp to the kernel's receive stamp on the generator's socket (SO_TIMESTAMPNS): on
    /// loopback the kernel stamps a datagram as the SUT's send hands it over, so this is the
    /// hop through the SUT without the generator's receiver thread's own wake-up.
    hop_ns: Histogram<u64>,
}

/// Sends the load to `plans` and measures what comes back, sampling `pid`'s CPU over the
/// measured window.
fn drive(
    cli: &Cli,
    endpoints: &Endpoints,
    plans: &[CallPlan],
    pids: &[u32],
) -> anyhow::Result<RunResult> {
    let cpu_of_sut = || -> anyhow::Result<f64> {
        pids.iter()
            .map(|&pid| cpu_seconds(pid))
            .sum::<anyhow::Result<f64>>()
    };
    let generator_ports: Vec<u16> = endpoints
        .a
        .iter()
        .chain(&endpoints.b)
        .filter_map(|s| s.local_addr().ok().map(|a| a.port()))
        .collect();
    let sut_ports = usize::from(cli.base_port)..usize::from(cli.base_port) + 4 * plans.len() + 64;
    let drops_now = || {
        (
            udp_drops(|p| generator_ports.contains(&p)),
            udp_drops(|p| sut_ports.contains(&usize::from(p))),
        )
    };
    let mut drops_start = (0, 0);
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let last_received_ns = Arc::new(AtomicU64::new(0));
    let receiver = {
        let last_received_ns = last_received_ns.clone();
        let sockets: Vec<UdpSocket> = endpoints
            .a
            .iter()
            .chain(&endpoints.b)
            .map(UdpSocket::try_clone)
            .collect::<Result<_, _>>()?;
        let stop = stop.clone();
        let cpu = cli.generator_cpu;
        let poll = cli.generator_poll;
        std::thread::spawn(move || receive(sockets, epoch, stop, cpu, poll, &last_received_ns))
    };

    let warmup = Duration::from_secs(cli.warmup);
    let measured = Duration::from_secs(cli.seconds);
    let cooldown = Duration::from_millis(500);
    let mut scratch = SendScratch::new(64);
    let mut send_errors = 0u64;
    // Calls are spread over the packet interval (1,000,000 / rate µs) in slots of --slot-us.
    let interval_us = 1_000_000 / cli.rate.clamp(1, 1000);
    let slot_us = cli.slot_us.clamp(1, interval_us);
    if !interval_us.is_multiple_of(slot_us) {
        bail!("--slot-us {slot_us} does not divide the packet interval of {interval_us} µs");
    }
    let slots = interval_us / slot_us;
    let mut buffers = vec![[0u8; PACKET_LEN]; plans.len().div_ceil(slots as usize) + 1];
    let mut items_to: Vec<SocketAddr> = Vec::with_capacity(buffers.len());
    let mut sent_measured = 0u64;
    let mut cpu_start = None;
    let mut cpu_end = None;
    let start = Instant::now();
    let mut tick: u64 = 0;
    loop {
        let due = start + Duration::from_micros(tick * slot_us);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let elapsed = due - start;
        let phase = if elapsed < warmup {
            PHASE_WARMUP
        } else if elapsed < warmup + measured {
            PHASE_MEASURED
        } else if elapsed < warmup + measured + cooldown {
            PHASE_COOLDOWN
        } else {
            break;
        };
        if phase == PHASE_MEASURED && cpu_start.is_none() {
            drops_start = drops_now();
            cpu_start = Some((Instant::now(), cpu_of_sut()?));
        }
        if phase == PHASE_COOLDOWN && cpu_end.is_none() {
            cpu_end = Some((Instant::now(), cpu_of_sut()?));
        }
        let slot = (tick % slots) as usize;
        let seq = (tick / slots) as u16;
        for direction in 0..2u8 {
            let sockets = if direction == 0 {
                &endpoints.a
            } else {
                &endpoints.b
            };
            for (k, socket) in sockets.iter().enumerate() {
                items_to.clear();
                let sent_ns = epoch.elapsed().as_nanos() as u64;
                let sent_realtime_ns = realtime_ns();
                let mut j = 0;
                loop {
                    let call = slot + slots as usize * j;
                    if call >= plans.len() {
                        break;
                    }
                    // Each call is sent from the generator socket its SDP named.
                    if Endpoints::socket_of(call) != k {
                        j += 1;
                        continue;
                    }
                    let plan = plans[call];
                    let index = items_to.len();
                    fill_packet(
                        &mut buffers[index],
                        call,
                        direction,
                        seq,
                        phase,
                        sent_ns,
                        sent_realtime_ns,
                    );
                    items_to.push(if direction == 0 { plan.to_a } else { plan.to_b });
                    j += 1;
                }
                let items: Vec<SendItem<'_>> = items_to
                    .iter()
                    .zip(buffers.iter())
                    .map(|(to, payload)| SendItem {
                        to: *to,
                        payload: payload.as_slice(),
                    })
                    .collect();
                let mut sent = 0;
                for chunk in items.chunks(64) {
                    sent += uring_sys::sendmmsg(
                        socket.as_raw_fd(),
                        chunk,
                        &mut scratch,
                        &mut send_errors,
                    );
                }
                if phase == PHASE_MEASURED {
                    sent_measured += sent as u64;
                }
            }
        }
        // Behind by more than a packet interval: the generator is saturated; skip ahead rather
        // than burst (the offered rate reported below shows it).
        let behind = start
            .elapsed()
            .saturating_sub(Duration::from_micros(tick * slot_us));
        tick += 1;
        if behind > Duration::from_micros(interval_us) {
            tick += (behind.as_micros() as u64 / interval_us) * slots;
        }
    }
    // Let the queues drain: a saturated SUT still holds measured packets in its sockets. Stop
    // once nothing measured has arrived for 300 ms (at most 15 s).
    let drain_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let quiet = epoch.elapsed().as_nanos() as u64
            - last_received_ns
                .load(Ordering::Relaxed)
                .min(epoch.elapsed().as_nanos() as u64);
        if quiet > 300_000_000 || Instant::now() > drain_deadline {
            break;
        }
    }
    let drops_end = drops_now();
    stop.store(true, Ordering::Relaxed);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver thread panicked"))??;
    let (Some((t0, c0)), Some((t1, c1))) = (cpu_start, cpu_end) else {
        bail!(
            "the measured window never started or never ended (generator at tick {tick}, {:?} in)",
            start.elapsed()
        );
    };
    let window = (t1 - t0).as_secs_f64();
    let bucket_of = |t: Instant| ((t - epoch).as_nanos() / 10_000_000) as usize;
    let (first, last) = (bucket_of(t0), bucket_of(t1));
    let relayed_in_window: u64 = received.per_10ms.iter().take(last).skip(first).sum();
    let relayed_window = (last - first) as f64 / 100.0;
    let h = &received.latency_ns;
    Ok(RunResult {
        sut: "",
        error: None,
        calls_up: plans.len(),
        calls_with_media: plans.len(),
        target_pps: (plans.len() as u64 * 2 * cli.rate) as f64,
        offered_pps: sent_measured as f64 / measured.as_secs_f64(),
        relayed_pps: relayed_in_window as f64 / relayed_window.max(0.01),
        loss: if sent_measured > 0 {
            1.0 - received.measured as f64 / sent_measured as f64
        } else {
            0.0
        },
        p50_us: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_us: h.value_at_quantile(0.99) as f64 / 1000.0,
        p999_us: h.value_at_quantile(0.999) as f64 / 1000.0,
        hop_p50_us: received.hop_ns.value_at_quantile(0.50) as f64 / 1000.0,
        hop_p99_us: received.hop_ns.value_at_quantile(0.99) as f64 / 1000.0,
        hop_p999_us: received.hop_ns.value_at_quantile(0.999) as f64 / 1000.0,
        cores: (c1 - c0) / window,
        memory_per_call: None,
        memory_per_established_call: None,
        marginal_memory_per_call: None,
        generator_drops: drops_end.0.saturating_sub(drops_start.0),
        sut_drops: drops_end.1.saturating_sub(drops_start.1),
    })
}

fn receive(
    sockets: Vec<UdpSocket>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    cpu: Option<usize>,
    poll: bool,
    last_received_ns: &AtomicU64,
) -> anyhow::Result<Received> {
    if let Some(cpu) = cpu {
        pin(cpu);
    }
    let epoll = Epoll::new()?;
    if !poll {
        for (token, socket) in sockets.iter().enumerate() {
            epoll.add(socket, token as u64)?;
        }
    }
    let mut events = Vec::with_capacity(64);
    let mut ready = Vec::with_capacity(64);
    for socket in &sockets {
        socket::setsockopt(socket, sockopt::ReceiveTimestampns, &true)?;
    }
    const BATCH: usize = 64;
    let mut data = vec![[0u8; 256]; BATCH];
    let mut headers: MultiHeaders<SockaddrStorage> =
        MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(TimeSpec)));
    let mut received = Received {
        measured: 0,
        per_10ms: Vec::new(),
        latency_ns: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)?,
        hop_ns: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)?,
    };
    while !stop.load(Ordering::Relaxed) {
        if poll {
            // Every socket, no wait-queue entry on any: a delivery wakes nobody.
            ready.clear();
            ready.extend(0..sockets.len() as u64);
        } else {
            epoll.wait(&mut events, Some(Duration::from_millis(20)), &mut ready)?;
        }
        let mut got = 0;
        for &token in &ready {
            let fd = sockets[token as usize].as_raw_fd();
            loop {
                // (length, kernel receive stamp) of each datagram, read before `data` is.
                let mut batch = [(0usize, 0u64); BATCH];
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = data
                    .iter_mut()
                    .map(|buffer| [IoSliceMut::new(&mut buffer[..])])
                    .collect();
                let received_now = match socket::recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                ) {
                    Ok(results) => {
                        let mut n = 0;
                        for (slot, msg) in batch.iter_mut().zip(results) {
                            let stamp = msg.cmsgs().ok().and_then(|mut cmsgs| {
                                cmsgs.find_map(|c| match c {
                                    ControlMessageOwned::ScmTimestampns(ts) => Some(
                                        ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
                                    ),
                                    _ => None,
                                })
                            });
                            *slot = (msg.bytes, stamp.unwrap_or(0));
                            n += 1;
                        }
                        n
                    }
                    Err(_) => 0,
                };
                let n = received_now;
                got += n;
                let now_ns = epoch.elapsed().as_nanos() as u64;
                for (i, &(len, stamp_ns)) in batch.iter().enumerate().take(n) {
                    let payload = &data[i][..len.min(256)];
                    if payload.len() != PACKET_LEN || payload[12..16] != MAGIC.to_be_bytes() {
                        continue;
                    }
                    let bucket = (now_ns / 10_000_000) as usize;
                    if received.per_10ms.len() <= bucket {
                        received.per_10ms.resize(bucket + 1, 0);
                    }
                    received.per_10ms[bucket] += 1;
                    if payload[16] != PHASE_MEASURED {
                        continue;
                    }
                    let stamp_at = |at: usize| {
                        let mut bytes = [0u8; 8];
                        bytes.copy_from_slice(&payload[at..at + 8]);
                        u64::from_be_bytes(bytes)
                    };
                    let (sent_ns, sent_realtime_ns) = (stamp_at(18), stamp_at(26));
                    received.measured += 1;
                    last_received_ns.store(now_ns, Ordering::Relaxed);
                    let _ = received
                        .latency_ns
                        .record(now_ns.saturating_sub(sent_ns).max(1_000));
                    if stamp_ns > 0 {
                        let _ = received
                            .hop_ns
                            .record(stamp_ns.saturating_sub(sent_realtime_ns).max(1_000));
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
        if poll && got == 0 {
            std::thread::yield_now();
        }
    }
    Ok(received)
}

// ---------------------------------------------------------------------------------------------
// Minimal SIP: this program is the carrier (UAC) and the platform (UAS)

fn wait_serving(uac: &UdpSocket, handoff: SocketAddr) -> anyhow::Result<()> {
    let local = uac.local_addr()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 4096];
    for attempt in 0u32.. {
        if Instant::now() > deadline {
            bail!("handoff did not answer OPTIONS on {handoff} within 10 s");
        }
        let options = format!(
            "OPTIONS sip:ping@{handoff} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKping{attempt}\r\n\
             From: <sip:perf@{local}>;tag=ping\r\nTo: <sip:ping@{handoff}>\r\nCall-ID: ping-{attempt}@perf\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = uac.send_to(options.as_bytes(), handoff);
        std::thread::sleep(Duration::from_millis(100));
        while let Ok((len, _)) = uac.recv_from(&mut buffer) {
            if buffer[..len].starts_with(b"SIP/2.0 ") {
                return Ok(());
            }
        }
    }
    bail!("handoff did not answer OPTIONS on {handoff}")
}

/// The value of header `name` (or its compact form), first occurrence.
fn header<'a>(message: &'a str, name: &str, compact: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        (key.eq_ignore_ascii_case(name)
            || (!compact.is_empty() && key.eq_ignore_ascii_case(compact)))
        .then(|| value.trim())
    })
}

fn headers<'a>(message: &'a str, name: &str, compact: &str) -> Vec<&'a str> {
    let head = message.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            let key = key.trim();
            (key.eq_ignore_ascii_case(name) || key.eq_ignore_ascii_case(compact))
                .then(|| value.trim())
        })
        .collect()
}

/// The audio address of an SDP body: `c=` address and `m=audio` port.
fn sdp_audio(message: &str) -> Option<SocketAddr> {
    let body = message.split_once("\r\n\r\n")?.1;
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .parse::<Ipv4Addr>()
        .ok()?;
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse::<u16>()
        .ok()?;
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

fn sdp(session: usize, port: u16) -> String {
    format!(
        "v=0\r\no=perf {session} 1 IN IP4 127.0.0.1\r\ns=relay\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

struct Setup {
    plans: Vec<CallPlan>,
    failed: usize,
}

#[derive(Default, Clone)]
struct Pending {
    sent_at: Option<Instant>,
    tries: u32,
    to_a: Option<SocketAddr>,
    to_b: Option<SocketAddr>,
    answered: bool,
    failed: bool,
}

/// Sets up `calls` calls through handoff, `SETUP_WINDOW` at a time. Calls that fail are left
/// out of the returned plans (and counted).
fn setup_calls(
    handoff: SocketAddr,
    uac: &UdpSocket,
    uas: &UdpSocket,
    endpoints: &Endpoints,
    first: usize,
    calls: usize,
    shards: usize,
) -> Setup {
    let call_ids: Vec<String> = (0..calls).map(|i| call_id(i, shards)).collect();
    let uac_addr = uac.local_addr().unwrap_or(handoff);
    let uas_addr = uas.local_addr().unwrap_or(handoff);
    let mut pending = vec![Pending::default(); calls];
    let mut next = first;
    let mut in_flight = 0usize;
    let mut done = first;
    let mut buffer = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(120);
    let invite = |i: usize| -> String {
        let body = sdp(
            i,
            endpoints.a[Endpoints::socket_of(i)]
                .local_addr()
                .map_or(0, |a| a.port()),
        );
        format!(
            "INVITE sip:+1555{i:07}@{handoff} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch=z9hG4bKrelay{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:carrier@{uac_addr}>;tag=c{i}\r\nTo: <sip:+1555{i:07}@{handoff}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@{uac_addr}>\r\n\
             X-Relay-Call: {i}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            call_id = call_ids[i],
        )
    };
    let mut answers: HashMap<String, String> = HashMap::new();
    while done < calls && Instant::now() < deadline {
        while next < calls && in_flight < SETUP_WINDOW {
            let _ = uac.send_to(invite(next).as_bytes(), handoff);
            pending[next].sent_at = Some(Instant::now());
            pending[next].tries = 1;
            next += 1;
            in_flight += 1;
        }
        let mut idle = true;
        // The platform side: answer INVITEs with our side-B address.
        while let Ok((len, from)) = uas.recv_from(&mut buffer) {
            idle = false;
            let Ok(message) = std::str::from_utf8(&buffer[..len]) else {
                continue;
            };
            let Some(method) = message.split(' ').next() else {
                continue;
            };
            if method.starts_with("SIP/") || method == "ACK" {
                continue;
            }
            let call_id = header(message, "Call-ID", "i").unwrap_or("").to_owned();
            let response = if method == "INVITE" {
                let call = header(message, "X-Relay-Call", "")
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|&c| c < calls);
                let Some(call) = call else {
                    continue;
                };
                if let Some(previous) = answers.get(&call_id) {
                    previous.clone()
                } else {
                    pending[call].to_b = sdp_audio(message);
                    let port = endpoints.b[Endpoints::socket_of(call)]
                        .local_addr()
                        .map_or(0, |a| a.port());
                    let body = sdp(call, port);
                    let response = response_to(
                        message,
                        "200 OK",
                        &format!(";tag=p{call}"),
                        &format!(
                            "Contact: <sip:platform@{uas_addr}>\r\nContent-Type: application/sdp\r\n\
                             Content-Length: {}\r\n\r\n{body}",
                            body.len()
                        ),
                    );
                    answers.insert(call_id, response.clone());
                    response
                }
            } else {
                response_to(message, "200 OK", "", "Content-Length: 0\r\n\r\n")
            };
            let _ = uas.send_to(response.as_bytes(), from);
        }
        // The carrier side: ACK final responses.
        while let Ok((len, from)) = uac.recv_from(&mut buffer) {
            idle = false;
            let Ok(message) = std::str::from_utf8(&buffer[..len]) else {
                continue;
            };
            let Some(status) = message
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse::<u16>().ok())
            else {
                // A request from handoff (none expected during set-up): answer it.
                if !message.starts_with("ACK") {
                    let response = response_to(message, "200 OK", "", "Content-Length: 0\r\n\r\n");
                    let _ = uac.send_to(response.as_bytes(), from);
                }
                continue;
            };
            let Some(call) = header(message, "Call-ID", "i")
                .and_then(call_of_id)
                .filter(|&c| c < calls)
            else {
                continue;
            };
            if status < 200 || !header(message, "CSeq", "").is_some_and(|c| c.ends_with("INVITE")) {
                continue;
            }
            let to = header(message, "To", "t").unwrap_or("");
            let target = header(message, "Contact", "m")
                .and_then(|c| c.split('<').nth(1))
                .and_then(|c| c.split('>').next())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("sip:{handoff}"));
            let branch = if status < 300 {
                format!("z9hG4bKrelayack{call}")
            } else {
                format!("z9hG4bKrelay{call}")
            };
            let uri = if status < 300 {
                target
            } else {
                format!("sip:+1555{call:07}@{handoff}")
            };
            let ack = format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch={branch}\r\nMax-Forwards: 70\r\n\
                 From: <sip:carrier@{uac_addr}>;tag=c{call}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                 CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                call_id = call_ids[call],
            );
            let _ = uac.send_to(ack.as_bytes(), handoff);
            let p = &mut pending[call];
            if p.answered || p.failed {
                continue;
            }
            if status < 300 {
                p.answered = true;
                p.to_a = sdp_audio(message);
            } else {
                p.failed = true;
            }
            in_flight -= 1;
            done += 1;
        }
        // INVITE retransmission (the UAC's Timer A, simplified) and give-up.
        let now = Instant::now();
        for (i, p) in pending[..next].iter_mut().enumerate().skip(first) {
            if p.answered || p.failed {
                continue;
            }
            if let Some(sent) = p.sent_at
                && now - sent > Duration::from_secs(2)
            {
                if p.tries >= 4 {
                    p.failed = true;
                    in_flight -= 1;
                    done += 1;
                } else {
                    let _ = uac.send_to(invite(i).as_bytes(), handoff);
                    p.sent_at = Some(now);
                    p.tries += 1;
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let mut plans = Vec::with_capacity(calls);
    let mut failed = 0;
    for p in &pending[first..] {
        match (p.answered, p.to_a, p.to_b) {
            (true, Some(to_a), Some(to_b)) => plans.push(CallPlan { to_a, to_b }),
            _ => failed += 1,
        }
    }
    Setup { plans, failed }
}

/// Call `i`'s Call-ID, `relay-{i}.{salt}@perf`, with the smallest salt that makes handoff's
/// Call-ID hash (`shard_for_call_id`) put it on shard `i % shards`: the calls spread evenly
/// over the shards, so no shard's media pool runs out before the others'.
fn call_id(i: usize, shards: usize) -> String {
    let shard_count = u16::try_from(shards.max(1)).unwrap_or(u16::MAX);
    let want = (i % usize::from(shard_count)) as u16;
    (0u32..)
        .map(|salt| format!("relay-{i}.{salt}@perf"))
        .find(|id| shard_for_call_id(id, shard_count).0 == want)
        .unwrap_or_else(|| format!("relay-{i}.0@perf"))
}

/// The call number of a Call-ID made by [`call_id`].
fn call_of_id(id: &str) -> Option<usize> {
    id.strip_prefix("relay-")?.split_once('.')?.0.parse().ok()
}

/// A response to `request`: its Via, From, To (+ `to_tag` when it has none), Call-ID and CSeq,
/// then `rest` (more headers, the blank line and the body).
fn response_to(request: &str, status: &str, to_tag: &str, rest: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for via in headers(request, "Via", "v") {
        let _ = write!(out, "Via: {via}\r\n");
    }
    let from = header(request, "From", "f").unwrap_or("");
    let to = header(request, "To", "t").unwrap_or("");
    let tag = if to.contains(";tag=") { "" } else { to_tag };
    let call_id = header(request, "Call-ID", "i").unwrap_or("");
    let cseq = header(request, "CSeq", "").unwrap_or("");
    let _ = write!(
        out,
        "From: {from}\r\nTo: {to}{tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n{rest}"
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Report

type Row = (usize, String, Option<RunResult>, Option<RunResult>);

fn render(cli: &Cli, command_line: &str, rows: &[Row]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# perf/relay results\n");
    let _ = writeln!(md, "Command: `{command_line}`\n");
    let _ = writeln!(
        md,
        "Load: {} packets/s per direction per call, 172-byte RTP; warm-up {} s, measured window {} s. \
         The system under test (SUT: handoff with {} shard(s), or as many bare forwarder processes, \
         each with its share of the calls) is pinned to cpu(s) {:?}; \
         the generator to cpu {}. CPU = the SUT's utime+stime over the window (summed over its \
         processes), in cores. `handoff/bare` compares packets/s per core (relayed pps / cores used). \
         RSS per call (perf/README.md has the details): handoff's VmRSS minus its baseline (sampled once handoff serves and its RSS stopped moving), / calls up, sampled right after the last call is set up and again `--settle` s later (set-up transactions expired: established), all before any media, so the receive buffers (touched only by media) are not in it. Marginal: the calls are set up in two steps (`--marginal-split` of them, then the rest), each followed by `--settle` s; (RSS after the second - RSS after the first) / (calls up in the second step), both samples established: what one more established call costs, start-up costs out.\n",
        cli.rate,
        cli.warmup,
        cli.seconds,
        cli.relay_cpu.len(),
        cli.relay_cpu,
        cli.generator_cpu
            .map_or("none (unpinned)".to_owned(), |c| c.to_string())
    );
    let _ = writeln!(
        md,
        "| calls | io | SUT | calls up / with media | target pps | offered pps | relayed pps | loss | drops gen / SUT | p50 µs | p99 µs | p99.9 µs | hop p50 / p99 / p99.9 µs | CPU cores | CPU per 100k pps | pps per core | handoff/bare per core | holds | RSS per call: set up / established / marginal |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (calls, io, bare, handoff) in rows {
        for r in [bare, handoff].into_iter().flatten() {
            if let Some(error) = &r.error {
                let _ = writeln!(
                    md,
                    "| {calls} | {io} | {} | failed: {} |  |  |  |  |  |  |  |  |  |  |  |  |  |  |  |",
                    r.sut,
                    error.replace('|', "/").replace('\n', " ")
                );
                continue;
            }
            let ratio = match bare {
                Some(bare)
                    if r.sut == "handoff" && bare.error.is_none() && bare.pps_per_core() > 0.0 =>
                {
                    format!("{:.2}", r.pps_per_core() / bare.pps_per_core())
                }
                _ => String::new(),
            };
            let kib =
                |m: Option<f64>| m.map_or("-".to_owned(), |m| format!("{:.1} KiB", m / 1024.0));
            let memory = if r.sut == "handoff" {
                format!(
                    "{} / {} / {}",
                    kib(r.memory_per_call),
                    kib(r.memory_per_established_call),
                    kib(r.marginal_memory_per_call)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {calls} | {io} | {} | {} / {} | {:.0} | {:.0} | {:.0} | {:.3}% | {} / {} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} / {:.0} | {:.2} | {:.1}% | {:.0} | {ratio} | {} | {memory} |",
                r.sut,
                r.calls_up,
                r.calls_with_media,
                r.target_pps,
                r.offered_pps,
                r.relayed_pps,
                r.loss * 100.0,
                r.generator_drops,
                r.sut_drops,
                r.p50_us,
                r.p99_us,
                r.p999_us,
                r.hop_p50_us,
                r.hop_p99_us,
                r.hop_p999_us,
                r.cores,
                r.cpu_per_100k(),
                r.pps_per_core(),
                if r.holds() { "yes" } else { "no" },
            );
        }
    }
    md
}
