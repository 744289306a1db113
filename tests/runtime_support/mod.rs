//! Shared helpers for the runtime tests: a generated config on loopback, the real binary as a
//! child process, and signals sent with kill(1).
//!
//! Ports. [`setup`] first moves the test's thread into a private network namespace
//! ([`netns::enter`]): the handoff it starts, its peers' sockets and any in-process server all
//! live on a loopback of their own, so no other process — another test binary running in
//! parallel, SIPp, someone else's build — can take a port the test has chosen. Inside, handoff's
//! SIP address is the fixed [`SIP_PORT`] instead of "a port that was free a moment ago"
//! (binding port 0 and dropping the socket leaves a window in which anyone can take it). Without
//! the privilege for a namespace (not root) it falls back to that probe, with a note on stderr.
//! Tests that drive a backend in-process on fixed media ports call [`netns::enter`] themselves.
//!
//! Time. Nothing here asserts how fast something happens: helpers wait for a condition up to a
//! generous deadline ([`WAIT`], [`call::WAIT`]) and fail only when it never comes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BACKENDS: [&str; 2] = ["uring", "epoll"];

/// handoff's SIP port inside the test's private network namespace.
pub const SIP_PORT: u16 = 15060;

/// How long a helper waits for something that should happen promptly (a log line, an exit):
/// generous, since the suite runs on busy machines; a passing test never waits it out.
pub const WAIT: Duration = Duration::from_secs(30);

/// The address for handoff's SIP socket: [`SIP_PORT`] in the test's private network namespace
/// (entered here if the calling thread is not in one yet), see the module doc.
pub fn sip_addr() -> SocketAddr {
    if !netns::is_private() {
        netns::enter();
    }
    netns::udp_addr(SIP_PORT)
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub audit_path: PathBuf,
    pub sip: SocketAddr,
    pub carrier: UdpSocket,
    pub platform: UdpSocket,
}

/// Writes a config with two loopback trunks ("carrier" and "platform", each a UDP socket the
/// test owns), `shards` shards on `io`, and the media range `[media, media + 100)`. Each call
/// moves the test into a fresh private network namespace first (see the module doc), so the
/// sockets of an earlier `setup` in the same test stay behind; each test still passes its own
/// `media` base (the runtime tests keep to 9200..12000, below the ephemeral range) so the suite
/// also runs side by side without the privilege for namespaces.
pub fn setup(io: &str, media: u16, shards: usize, drain_s: u64) -> Setup {
    netns::enter();
    let dir = tempfile::tempdir().unwrap();
    let carrier = UdpSocket::bind("127.0.0.1:0").unwrap();
    let platform = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&carrier, &platform] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let sip = sip_addr();
    let audit_path = dir.path().join("audit.jsonl");
    let config_path = dir.path().join("handoff.toml");
    std::fs::write(
        &config_path,
        config_text(
            io,
            sip,
            media,
            shards,
            drain_s,
            carrier.local_addr().unwrap(),
            platform.local_addr().unwrap(),
            &audit_path,
            &["PCMU", "PCMA"],
        ),
    )
    .unwrap();
    Setup {
        dir,
        config_path,
        audit_path,
        sip,
        carrier,
        platform,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn config_text(
    io: &str,
    sip: SocketAddr,
    media: u16,
    shards: usize,
    drain_s: u64,
    carrier: SocketAddr,
    platform: SocketAddr,
    audit: &Path,
    codecs: &[&str],
) -> String {
    let codecs = codecs
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"[sbc]
listen = "{sip}"
advertise = "127.0.0.1"
admin = "off"
options_interval_s = 0
shards = {shards}
io = "{io}"
media_ports = [{media}, {media_end}]
audit = "{audit}"
drain_s = {drain_s}

[[trunk]]
name = "carrier"
peer = "{carrier}"
transfer = "refer"
country_code = "1"
codecs = [{codecs}]

[[trunk]]
name = "platform"
role = "platform"
peer = "{platform}"
transfer = "refer"
country_code = "1"
codecs = [{codecs}]

[[route]]
from = "carrier"
to = "platform"

[[route]]
from = "platform"
to = "carrier"
"#,
        media_end = media + 100,
        audit = audit.display(),
    )
}

