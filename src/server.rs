//! The process: starts one shard thread per configured CPU and the audit writer thread, then
//! turns signals into shard messages. SIGTERM/SIGINT drain (new INVITEs get 503, established
//! calls continue until they end or `drain_s` passes, then get BYE; a second SIGTERM/SIGINT
//! sends the BYEs at once). The BYEs are client transactions, retransmitted until answered or
//! timed out (Timer F, 64*T1); the shards stop when no shard has a call or an unanswered BYE/CANCEL
//! left, at the latest `drain_s + 64*T1 + 2 s` after the signal, and the audit writer then writes
//! every record still queued before the process exits. SIGHUP reloads the config file (refused,
//! with every error logged, when it does not validate; the running config stays).
//!
//! [`Server`] is the same machinery without signals, for embedding and tests.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::admin::{AdminServer, AdminState, RunningConfig};
use crate::audit::{AuditCounters, AuditLog};
use crate::config::{Config, ConfigLoadError, IoBackend};
use crate::core::ShardMessage;
use crate::runtime::backend::{Backend, BackendError, ShardWaker, WakeTarget};
use crate::runtime::epoll::EpollBackend;
use crate::runtime::host;
use crate::runtime::pool_open::MediaPlan;
use crate::runtime::queues::ShardMesh;
use crate::runtime::relay::{CallCapacity, media_socket_budget};
use crate::runtime::shard::{Clock, ShardError, ShardSetup, ShardStatus, run_shard};
use crate::runtime::uring::UringBackend;

/// Why the server could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "config: media_ports {start}..{end} holds fewer RTP/RTCP port pairs than the {shards} shards"
    )]
    MediaRangeTooSmall { start: u16, end: u16, shards: usize },
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditOpenError),
    #[error("shard {shard}: cannot create its wakeup eventfd: {source}")]
    Waker {
        shard: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("shard {shard}: {source}")]
    Backend {
        shard: usize,
        #[source]
        source: BackendError,
    },
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error("shard {shard}: the operating system gave no random key for its identifiers: {source}")]
    Entropy {
        shard: usize,
        #[source]
        source: getrandom::Error,
    },
    #[error("shard {shard} panicked (a bug in handoff)")]
    ShardPanicked { shard: usize },
    #[error("cannot start the thread of shard {shard}: {source}")]
    Spawn {
        shard: usize,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the SIP address {addr} (sbc.listen) is already in use, by another handoff or another \
         program: {source}"
    )]
    SipInUse {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminBindError),
    #[error("cannot set up signal handling (signalfd): {0}")]
    Signals(#[source] std::io::Error),
}

#[allow(clippy::large_enum_variant)] // a handful, built once at startup
enum AnyBackend {
    Uring(UringBackend),
    Epoll(EpollBackend),
}

impl AnyBackend {
    fn wake_target(&self, waker: &ShardWaker) -> WakeTarget {
        WakeTarget {
            eventfd: waker.raw_fd(),
            ring_fd: match self {
                AnyBackend::Uring(u) => u.msg_ring_fd(),
                AnyBackend::Epoll(_) => None,
            },
        }
    }

    fn sip_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            AnyBackend::Uring(u) => u.sip_raw_fd(),
            AnyBackend::Epoll(e) => e.sip_raw_fd(),
        }
    }

    fn set_peers(&mut self, peers: Arc<[WakeTarget]>) {
        match self {
            AnyBackend::Uring(u) => u.set_peers(peers),
            AnyBackend::Epoll(e) => e.set_peers(peers),
        }
    }
}

/// Opens one shard's backend of kind `io` (`Uring` or `Epoll`; `Auto` is decided first by
/// [`choose_backend`]).
fn open_backend(
    io: IoBackend,
    listen: SocketAddr,
    waker: &Arc<ShardWaker>,
    max_media: usize,
) -> Result<AnyBackend, BackendError> {
    Ok(match io {
        IoBackend::Epoll => AnyBackend::Epoll(EpollBackend::new(listen, waker.clone(), max_media)?),
        IoBackend::Uring | IoBackend::Auto => {
            AnyBackend::Uring(UringBackend::new(listen, waker.clone(), max_media)?)
        }
    })
}

