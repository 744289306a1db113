//! What the host gives handoff, read once at start-up and logged, one line per fact: the things
//! README's "Deploying on an edge host" asks an operator to set (CPU isolation, IRQ affinity,
//! socket buffers; the open-file limit is logged where it is raised, in `server.rs`; SIP
//! steering once the shards' SIP sockets are bound, [`log_steering`]). A line
//! that says "warn" names the setting to change.

use std::fs;
use std::io;
use std::os::fd::AsFd;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{setsockopt, sockopt};
use nix::unistd::{SysconfVar, sysconf};

use super::epoll::SIP_SOCKET_BUFFER;

/// The process's RLIMIT_NOFILE before and after [`raise_nofile_limit`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit found at start-up.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit means the kernel's
/// `fs.nr_open`, the most a process may hold). Every media port is a socket: the default soft
/// limit (often 1024) would cap a shard at a few hundred calls.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let mut soft = before;
    let mut target = hard;
    if target == libc::RLIM_INFINITY {
        target = fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if target > before {
        // Raising the soft limit up to the hard one needs no privilege.
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
        soft = target;
    }
    Ok(NofileLimit { before, soft, hard })
}

/// The page size (statm counts pages) and the clock tick (stat counts CPU time in ticks), for
/// the admin API's process metrics.
pub fn page_size_and_clock_ticks() -> (u64, u64) {
    let read = |var, default| {
        sysconf(var)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(default)
    };
    (
        read(SysconfVar::PAGE_SIZE, 4096),
        read(SysconfVar::CLK_TCK, 100),
    )
}

/// Sets a socket's receive and send buffers to `bytes` with SO_RCVBUFFORCE / SO_SNDBUFFORCE,
/// which may exceed net.core.rmem_max / wmem_max but need CAP_NET_ADMIN. Errors (EPERM without
/// the capability) leave the buffers as they were; the caller then asks the ordinary way.
pub fn force_buffer_sizes(socket: &impl AsFd, bytes: usize) -> io::Result<()> {
    let bytes = bytes.min(libc::c_int::MAX as usize);
    setsockopt(socket, sockopt::RcvBufForce, &bytes)?;
    setsockopt(socket, sockopt::SndBufForce, &bytes)?;
    Ok(())
}

/// Facts read from /proc and /sys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `isolcpus=` (/sys/devices/system/cpu/isolated).
    pub isolated: Vec<usize>,
    /// `nohz_full=` (/sys/devices/system/cpu/nohz_full).
    pub nohz_full: Vec<usize>,
    /// An irqbalance daemon runs (it rewrites IRQ affinity every 10 s).
    pub irqbalance: bool,
    /// net.core.rmem_max / wmem_max, in bytes.
    pub rmem_max: Option<u64>,
    pub wmem_max: Option<u64>,
    /// CAP_NET_ADMIN is effective: SO_RCVBUFFORCE may exceed rmem_max.
    pub net_admin: bool,
}

impl HostFacts {
    pub fn read() -> HostFacts {
        let text = |path: &str| fs::read_to_string(path).unwrap_or_default();
        let number = |path: &str| text(path).trim().parse().ok();
        HostFacts {
            isolated: parse_cpu_list(&text("/sys/devices/system/cpu/isolated")),
            nohz_full: parse_cpu_list(&text("/sys/devices/system/cpu/nohz_full")),
            irqbalance: process_running("irqbalance"),
            rmem_max: number("/proc/sys/net/core/rmem_max"),
            wmem_max: number("/proc/sys/net/core/wmem_max"),
            net_admin: effective_capability(&text("/proc/self/status"), CAP_NET_ADMIN),
        }
    }

    /// Logs one line per fact, for shards pinned to `cpus` (empty: not pinned).
    pub fn log(&self, cpus: &[usize]) {
        if cpus.is_empty() {
            tracing::info!(
                "cpu isolation: shards are not pinned (sbc.cpus is empty); pin them to isolated cores on an edge host"
            );
        } else {
            let shared: Vec<usize> = cpus
                .iter()
                .copied()
                .filter(|cpu| !self.isolated.contains(cpu))
                .collect();
            if shared.is_empty() {
                tracing::info!(?cpus, nohz_full = ?self.nohz_full, "cpu isolation: every shard cpu is isolated (isolcpus)");
            } else {
                tracing::warn!(
                    ?cpus,
                    not_isolated = ?shared,
                    "cpu isolation: shard cpus the scheduler may also give other tasks; add them to isolcpus= (and nohz_full=) on the kernel command line"
                );
            }
        }
        if self.irqbalance {
            tracing::warn!(
                "irq affinity: irqbalance runs and moves NIC interrupts every 10 s; stop it and run scripts/pin-nic-queues.sh IFACE"
            );
        } else {
            tracing::info!(
                "irq affinity: irqbalance is not running; scripts/pin-nic-queues.sh IFACE maps NIC queues to the shard cpus"
            );
        }
        let want = SIP_SOCKET_BUFFER as u64;
        let capped = |max: Option<u64>| !self.net_admin && max.is_some_and(|m| m < want);
        if capped(self.rmem_max) || capped(self.wmem_max) {
            tracing::warn!(
                rmem_max = self.rmem_max,
                wmem_max = self.wmem_max,
                asked = want,
                "socket buffers: the SIP socket's buffers are capped below what handoff asks for; sysctl -w net.core.rmem_max={want} net.core.wmem_max={want}, or run with CAP_NET_ADMIN (SO_RCVBUFFORCE)"
            );
        } else {
            tracing::info!(
                rmem_max = self.rmem_max,
                wmem_max = self.wmem_max,
                forced = self.net_admin,
                bytes = want,
                "socket buffers: the SIP socket gets what handoff asks for"
            );
        }
    }
}

/// The `sip steering:` line (after every shard's SIP socket is bound, `Server::start`): which
/// shard reads a datagram, and `warn` when `sip_steering = "cpu"` fell back to the hash.
pub fn log_steering(steering: &super::steering::Steering) {
    match steering {
        super::steering::Steering::CpuRefused { .. } => {
            tracing::warn!(mode = steering.mode(), "sip steering: {steering}")
        }
        _ => tracing::info!(mode = steering.mode(), "sip steering: {steering}"),
    }
}

/// A kernel cpu list ("0-3,8,10-11"); malformed parts are skipped.
pub fn parse_cpu_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>())
                    && a <= b
                    && b - a < 65_536
                {
                    cpus.extend(a..=b);
                }
            }
            None => {
                if let Ok(cpu) = part.parse() {
                    cpus.push(cpu);
                }
            }
        }
    }
    cpus
}

const CAP_NET_ADMIN: u32 = 12;

/// Whether `/proc/self/status` text shows capability `cap` in CapEff.
pub fn effective_capability(status: &str, cap: u32) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << cap) != 0)
}

fn process_running(name: &str) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
    })
}