/// The real binary, running with `config`; its stderr is collected line by line.
pub struct Handoff {
    pub child: Child,
    stderr: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Handoff {
    pub fn start(config: &Path) -> Handoff {
        Handoff::start_command(Command::new(env!("CARGO_BIN_EXE_handoff")), config)
    }

    /// [`Handoff::start`] with extra environment variables (e.g. systemd's NOTIFY_SOCKET).
    pub fn start_with_env(config: &Path, vars: &[(&str, &str)]) -> Handoff {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command.envs(vars.iter().copied());
        Handoff::start_command(command, config)
    }

    /// [`Handoff::start`] with more command-line options (`--log-level` among them replaces the
    /// default `debug`).
    pub fn start_with_args(config: &Path, args: &[&str]) -> Handoff {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command.args(args);
        if !args.contains(&"--log-level") {
            command.arg("--log-level").arg("debug");
        }
        Handoff::spawn(command, config)
    }

    /// [`Handoff::start`] with the soft open-file limit (RLIMIT_NOFILE) lowered to `soft` first
    /// (the shell's `ulimit -Sn`, then exec: the process is handoff itself).
    pub fn start_with_soft_nofile(config: &Path, soft: u64) -> Handoff {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -Sn {soft} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_handoff"));
        Handoff::start_command(command, config)
    }

    /// [`Handoff::start`] with both the soft and the hard open-file limit lowered to `limit`
    /// (handoff raises the soft limit to the hard one, so this is the limit it runs under).
    pub fn start_with_nofile_limit(config: &Path, limit: u64) -> Handoff {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "ulimit -Sn {limit} && ulimit -Hn {limit} && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_handoff"));
        Handoff::start_command(command, config)
    }

    /// [`Handoff::start`] from a prepared command (environment, `pre_exec` hooks).
    pub fn start_command(mut command: Command, config: &Path) -> Handoff {
        command.arg("--log-level").arg("debug");
        Handoff::spawn(command, config)
    }

    fn spawn(mut command: Command, config: &Path) -> Handoff {
        let mut child = command
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start handoff");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut this = Handoff {
            child,
            stderr: rx,
            log: Vec::new(),
        };
        this.wait_for_log("serving", WAIT);
        // The shards serve SIP first and open their media ports after (runtime/pool_open.rs):
        // a test's first call must not race them for a pair.
        this.wait_for_log("media pool complete", WAIT);
        this
    }

    /// Waits until a stderr line contains `needle`; panics with the log otherwise.
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        self.drain_log();
                        panic!(
                            "handoff exited ({status}) before logging {needle:?}:\n{}",
                            self.log.join("\n")
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.drain_log();
        panic!(
            "no log line with {needle:?} within {within:?}:\n{}",
            self.log.join("\n")
        );
    }

    /// Log lines so far that contain `needle`.
    pub fn count_log(&mut self, needle: &str) -> usize {
        self.drain_log();
        self.log.iter().filter(|l| l.contains(needle)).count()
    }

    pub fn drain_log(&mut self) {
        while let Ok(line) = self.stderr.try_recv() {
            self.log.push(line);
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Read the pipe to its end: the last lines may still be in flight.
                while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
                    self.log.push(line);
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Until the process exits (at most `within`), answers every BYE any of `peers` gets with
    /// 200, as live user agents do: a drain's BYEs are client transactions, and handoff waits
    /// for their answers (or Timer F) before it exits. Returns the exit status and each BYE
    /// answered (the peer's name and the BYE's Call-ID).
    pub fn answer_byes_until_exit(
        &mut self,
        peers: &[&ua::Ua],
        within: Duration,
    ) -> (Option<ExitStatus>, Vec<(&'static str, String)>) {
        let deadline = Instant::now() + within;
        let mut answered = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            if !self.is_running() {
                return (self.wait_exit(WAIT), answered);
            }
            for peer in peers {
                peer.socket
                    .set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                while let Ok((n, from)) = peer.socket.recv_from(&mut buf) {
                    let Some(m) = ua::Msg::parse(&buf[..n]) else {
                        continue;
                    };
                    if m.method() == Some("BYE") {
                        peer.send(from, &ua::response(&m, 200, "OK", "x", peer.addr(), ""));
                        answered.push((peer.name, m.header("call-id").unwrap_or("").to_owned()));
                    }
                }
            }
        }
        (None, answered)
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(1)) {
                self.log.push(line);
            }
            let start = self.log.len().saturating_sub(80);
            eprintln!(
                "--- handoff log (last lines) ---\n{}",
                self.log[start..].join("\n")
            );
        }
        if let Some(mut err) = self.child.stderr.take() {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
        }
    }
}

pub mod call;
pub mod netns;
pub mod seccomp;
pub mod ua;