/// The first shard's backend for `sbc.io`, the kind chosen (`Uring` or `Epoll`) and why, for
/// the start-up line ("auto; without: bind, multishot", "auto: io_uring refused by ...",
/// "configured; all features", "configured"): with `auto`, io_uring where it sets up, else
/// epoll (an error that is not io_uring's, such as a SIP port in use, stays an error).
fn choose_backend(
    configured: IoBackend,
    listen: SocketAddr,
    waker: &Arc<ShardWaker>,
    max_media: usize,
) -> Result<(AnyBackend, IoBackend, String), BackendError> {
    let uring = |backend: UringBackend, how: &str| {
        let detail = format!("{how}; {}", backend.features());
        (AnyBackend::Uring(backend), IoBackend::Uring, detail)
    };
    match configured {
        IoBackend::Epoll => Ok((
            open_backend(IoBackend::Epoll, listen, waker, max_media)?,
            IoBackend::Epoll,
            "configured".to_owned(),
        )),
        IoBackend::Uring => Ok(uring(
            UringBackend::new(listen, waker.clone(), max_media)?,
            "configured",
        )),
        IoBackend::Auto => match UringBackend::new(listen, waker.clone(), max_media) {
            Ok(backend) => Ok(uring(backend, "auto")),
            Err(error @ BackendError::SipBind { .. }) => Err(error),
            Err(error) => {
                let why = match &error {
                    BackendError::UringUnavailable(e) => {
                        format!("io_uring refused by the kernel or a seccomp policy: {e}")
                    }
                    BackendError::UringFeatureMissing(what) => format!("io_uring lacks {what}"),
                    other => format!("io_uring could not be set up: {other}"),
                };
                let backend = open_backend(IoBackend::Epoll, listen, waker, max_media)?;
                Ok((backend, IoBackend::Epoll, format!("auto: {why}")))
            }
        },
    }
}

type ShardResult = Result<Box<dyn Backend>, (Box<dyn Backend>, ShardError)>;

fn boxed<B: Backend + 'static>(result: Result<B, (B, ShardError)>) -> ShardResult {
    match result {
        Ok(b) => Ok(Box::new(b)),
        Err((b, e)) => Err((Box::new(b), e)),
    }
}

/// A running set of shards.
pub struct Server {
    config: Arc<Config>,
    mesh: Arc<ShardMesh>,
    wakers: Vec<Arc<ShardWaker>>,
    statuses: Vec<Arc<ShardStatus>>,
    threads: Vec<JoinHandle<ShardResult>>,
    clock: Clock,
    /// The audit writer thread; closed in `wait`, after the shards (and their senders) are gone.
    audit: AuditLog,
    audit_counters: Arc<AuditCounters>,
    draining: bool,
    /// While draining: when established calls get BYE, and when progress was last logged.
    drain_progress: Option<(std::time::Instant, std::time::Instant)>,
    /// What the admin thread reads (also kept without a listener, for embedding and tests).
    admin_state: Arc<AdminState>,
    admin: Option<AdminServer>,
    /// Dropped with the server: the prober thread sees the channel close and ends.
    _prober: Option<crossbeam::channel::Sender<()>>,
}

fn plural(calls: usize) -> &'static str {
    if calls == 1 { "call" } else { "calls" }
}

/// How often a drain logs how far it is.
const DRAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

