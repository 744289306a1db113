//! Shared harness of the SIPp interop tests (tests/sipp_*.rs): a generated config, the real
//! `handoff` binary on loopback, SIPp as the carrier (uac) and the platform (uas), and an RTP
//! sink socket the test owns as the far side of the media.
//!
//! Each test runs in a private network namespace of its own (`runtime_support/netns.rs`):
//! handoff, both SIPp processes and the test's RTP sink share a loopback no other process can
//! see, so the fixed SIP ports below cannot be taken by anyone else. Each test file still passes
//! its own [`Layout`] (media ranges fixed per test in 2000..8000, SIPp's own media ports in
//! 8000..8200, below the ephemeral range) so the files also run side by side when no private
//! namespace can be had (not root).
//!
//! SIPp's results are read only once SIPp has exited, from the statistics it writes at exit
//! (`-trace_stat -stf`: the CSV's last row is dumped on the way out), never from the periodic
//! screen on its stdout, which can predate the last calls. The uac starts only once the uas has
//! bound its SIP port (seen in `/proc/<pid>/net/udp`), not after a fixed pause.

#![allow(dead_code)]

#[path = "../runtime_support/netns.rs"]
mod netns;

use std::fmt::Write as _;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where a test's processes listen.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// "uring" or "epoll".
    pub io: &'static str,
    /// handoff's media port range [start, end).
    pub media_ports: (u16, u16),
    /// SIPp's own media (-mp) ports for the uac and the uas.
    pub sipp_media_uac: u16,
    pub sipp_media_uas: u16,
    /// io_uring features the probe is told to report missing (`HANDOFF_URING_WITHOUT`, e.g.
    /// "all" for a 5.15 kernel's forms); "" for none.
    pub uring_without: &'static str,
}

/// Moves the calling thread (and the processes it starts) into a private network namespace;
/// false when it cannot (not root), and then the fixed ports are shared with the host.
pub fn enter_private_network() -> bool {
    netns::enter()
}

/// The `sipp` binary, or a panic that says how to install it. These tests never skip.
pub fn sipp() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("sipp"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "sipp is not installed (not found on PATH): the SIPp interop tests need SIPp 3.6 with \
             RTPSTREAM. Install it with `apt-get install sip-tester` (scripts/test.sh does)."
        ),
    }
}

/// handoff's SIP port and the SIPp uac's (carrier) and uas's (platform); fixed, as nothing
/// else shares the test's network namespace (see `netns::udp_addr` for the fallback).
const SIP_PORT: u16 = 15060;
const CARRIER_PORT: u16 = 15070;
const PLATFORM_PORT: u16 = 15080;

/// Generous limits: the suite must pass on a loaded machine. SIPp's own `-timeout` stops a run
/// that hangs; the harness waits a little longer than that for SIPp to exit.
const SIPP_TIMEOUT_S: u64 = 240;
const SIPP_WAIT: Duration = Duration::from_secs(SIPP_TIMEOUT_S + 60);

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// The running `handoff` binary, killed on drop. Its stderr goes to a file in its temp dir,
/// printed when a test fails.
pub struct Handoff {
    child: Child,
    pub dir: tempfile::TempDir,
    pub sip: SocketAddr,
    pub carrier: SocketAddr,
    pub platform: SocketAddr,
    log: PathBuf,
}

impl Handoff {
    /// Writes the config (carrier and platform trunks on loopback ports) and starts handoff;
    /// returns once it answers SIP. Call [`netns::enter`] first (the `calls_*` functions do).
    pub fn start(layout: Layout) -> Handoff {
        let dir = tempfile::tempdir().expect("temp dir");
        let sip = netns::udp_addr(SIP_PORT);
        let carrier = netns::udp_addr(CARRIER_PORT);
        let platform = netns::udp_addr(PLATFORM_PORT);
        let config = dir.path().join("handoff.toml");
        let audit = dir.path().join("audit.jsonl");
        // The readiness probe (`wait_until_serving`) speaks from an address that is no trunk:
        // it needs an answer, so strangers get the stateless 403 here instead of the default
        // silence.
        let mut toml = include_str!("../../perf/two-trunks.toml").to_owned();
        for (key, value) in [
            ("listen", sip.to_string()),
            ("admin", "off".to_owned()),
            ("shards", "2".to_owned()),
            ("io", layout.io.to_owned()),
            ("media_start", layout.media_ports.0.to_string()),
            ("media_end", layout.media_ports.1.to_string()),
            ("audit", audit.display().to_string()),
            ("carrier", carrier.to_string()),
            ("platform", platform.to_string()),
            ("sbc_extra", r#"unknown_source = "reject""#.to_owned()),
        ] {
            toml = toml.replace(&format!("{{{key}}}"), &value);
        }
        assert!(
            !toml.contains('{'),
            "a placeholder is left in perf/two-trunks.toml:\n{toml}"
        );
        std::fs::write(&config, toml).expect("write config");
        let log = dir.path().join("handoff.log");
        let log_file = std::fs::File::create(&log).expect("create handoff log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        if !layout.uring_without.is_empty() {
            command.env("HANDOFF_URING_WITHOUT", layout.uring_without);
        }
        let child = command
            .arg("--config")
            .arg(&config)
            // info: the readiness wait reads the pool's "media pool complete" line.
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start the handoff binary");
        let mut handoff = Handoff {
            child,
            dir,
            sip,
            carrier,
            platform,
            log,
        };
        handoff.wait_until_serving();
        handoff.wait_until_media_ready();
        handoff
    }

    fn panic_if_exited(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "handoff exited during start-up with {status}; its log:\n{}",
                self.log_text()
            );
        }
    }

    /// The shards serve SIP first and open their media ports after (runtime/pool_open.rs): a
    /// first call must not race them for a pair, so wait for the pool's own line.
    fn wait_until_media_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log_text().contains("media pool complete") {
            self.panic_if_exited();
            assert!(
                Instant::now() < deadline,
                "handoff's media pool was not complete within 30 s; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends OPTIONS from a socket of its own until any SIP response comes back.
    fn wait_until_serving(&mut self) {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("probe timeout");
        let local = probe.local_addr().expect("probe addr");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buffer = [0u8; 4096];
        for attempt in 0u32.. {
            self.panic_if_exited();
            assert!(
                Instant::now() < deadline,
                "handoff did not answer OPTIONS on {} within 30 s; its log:\n{}",
                self.sip,
                self.log_text()
            );
            let options = format!(
                "OPTIONS sip:ping@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{attempt}\r\n\
                 From: <sip:probe@{local}>;tag=probe\r\nTo: <sip:ping@{sip}>\r\nCall-ID: probe-{attempt}@test\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip,
            );
            let _ = probe.send_to(options.as_bytes(), self.sip);
            if let Ok((len, _)) = probe.recv_from(&mut buffer)
                && buffer[..len].starts_with(b"SIP/2.0 ")
            {
                return;
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The audit file's lines (one JSON record each).
    pub fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Stops handoff; panics with its log when it had already died.
    pub fn stop(mut self) -> String {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "handoff died during the test with {status}; its log:\n{}",
                self.log_text()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log_text()
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SIPp process, killed on drop.
pub struct Sipp {
    child: Child,
    pub name: &'static str,
    out: PathBuf,
    /// The statistics CSV (`-trace_stat -stf`): a row per `-fd` period and a last one at exit.
    stats: PathBuf,
    /// The screens SIPp dumps when it quits (`-trace_screen -screen_file`).
    final_screen: PathBuf,
}

impl Sipp {
    /// Starts `sipp` with `args` in `cwd`, its screen output captured to `<cwd>/<name>.out`, its
    /// statistics to `<cwd>/<name>_stats.csv` and its final screens to `<cwd>/<name>_final.txt`.
    pub fn spawn(name: &'static str, cwd: &Path, args: &[String]) -> Sipp {
        let out = cwd.join(format!("{name}.out"));
        let stats = cwd.join(format!("{name}_stats.csv"));
        let final_screen = cwd.join(format!("{name}_final.txt"));
        let file = std::fs::File::create(&out).expect("create sipp output file");
        let child = Command::new(sipp())
            .current_dir(cwd)
            .args(args)
            .arg("-trace_stat")
            .arg("-stf")
            .arg(&stats)
            .arg("-trace_screen")
            .arg("-screen_file")
            .arg(&final_screen)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone output file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sipp ({name}): {e}"));
        Sipp {
            child,
            name,
            out,
            stats,
            final_screen,
        }
    }

    /// Waits until SIPp has bound its SIP socket on `port` (listed in its own
    /// `/proc/<pid>/net/udp`, which is its network namespace's table), at most `limit`.
    pub fn wait_until_bound(&mut self, port: u16, limit: Duration) {
        let table = format!("/proc/{}/net/udp", self.child.id());
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sipp ({}) exited with {status} before binding port {port}; its screen:\n{}",
                    self.name,
                    read_lossy(&self.out)
                );
            }
            let text = std::fs::read_to_string(&table).unwrap_or_default();
            if udp_table_has_port(&text, port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sipp ({}) did not bind UDP port {port} within {limit:?}; its screen:\n{}",
                self.name,
                read_lossy(&self.out)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for SIPp to exit; kills it and panics past the limit.
    pub fn wait(mut self, limit: Duration) -> SippOutcome {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "sipp ({}) did not finish within {limit:?}; its screen:\n{}",
                        self.name,
                        read_lossy(&self.out)
                    );
                }
            }
        };
        // SIPp has exited: its statistics file and final screens are complete.
        let mut screen = read_lossy(&self.final_screen);
        if screen.is_empty() {
            screen = read_lossy(&self.out);
        }
        SippOutcome::parse(self.name, status, &read_lossy(&self.stats), screen)
    }

    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        read_lossy(&self.out)
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether a `/proc/net/udp` table lists a socket bound to local `port`.
fn udp_table_has_port(table: &str, port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        line.split_whitespace()
            .nth(1)
            .is_some_and(|local| local.ends_with(&wanted))
    })
}

/// What a finished SIPp run reported: its exit code and the cumulative call counters of the
/// statistics row it dumped at exit.
#[derive(Debug)]
pub struct SippOutcome {
    pub name: &'static str,
    /// 0 = every call succeeded, 1 = at least one failed, others = fatal (SIPp's convention).
    pub exit_code: Option<i32>,
    pub created: Option<u64>,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
    /// Calls still up when the row was written (0 in the final row of a finished run).
    pub current: Option<u64>,
    /// SIPp's final screens (or its stdout when it wrote none), for the failure message.
    pub screen: String,
}

impl SippOutcome {
    fn parse(
        name: &'static str,
        status: ExitStatus,
        stats_csv: &str,
        screen: String,
    ) -> SippOutcome {
        let last = final_stats(stats_csv);
        let field = |name: &str| last.as_ref().and_then(|row| row.get(name).copied());
        SippOutcome {
            name,
            exit_code: status.code(),
            created: field("TotalCallCreated"),
            successful: field("SuccessfulCall(C)"),
            failed: field("FailedCall(C)"),
            current: field("CurrentCall"),
            screen,
        }
    }

    /// Panics with the screen unless SIPp exited 0 having completed exactly `calls` calls, all
    /// successful, none still up.
    pub fn assert_all_succeeded(&self, calls: u64, handoff_log: &str) {
        let ok = self.exit_code == Some(0)
            && self.created == Some(calls)
            && self.successful == Some(calls)
            && self.failed == Some(0)
            && self.current == Some(0);
        assert!(
            ok,
            "sipp ({}) expected {calls} successful calls and 0 failed; got exit code {:?}, \
             created {:?}, successful {:?}, failed {:?}, still up {:?} (final statistics row).\n\
             --- sipp final screens ---\n{}\n--- handoff log (tail) ---\n{}",
            self.name,
            self.exit_code,
            self.created,
            self.successful,
            self.failed,
            self.current,
            self.screen,
            tail(handoff_log, 40)
        );
    }
}

/// The numeric fields of the last row of SIPp's `-trace_stat` CSV (`;`-separated, a header
/// row first): the row SIPp dumps when it exits.
fn final_stats(csv: &str) -> Option<std::collections::HashMap<String, u64>> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    Some(
        header
            .iter()
            .zip(last)
            .filter_map(|(name, value)| Some((name.trim().to_owned(), value.trim().parse().ok()?)))
            .collect(),
    )
}