impl Server {
    /// Binds every shard's sockets and starts the shard threads. With `io = "uring"`, a host
    /// that refuses io_uring is an error here: handoff never falls back to epoll silently.
    pub fn start(config: Config) -> Result<Server, RunError> {
        let shards = config.resolved_shard_count().max(1);
        // Each shard enforces its share of a trunk's max_calls / max_cps (core/admission.rs):
        // a limit below the shard count leaves some shards a share of 0.
        for trunk in &config.trunks {
            for (key, limit) in [
                ("max_calls", trunk.limits.max_calls),
                ("max_cps", trunk.limits.max_cps),
            ] {
                if limit > 0 && (limit as usize) < shards {
                    tracing::warn!(
                        trunk = %trunk.name,
                        limit = key,
                        value = limit,
                        shards,
                        "trunk limit below the shard count: each shard enforces its share (limit / shards), so some shards admit none of this trunk's new calls"
                    );
                }
            }
        }
        let (start, end) = config.sbc.media_ports;
        // The shard sockets share the port with SO_REUSEPORT, which would just as happily share
        // it with a second handoff started by mistake (each would get part of the traffic). A
        // plain bind first fails if anything holds the port.
        let listen = config.sbc.listen;
        drop(
            std::net::UdpSocket::bind(listen).map_err(|source| RunError::SipInUse {
                addr: listen,
                source,
            })?,
        );
        let audit = AuditLog::open(&config.sbc.audit, config.sbc.audit_queue)?;
        // Every media port is a socket: the soft open-file limit goes up to the hard one before
        // any is opened (the io_uring backend sizes its file table from it).
        let nofile_soft = match host::raise_nofile_limit() {
            Ok(limit) => {
                tracing::info!(
                    before = limit.before,
                    soft = limit.soft,
                    hard = limit.hard,
                    "open-file limit (RLIMIT_NOFILE): soft raised to the hard limit"
                );
                limit.soft
            }
            Err(error) => {
                tracing::warn!(%error, "could not raise the open-file limit (RLIMIT_NOFILE)");
                1024
            }
        };
        crate::runtime::host::HostFacts::read().log(&config.sbc.cpus);
        let config = Arc::new(config);
        let mesh = Arc::new(ShardMesh::new(shards));
        let clock = Clock::new();
        let mut wakers = Vec::with_capacity(shards);
        let mut backends = Vec::with_capacity(shards);
        let mut media_plans: Vec<MediaPlan> = Vec::with_capacity(shards);
        let media_pending = Arc::new(std::sync::atomic::AtomicUsize::new(shards));
        // `io = "auto"` is decided on shard 0's backend; the others follow its choice.
        let mut io: Option<(IoBackend, String)> = None;
        for shard in 0..shards {
            let (slice_start, slice_end) = config
                .sbc
                .media_port_slice(shard, shards)
                .ok_or(RunError::MediaRangeTooSmall { start, end, shards })?;
            let max_media = usize::from(slice_end - slice_start);
            let waker = ShardWaker::new().map_err(|source| RunError::Waker { shard, source })?;
            let listen = config.sbc.listen;
            let (backend, chosen) = match io.as_ref().map(|(chosen, _)| *chosen) {
                Some(chosen) => (
                    open_backend(chosen, listen, &waker, max_media)
                        .map_err(|source| RunError::Backend { shard, source })?,
                    chosen,
                ),
                None => {
                    let (backend, chosen, detail) =
                        choose_backend(config.sbc.io, listen, &waker, max_media)
                            .map_err(|source| RunError::Backend { shard, source })?;
                    tracing::info!(
                        configured = config.sbc.io.as_str(),
                        chosen = chosen.as_str(),
                        "io backend: {} ({detail})",
                        chosen.as_str(),
                    );
                    io = Some((chosen, detail));
                    (backend, chosen)
                }
            };
            // Sized by the backend the shards really run on (`auto` may have chosen epoll).
            let capacity = CallCapacity::of_shard(
                chosen == IoBackend::Uring,
                nofile_soft,
                shards as u64,
                max_media as u64,
            );
            // Every media port of the slice is opened and bound once, with its receives armed,
            // and kept: a call only takes a pair and gives it back (no socket system call per
            // call). Not here: the shard serves SIP first and opens its slice from its own
            // loop, in chunks (`runtime::pool_open`), so a restart serves within milliseconds
            // whatever the range; the receives then belong to the shard thread, which cancels
            // them itself as it stops (`Backend::shut_down`). On epoll the descriptor budget
            // caps the pool (and so the core's concurrent calls); a call beyond it gets 503.
            let budget =
                media_socket_budget(chosen == IoBackend::Uring, nofile_soft, shards as u64);
            let plan = MediaPlan {
                ip: config.sbc.advertise,
                start: slice_start,
                end: slice_end,
                max_sockets: usize::try_from(budget).unwrap_or(usize::MAX),
                by_ports: capacity.by_ports,
                by_descriptors: capacity.by_descriptors,
                nofile_soft,
                uring: chosen == IoBackend::Uring,
                pending: media_pending.clone(),
            };
            media_plans.push(plan);
            wakers.push(waker);
            backends.push(backend);
        }
        let (chosen_io, io_detail) = io.unwrap_or((IoBackend::Epoll, String::new()));
        // Every shard's SIP socket is bound, shard 0 first, all on this thread: socket i of the
        // reuseport group is shard i's, which is what the steering program returns.
        let steering = crate::runtime::steering::steer(
            config.sbc.sip_steering,
            shards,
            &config.sbc.cpus,
            backends[0].sip_raw_fd(),
        );
        crate::runtime::host::log_steering(&steering);
        let peers: Arc<[WakeTarget]> = backends
            .iter()
            .zip(&wakers)
            .map(|(b, w)| b.wake_target(w))
            .collect();
        let statuses: Vec<Arc<ShardStatus>> = (0..shards)
            .map(|_| Arc::new(ShardStatus::default()))
            .collect();
        let all_status: Arc<[Arc<ShardStatus>]> = statuses.iter().cloned().collect();
        let admin_state = Arc::new(AdminState {
            running: ArcSwap::from_pointee(RunningConfig {
                config: config.clone(),
                file: None,
            }),
            statuses: statuses.clone(),
            mesh: mesh.clone(),
            wakers: wakers.clone(),
            audit: audit.counters().clone(),
            started: std::time::Instant::now(),
            transfers: Default::default(),
            trunk_options: Default::default(),
            io: crate::admin::IoDoc {
                configured: config.sbc.io.as_str(),
                chosen: chosen_io.as_str(),
                detail: io_detail,
            },
            sip_steering: crate::admin::SteeringDoc {
                configured: config.sbc.sip_steering.as_str(),
                mode: steering.mode(),
                detail: steering.to_string(),
            },
        });
        // Before any shard runs: a busy admin port stops the start like a busy SIP port.
        let admin = match config.sbc.admin {
            Some(addr) => Some(AdminServer::start(
                addr,
                config.sbc.admin_token.clone(),
                admin_state.clone(),
            )?),
            None => {
                // Nobody reads the shards' transfer records: they make no copies.
                for status in &statuses {
                    status.transfers.turn_off();
                }
                None
            }
        };
        let prober = start_trunk_prober(admin_state.clone());
        // The REFER hook workers (`refer_hook`, runtime/hook.rs); idle unless a trunk has one.
        let hooks = crate::runtime::hook::HookClient::start(mesh.clone(), wakers.clone());
        let mut threads = Vec::with_capacity(shards);
        for (index, (mut backend, media)) in backends.into_iter().zip(media_plans).enumerate() {
            backend.set_peers(peers.clone());
            let setup = ShardSetup {
                index,
                shard_count: shards,
                config: config.clone(),
                mesh: mesh.clone(),
                audit: audit.sender(),
                status: statuses[index].clone(),
                all_status: all_status.clone(),
                clock,
                key: shard_key(index)?,
                hooks: hooks.clone(),
                media,
            };
            let cpu = config.sbc.cpus.get(index).copied();
            let thread = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || {
                    if let Some(cpu) = cpu
                        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
                    {
                        tracing::warn!(shard = index, cpu, "could not pin the shard to its CPU");
                    }
                    match backend {
                        AnyBackend::Uring(b) => boxed(run_shard(b, setup)),
                        AnyBackend::Epoll(b) => boxed(run_shard(b, setup)),
                    }
                })
                .map_err(|source| RunError::Spawn {
                    shard: index,
                    source,
                })?;
            threads.push(thread);
        }
        tracing::info!(
            listen = %config.sbc.listen,
            shards,
            io = chosen_io.as_str(),
            "serving"
        );
        Ok(Server {
            config,
            mesh,
            wakers,
            statuses,
            threads,
            clock,
            audit_counters: audit.counters().clone(),
            audit,
            draining: false,
            drain_progress: None,
            admin_state,
            admin,
            _prober: prober,
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.config.sbc.listen
    }

    /// Where the admin API listens (`None`: `sbc.admin = "off"`).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// What the admin API serves, read the same way it does.
    pub fn admin_state(&self) -> &Arc<AdminState> {
        &self.admin_state
    }

    /// Names the file the running config came from (shown by `GET /status`).
    pub fn set_config_file(&self, path: Option<&std::path::Path>) {
        let current = self.admin_state.running.load();
        self.admin_state.running.store(Arc::new(RunningConfig {
            config: current.config.clone(),
            file: crate::admin::file_name(path),
        }));
    }

    pub fn shard_status(&self) -> &[Arc<ShardStatus>] {
        &self.statuses
    }

    pub fn active_calls(&self) -> usize {
        self.statuses
            .iter()
            .map(|s| s.active_calls.load(Ordering::Relaxed))
            .sum()
    }

    pub fn audit_counters(&self) -> &Arc<AuditCounters> {
        &self.audit_counters
    }

    fn broadcast(&self, message: ShardMessage) {
        for (shard, waker) in self.wakers.iter().enumerate() {
            if self.mesh.push_control(shard, message.clone()).is_err() {
                tracing::error!(shard, "control queue full; message not delivered");
            }
            waker.wake();
        }
    }

    /// Hands every shard a new configuration. Settings bound to sockets and threads (listen,
    /// advertise, shards, cpus, io, sip_steering, media_ports, audit, admin, hep) need a restart: the running values are
    /// kept and a warning names what was ignored.
    pub fn reload(&mut self, mut new: Config) {
        let old = &self.config.sbc;
        let mut ignored = Vec::new();
        if new.sbc.listen != old.listen {
            ignored.push("listen");
        }
        if new.sbc.advertise != old.advertise {
            ignored.push("advertise");
        }
        if new.sbc.shards != old.shards || new.sbc.cpus != old.cpus {
            ignored.push("shards/cpus");
        }
        if new.sbc.io != old.io {
            ignored.push("io");
        }
        if new.sbc.sip_steering != old.sip_steering {
            ignored.push("sip_steering");
        }
        if new.sbc.media_ports != old.media_ports {
            ignored.push("media_ports");
        }
        if new.sbc.audit != old.audit || new.sbc.audit_queue != old.audit_queue {
            ignored.push("audit");
        }
        if new.sbc.admin != old.admin || new.sbc.admin_token != old.admin_token {
            ignored.push("admin");
        }
        if new.sbc.hep != old.hep || new.sbc.hep_id != old.hep_id {
            ignored.push("hep");
        }
        if !ignored.is_empty() {
            tracing::warn!(settings = ?ignored, "reload: these settings need a restart; kept as running");
        }
        new.sbc.listen = old.listen;
        new.sbc.advertise = old.advertise;
        new.sbc.shards = old.shards;
        new.sbc.cpus = old.cpus.clone();
        new.sbc.io = old.io;
        new.sbc.sip_steering = old.sip_steering;
        new.sbc.media_ports = old.media_ports;
        new.sbc.audit = old.audit.clone();
        new.sbc.audit_queue = old.audit_queue;
        new.sbc.admin = old.admin;
        new.sbc.admin_token = old.admin_token.clone();
        new.sbc.hep = old.hep;
        new.sbc.hep_id = old.hep_id;
        let new = Arc::new(new);
        tracing::info!(
            trunks = new.trunks.len(),
            routes = new.routes.len(),
            "configuration reloaded"
        );
        self.config = new.clone();
        let file = self.admin_state.running.load().file.clone();
        self.admin_state.running.store(Arc::new(RunningConfig {
            config: new.clone(),
            file,
        }));
        self.broadcast(ShardMessage::Config(new));
    }

    /// Starts a graceful stop: every shard refuses new calls and stops once no shard has a call
    /// or an unanswered BYE/CANCEL left, or `drain_s` + 64*T1 + a short grace
    /// passed.
    pub fn drain(&mut self) {
        self.drain_within(Duration::from_secs(self.config.sbc.drain_s));
    }

    pub fn drain_within(&mut self, within: Duration) {
        let deadline = self.clock.now().plus_millis(within.as_millis() as u64);
        self.draining = true;
        self.broadcast(ShardMessage::Drain { deadline });
        let now = std::time::Instant::now();
        self.drain_progress = Some((now + within, now));
        self.log_drain_progress(now + within);
    }

    /// While draining, logs every few seconds how many calls are left and how long until they
    /// get BYE (then: how many BYEs still wait for an answer). Call it periodically.
    pub fn report_drain_progress(&mut self) {
        if let Some((deadline, last)) = self.drain_progress
            && last.elapsed() >= DRAIN_PROGRESS_EVERY
        {
            self.drain_progress = Some((deadline, std::time::Instant::now()));
            self.log_drain_progress(deadline);
        }
    }

    fn log_drain_progress(&self, deadline: std::time::Instant) {
        let calls = self.active_calls();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !left.is_zero() {
            let to_go = left.as_secs_f64().ceil() as u64;
            tracing::info!(
                calls,
                to_go_s = to_go,
                "drain: {calls} {} left, {to_go} s to go",
                plural(calls)
            );
        } else {
            let byes: usize = self
                .statuses
                .iter()
                .map(|s| s.teardowns_in_flight.load(Ordering::Relaxed))
                .sum();
            tracing::info!(
                calls,
                byes_unanswered = byes,
                "drain: {calls} {} left, BYEs sent, {byes} waiting for an answer",
                plural(calls)
            );
        }
    }

    /// Reopens the audit file before the next record (SIGUSR1, after logrotate renamed it).
    pub fn reopen_audit(&self) {
        tracing::info!("SIGUSR1: reopening the audit log");
        self.audit.reopen();
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// True once any shard thread has ended (drained, failed or panicked).
    pub fn any_stopped(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
    }

    /// Whether every shard's media pool is complete (the shards serve SIP before it is, see
    /// `runtime::pool_open`; a call before then may get 503 "no media ports").
    pub fn media_ready(&self) -> bool {
        self.statuses
            .iter()
            .all(|s| s.media_ready.load(Ordering::Acquire))
    }

    pub fn all_stopped(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for every shard to end. The backends (and their rings) are dropped only after all
    /// threads ended, so no shard posts a wakeup to a closed ring.
    pub fn wait(self) -> Result<(), RunError> {
        let mut first_error = None;
        let mut backends = Vec::new();
        for (shard, thread) in self.threads.into_iter().enumerate() {
            match thread.join() {
                Ok(Ok(backend)) => backends.push(backend),
                Ok(Err((backend, error))) => {
                    backends.push(backend);
                    tracing::error!(%error, "shard failed");
                    first_error.get_or_insert(RunError::Shard(error));
                }
                Err(_) => {
                    first_error.get_or_insert(RunError::ShardPanicked { shard });
                }
            }
        }
        drop(backends);
        if let Some(admin) = self.admin {
            admin.stop();
        }
        // Every shard (and its sender) is gone: write what is still queued, then stop.
        self.audit.close();
        let counters = &self.audit_counters;
        let written = counters.written.load(Ordering::Relaxed);
        let errors = counters.write_errors.load(Ordering::Relaxed);
        let dropped = counters.dropped.load(Ordering::Relaxed);
        if errors > 0 || dropped > 0 {
            tracing::error!(
                written,
                lost_records = errors,
                audit_dropped = dropped,
                "audit records were lost during this run"
            );
        } else {
            tracing::info!(written, "audit log complete");
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The trunk prober (`sbc.options_interval_s`): a thread, never a shard, that sends every trunk
/// an OPTIONS each interval (the first one interval after the start) from an ephemeral port of the listen address (`probe::probe_on`, the
/// same code as `handoff probe`) and stores the results for `/status` and `handoff_trunk_up`.
/// It reads the running config each round, so a reload that turns it on, off or changes the
/// trunks applies. A trunk going down or coming back is logged. Ends when the returned sender
/// is dropped (detached: a round in flight lasts at most 5 s and touches nothing shared but the
/// results).
fn start_trunk_prober(state: Arc<AdminState>) -> Option<crossbeam::channel::Sender<()>> {
    let (stop, stopped) = crossbeam::channel::bounded::<()>(0);
    let spawned = std::thread::Builder::new()
        .name("trunk-prober".to_owned())
        .spawn(move || {
            // The first round comes one interval after the start, as keepalives do.
            let mut next = std::time::Instant::now();
            let mut waited = false;
            loop {
                let config = state.running.load().config.clone();
                let interval = Duration::from_secs(config.sbc.options_interval_s);
                let wait = if interval.is_zero() {
                    waited = false;
                    Duration::from_secs(1)
                } else if !waited {
                    next = std::time::Instant::now() + interval;
                    waited = true;
                    interval
                } else if std::time::Instant::now() >= next {
                    probe_round(&state, &config, interval);
                    next += interval;
                    next.saturating_duration_since(std::time::Instant::now())
                } else {
                    next.saturating_duration_since(std::time::Instant::now())
                };
                match stopped.recv_timeout(wait) {
                    Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });
    match spawned {
        Ok(_) => Some(stop),
        Err(error) => {
            tracing::error!(%error, "cannot start the trunk prober; trunks are not probed");
            None
        }
    }
}

fn probe_round(state: &AdminState, config: &Config, interval: Duration) {
    let from = SocketAddr::new(config.sbc.listen.ip(), 0);
    let socket = match std::net::UdpSocket::bind(from) {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!(%from, %error, "trunk prober: cannot open a socket");
            return;
        }
    };
    let timers = crate::probe::ProbeTimers {
        t1: Duration::from_millis(config.sbc.timers.t1_ms),
        t2: Duration::from_millis(config.sbc.timers.t2_ms),
        timeout: interval.min(Duration::from_secs(5)),
    };
    let trunks: Vec<&crate::config::Trunk> = config.trunks.iter().collect();
    let results = match crate::probe::probe_on(&socket, config, &trunks, timers) {
        Ok(results) => results,
        Err(error) => {
            tracing::warn!(%error, "trunk prober: round failed");
            return;
        }
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut options = state
        .trunk_options
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut fresh = std::collections::BTreeMap::new();
    for result in &results {
        let now = crate::admin::TrunkOptions::from_probe(result, now_ms);
        match (options.get(&result.trunk).map(|o| o.up), now.up) {
            (Some(true) | None, false) => tracing::warn!(
                trunk = %result.trunk,
                peer = %result.peer,
                status = now.status,
                "trunk down: no 2xx to OPTIONS"
            ),
            (Some(false), true) => {
                tracing::info!(trunk = %result.trunk, peer = %result.peer, "trunk up again")
            }
            _ => {}
        }
        fresh.insert(result.trunk.clone(), now);
    }
    // Trunks a reload removed go.
    *options = fresh;
}

/// 256 bits from the operating system for one shard's generator (identifiers a peer cannot
/// predict; each shard its own key).
fn shard_key(shard: usize) -> Result<[u8; 32], RunError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|source| RunError::Entropy { shard, source })?;
    Ok(key)
}

/// Serves with the given config until SIGTERM/SIGINT drained every shard. SIGHUP cannot reload
/// without a file: use [`run_with`] for that.
pub fn run(config: Config) -> Result<(), RunError> {
    run_with(config, None)
}

/// Waits until a signal arrives on `fd` or `timeout` passes; returns the signal number.
fn read_signal(fd: &SignalFd, timeout: Duration) -> std::io::Result<Option<libc::c_int>> {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    match poll(
        &mut fds,
        PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX),
    ) {
        Ok(0) | Err(Errno::EINTR) => return Ok(None),
        Ok(_) => {}
        Err(errno) => return Err(errno.into()),
    }
    // Nonblocking: None when another reader took the signal first.
    Ok(fd
        .read_signal()?
        .and_then(|info| libc::c_int::try_from(info.ssi_signo).ok()))
}

/// Serves until stopped; SIGHUP re-reads `config_path`.
pub fn run_with(config: Config, config_path: Option<PathBuf>) -> Result<(), RunError> {
    let signals: SigSet = [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ]
    .into_iter()
    .collect();
    // Blocked before the shard threads start, so they inherit the mask and only the signalfd
    // below ever sees these signals.
    signals
        .thread_block()
        .map_err(|errno| RunError::Signals(errno.into()))?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|errno| RunError::Signals(errno.into()))?;
    let mut server = Server::start(config)?;
    server.set_config_file(config_path.as_deref());
    let mut systemd = Systemd::new();
    systemd.ready(&server);
    loop {
        // While draining, look for stopped shards often: an idle handoff exits within a few
        // milliseconds of SIGTERM, so a supervisor's restart is not slowed by this loop.
        let poll = if server.is_draining() {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(200)
        };
        match read_signal(&signal_fd, poll) {
            Ok(Some(signal)) if signal == libc::SIGHUP => {
                systemd.reloading();
                reload(&mut server, config_path.as_ref());
                systemd.ready(&server);
            }
            Ok(Some(signal)) if signal == libc::SIGUSR1 => server.reopen_audit(),
            Ok(Some(_)) => {
                if server.is_draining() {
                    // A second stop request: do not wait for drain_s, hang up everything now.
                    tracing::warn!("second stop request: sending BYE to every call now");
                    server.drain_within(Duration::ZERO);
                } else {
                    tracing::info!(
                        drain_s = server.config().sbc.drain_s,
                        "stop requested: draining"
                    );
                    server.drain();
                    systemd.stopping();
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "reading signals failed"),
        }
        if server.any_stopped() && !server.is_draining() {
            tracing::error!("a shard stopped unexpectedly; stopping the others");
            server.drain_within(Duration::ZERO);
        }
        if server.all_stopped() {
            return server.wait();
        }
        server.report_drain_progress();
        systemd.tick(&server);
    }
}

/// The systemd notification protocol (`Type=notify`, see config/handoff.service): READY once
/// the shards serve, RELOADING around a SIGHUP reload, STOPPING at drain, STATUS with the calls
/// up, and WATCHDOG pings at half the unit's `WatchdogSec` while every shard thread runs (a
/// stopped shard stops the pings, so systemd restarts a wedged process). Without
/// NOTIFY_SOCKET (not under systemd) every call is a no-op.
struct Systemd {
    enabled: bool,
    watchdog: Option<Duration>,
    last_ping: std::time::Instant,
    last_status: std::time::Instant,
}

/// How often STATUS is refreshed.
const SYSTEMD_STATUS_EVERY: Duration = Duration::from_secs(5);

impl Systemd {
    fn new() -> Systemd {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog = if enabled {
            sd_notify::watchdog_enabled()
        } else {
            None
        };
        let now = std::time::Instant::now();
        Systemd {
            enabled,
            watchdog,
            last_ping: now,
            last_status: now,
        }
    }

    fn send(&self, states: &[sd_notify::NotifyState]) {
        if self.enabled
            && let Err(error) = sd_notify::notify(states)
        {
            tracing::warn!(%error, "systemd notification failed");
        }
    }

    fn status_line(server: &Server) -> String {
        let calls = server.active_calls();
        if server.is_draining() {
            format!("draining: {calls} {} left", plural(calls))
        } else {
            format!(
                "serving on {}: {calls} {} up",
                server.config().sbc.listen,
                plural(calls)
            )
        }
    }

    fn ready(&mut self, server: &Server) {
        let status = Systemd::status_line(server);
        self.send(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&status),
        ]);
    }

    fn reloading(&self) {
        // systemd 253+ requires MONOTONIC_USEC with RELOADING=1 (Type=notify-reload).
        let mut states = vec![sd_notify::NotifyState::Reloading];
        if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        self.send(&states);
    }

    fn stopping(&self) {
        self.send(&[sd_notify::NotifyState::Stopping]);
    }

    fn tick(&mut self, server: &Server) {
        if !self.enabled {
            return;
        }
        if let Some(every) = self.watchdog
            && self.last_ping.elapsed() >= every / 2
            && !server.any_stopped()
        {
            self.last_ping = std::time::Instant::now();
            self.send(&[sd_notify::NotifyState::Watchdog]);
        }
        if self.last_status.elapsed() >= SYSTEMD_STATUS_EVERY {
            self.last_status = std::time::Instant::now();
            let status = Systemd::status_line(server);
            self.send(&[sd_notify::NotifyState::Status(&status)]);
        }
    }
}

fn reload(server: &mut Server, path: Option<&PathBuf>) {
    let Some(path) = path else {
        tracing::warn!(
            "SIGHUP: running on the embedded default config; there is no file to reload"
        );
        return;
    };
    match Config::load(path) {
        Ok(config) => server.reload(config),
        Err(ConfigLoadError::Invalid(errors)) => {
            for error in errors.iter() {
                tracing::error!("{error}");
            }
            tracing::error!(
                path = %path.display(),
                errors = errors.len(),
                "SIGHUP: new config refused; the running config stays"
            );
        }
        Err(error) => {
            tracing::error!(%error, "SIGHUP: new config refused; the running config stays")
        }
    }
}