/// Panics unless handoff logged no error: a call can succeed at the SIP level while its media
/// sockets failed to open (logged as an error), and these tests must see that.
pub fn assert_no_errors_logged(log: &str) {
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "handoff logged {} errors during the run; the first ones:\n{}",
        errors.len(),
        errors
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Arguments shared by every SIPp run of these tests.
pub fn common_args(local: SocketAddr, media_port: u16) -> Vec<String> {
    vec![
        "-i".into(),
        local.ip().to_string(),
        "-p".into(),
        local.port().to_string(),
        "-mp".into(),
        media_port.to_string(),
        "-nostdin".into(),
    ]
}

/// The far side of the media: a UDP socket the test owns, named in the uas's SDP answer. It
/// counts the RTP that arrives: well-formed PCMU packets, the distinct SSRCs (one per SIPp
/// call) and anything else.
pub struct RtpSink {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RtpCount>>,
}

/// How long the sink must have been quiet before [`RtpSink::finish`] returns: packets handoff
/// relayed just before the uac exited may still be on their way on a loaded machine.
const SINK_QUIET: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone)]
pub struct RtpCount {
    /// RTP version 2, payload type 0 (PCMU), 172 bytes (12-byte header + 20 ms of G.711).
    pub pcmu_packets: u64,
    pub other_packets: u64,
    pub ssrcs: std::collections::HashSet<u32>,
    /// Source addresses seen (handoff's B-leg RTP ports).
    pub sources: std::collections::HashSet<SocketAddr>,
}

impl RtpSink {
    pub fn start() -> RtpSink {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind RTP sink");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("sink timeout");
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
        let addr = socket.local_addr().expect("sink addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut count = RtpCount::default();
            let mut buffer = [0u8; 2048];
            let mut last_arrival = Instant::now();
            loop {
                match socket.recv_from(&mut buffer) {
                    Ok((len, from)) => {
                        last_arrival = Instant::now();
                        let packet = &buffer[..len];
                        count.sources.insert(from);
                        if len == 172 && packet[0] >> 6 == 2 && packet[1] & 0x7f == 0 {
                            count.pcmu_packets += 1;
                            count.ssrcs.insert(u32::from_be_bytes([
                                packet[8], packet[9], packet[10], packet[11],
                            ]));
                        } else {
                            count.other_packets += 1;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if stop_flag.load(Ordering::Relaxed) && last_arrival.elapsed() >= SINK_QUIET
                        {
                            return count;
                        }
                    }
                    Err(_) => {}
                }
            }
        });
        RtpSink {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops once nothing has arrived for [`SINK_QUIET`] and returns the counts.
    pub fn finish(mut self) -> RtpCount {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("sink thread"))
            .unwrap_or_default()
    }
}

/// One second of a 440 Hz tone in G.711 μ-law, the file the uac's `rtp_stream` plays.
pub fn write_tone_pcmu(dir: &Path) {
    let law = handoff::media::g711::G711Law::Ulaw;
    let samples: Vec<u8> = (0..8000)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0;
            law.encode((phase.sin() * 8000.0) as i16)
        })
        .collect();
    std::fs::write(dir.join("tone_pcmu.raw"), samples).expect("write tone_pcmu.raw");
}

/// Runs SIPp's built-in uas on the platform port and its built-in uac on the carrier port
/// toward handoff: `calls` calls at `rate` calls/s, and asserts every call succeeded.
pub fn calls_without_media(layout: Layout, calls: u64, rate: u64) {
    netns::enter();
    let handoff = Handoff::start(layout);
    let work = handoff.dir.path().to_path_buf();
    let mut uas_args = common_args(handoff.platform, layout.sipp_media_uas);
    uas_args.extend(["-sn".into(), "uas".into()]);
    let mut uas = Sipp::spawn("uas", &work, &uas_args);
    uas.wait_until_bound(handoff.platform.port(), Duration::from_secs(30));
    let mut uac_args = common_args(handoff.carrier, layout.sipp_media_uac);
    uac_args.extend([
        "-sn".into(),
        "uac".into(),
        "-s".into(),
        "15551234567".into(),
        "-m".into(),
        calls.to_string(),
        "-r".into(),
        rate.to_string(),
        "-timeout".into(),
        format!("{SIPP_TIMEOUT_S}s"),
        handoff.sip.to_string(),
    ]);
    let uac = Sipp::spawn("uac", &work, &uac_args);
    let outcome = uac.wait(SIPP_WAIT);
    let uas_screen = uas.kill();
    let log = handoff.stop();
    if outcome.exit_code != Some(0) {
        eprintln!("--- sipp uas screen ---\n{}", tail(&uas_screen, 40));
    }
    outcome.assert_all_succeeded(calls, &log);
    assert_no_errors_logged(&log);
}

/// The same with media: the uac streams PCMU for `call_ms` per call, the uas answers with the
/// test's RTP sink as the far side. Asserts every call succeeded and every call's RTP arrived.
pub fn calls_with_media(layout: Layout, calls: u64, rate: u64, call_ms: u64) {
    netns::enter();
    let handoff = Handoff::start(layout);
    let work = handoff.dir.path().to_path_buf();
    write_tone_pcmu(&work);
    let sink = RtpSink::start();
    let mut uas_args = common_args(handoff.platform, layout.sipp_media_uas);
    uas_args.extend([
        "-sf".into(),
        scenario("uas_rtp_sink.xml").display().to_string(),
        "-key".into(),
        "sink_port".into(),
        sink.addr.port().to_string(),
    ]);
    let mut uas = Sipp::spawn("uas", &work, &uas_args);
    uas.wait_until_bound(handoff.platform.port(), Duration::from_secs(30));
    let mut uac_args = common_args(handoff.carrier, layout.sipp_media_uac);
    uac_args.extend([
        "-sf".into(),
        scenario("uac_pcmu_stream.xml").display().to_string(),
        "-s".into(),
        "15551234567".into(),
        "-d".into(),
        call_ms.to_string(),
        "-m".into(),
        calls.to_string(),
        "-r".into(),
        rate.to_string(),
        "-timeout".into(),
        format!("{SIPP_TIMEOUT_S}s"),
        handoff.sip.to_string(),
    ]);
    let uac = Sipp::spawn("uac", &work, &uac_args);
    let outcome = uac.wait(SIPP_WAIT);
    let count = sink.finish();
    let uas_screen = uas.kill();
    let log = handoff.stop();
    if outcome.exit_code != Some(0) {
        eprintln!("--- sipp uas screen ---\n{}", tail(&uas_screen, 40));
    }
    outcome.assert_all_succeeded(calls, &log);

    // 50 packets/s per call while the call is up; ask for half of that so a loaded CI machine
    // passes, while a relay that drops media (or some calls' media) does not.
    let expected = calls * call_ms / 20;
    let mut report = String::new();
    let _ = write!(
        report,
        "{} PCMU packets (expected about {expected}), {} other, {} SSRCs for {calls} calls, \
         from {} handoff ports",
        count.pcmu_packets,
        count.other_packets,
        count.ssrcs.len(),
        count.sources.len()
    );
    eprintln!("far side: {report}");
    assert_eq!(
        count.other_packets, 0,
        "the far side received packets that are not the uac's PCMU RTP: {report}"
    );
    assert_eq!(
        count.ssrcs.len() as u64,
        calls,
        "every call's RTP must reach the far side (one SSRC per SIPp call): {report}\n\
         --- handoff log (tail) ---\n{}",
        tail(&log, 40)
    );
    assert!(
        count.pcmu_packets * 2 >= expected,
        "too little RTP reached the far side: {report}\n--- handoff log (tail) ---\n{}",
        tail(&log, 40)
    );
    assert_no_errors_logged(&log);
    assert!(
        count.sources.iter().all(|s| s.ip().is_loopback()
            && (layout.media_ports.0..layout.media_ports.1).contains(&s.port())),
        "RTP must come from handoff's media ports {:?}: {report}",
        layout.media_ports
    );
}
