//! Deterministic simulation of handoff: N shard cores, scripted user agents speaking real SIP
//! bytes, and a simulated network with a virtual clock, all driven by one seed.
//!
//! Datagrams to handoff's address land on a shard chosen like SO_REUSEPORT would (a hash of the
//! 4-tuple), so wrong-shard forwarding happens naturally; shard messages are delivered through
//! the same event queue. In debug builds `ShardCore::check_invariants` runs after every step.
//!
//! A test reads like a call flow:
//! ```no_run
//! use handoff::sim::{Sim, SimOptions, CARRIER, PLATFORM};
//! let mut sim = Sim::new(SimOptions::default());
//! let call = sim.ua(CARRIER).invite("+15551230000", Some(handoff::sim::offer_sdp("10.0.0.1", 4000)));
//! let invite = sim.expect_request(PLATFORM, "INVITE");
//! sim.ua(PLATFORM).answer(invite, 200, Some(handoff::sim::offer_sdp("10.0.0.2", 5000)));
//! sim.run_until(|s| s.ua_ref(CARRIER).dialog(call).is_confirmed(), 5_000);
//! ```

/// `ensure!(sim, condition, "what went wrong {}", args)`: the flows' check, returning `Err` with
/// the virtual time. Defined before the flow modules so each of them sees it.
macro_rules! ensure {
    ($sim:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("t={} ms: {}", $sim.now.as_millis(), format!($($msg)+)));
        }
    };
}

pub mod attended_flows;
pub mod core_fuzz;
pub mod dialer_flows;
pub mod dialogids_flows;
pub mod faulty_sweep;
pub mod glare_flows;
pub mod golden;
mod net;
pub mod one_shard;
pub mod replaces_flows;
pub mod scenarios;
pub mod targets_flows;
pub mod timing_flows;
pub mod transfer_flows;
pub mod trunkreq_flows;
pub mod trust_flows;
mod ua;

pub use net::{LinkProfile, Network, SimEvent, SimRng, reuseport_shard};
pub use ua::{
    DialogId, IncomingRequest, RequestId, ResponseSeen, UaDialog, UaDialogState, UserAgent,
};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{
    CarrierReferPolicy, Config, IoBackend, ReferFailurePolicy, RingbackMode, RingbackTone, Route,
    SbcConfig, SipTimers, TransferMethod, Trunk, TrunkRole, UnknownSourcePolicy,
};
use crate::core::{Event, MediaCommand, Output, ShardCore, ShardId, Time};

/// Index of the carrier agent (trunk "carrier", 10.0.0.1:5060).
pub const CARRIER: usize = 0;
/// Index of the contact-center platform agent (trunk "platform", 10.0.0.2:5060).
pub const PLATFORM: usize = 1;
/// Index of the partner carrier agent (trunk "partner", 10.0.0.3:5060).
pub const PARTNER: usize = 2;
/// Index of an agent that is no configured trunk (10.9.9.9:5060).
pub const STRANGER: usize = 3;

/// handoff's SIP address in the simulation.
pub const SBC_ADDR: &str = "10.0.0.10:5060";

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub shards: u16,
    pub link: LinkProfile,
    /// Run `check_invariants` after every step (defaults to on in debug builds).
    pub check_invariants: bool,
    pub config: Option<Arc<Config>>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            shards: 2,
            link: LinkProfile::CLEAN,
            check_invariants: cfg!(debug_assertions),
            config: None,
        }
    }
}

impl SimOptions {
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn shards(mut self, shards: u16) -> Self {
        self.shards = shards;
        self
    }
    pub fn link(mut self, link: LinkProfile) -> Self {
        self.link = link;
        self
    }
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = Some(config);
        self
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060)))
}

fn trunk(name: &str, peer: &str, codecs: &[&str]) -> Trunk {
    Trunk {
        name: name.to_string(),
        peer: addr(peer),
        sources: std::sync::Arc::new(crate::sources::SourceSet::exactly(addr(peer))),
        role: if name == "platform" {
            TrunkRole::Platform
        } else {
            TrunkRole::Carrier
        },
        carrier_refer: CarrierReferPolicy::Reject,
        transfer: TransferMethod::Refer,
        on_refer_failure: ReferFailurePolicy::Local,
        refer_domain: None,
        jurisdiction: None,
        country_code: "1".to_string(),
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        ringback: RingbackMode::Auto,
        ringback_tone: RingbackTone::Us,
        headers: BTreeMap::new(),
        transfer_targets: Default::default(),
        trust_identity: true,
        conversation_header: false,
        media_networks: Default::default(),
        limits: Default::default(),
        refer_hook: None,
        transfer_timeout_s: None,
        handoff_bye_after_ms: None,
        refer_response: crate::vocab::StatusCode::ACCEPTED,
        auth: None,
    }
}

/// A flow of a seed sweep: its name, the config it runs on, the flow.
pub type SweptFlow = (
    &'static str,
    fn() -> Arc<Config>,
    fn(&mut Sim) -> Result<(), String>,
);

/// Runs every flow under seeds 1..=`seeds` (or the one `HANDOFF_SEED` names) on `link`, each seed
/// on 1 to 3 shards; returns the failures, each naming its flow and seed.
pub fn sweep(flows: &[SweptFlow], seeds: u64, link: LinkProfile) -> Vec<String> {
    let seeds: Vec<u64> = match std::env::var("HANDOFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (1..=seeds).collect(),
    };
    let mut failures = Vec::new();
    for (name, config, flow) in flows {
        for &seed in &seeds {
            let options = SimOptions::default()
                .seed(seed)
                .shards(1 + (seed % 3) as u16)
                .link(link)
                .config(config());
            let outcome = flow_outcome(|| {
                let mut sim = Sim::new(options);
                flow(&mut sim)
            });
            if let Err(error) = outcome {
                failures.push(format!("{name} seed {seed}: {error}"));
            }
        }
    }
    failures
}

/// Runs one flow of a seed sweep: its error, or a panic's message, becomes `Err` so the sweep
/// can report the seed and go on.
pub fn flow_outcome(flow: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(flow)) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string())),
    }
}

/// The simulation's standard config: carrier -> platform; platform -> partner for numbers
/// starting 44; platform -> carrier otherwise.
pub fn standard_config() -> Config {
    Config {
        sbc: SbcConfig {
            listen: addr(SBC_ADDR),
            advertise: addr(SBC_ADDR).ip(),
            shards: 2,
            cpus: vec![],
            io: IoBackend::Epoll,
            sip_steering: crate::config::SipSteering::Hash,
            media_ports: (20000, 30000),
            admin: None,
            admin_token: None,
            hep: None,
            hep_id: crate::config::DEFAULT_HEP_ID,
            audit: "-".to_string(),
            refer_timeout_ms: 8000,
            transfer_timeout_s: 120,
            handoff_bye_after_ms: 2_000,
            drain_s: 30,
            unknown_source: UnknownSourcePolicy::Drop,
            max_message_bytes: 8192,
            options_interval_s: 0,
            source_limit: Default::default(),
            // The simulation carries no RTP: flows longer than a minute (64*T1 waits, slow
            // carriers) would end as silent. Liveness tests set it (`sim_session_liveness.rs`)
            // and report media with `Sim::media_seen`.
            media_timeout_s: 0,
            hold_timeout_s: 3_600,
            max_call_s: 14_400,
            identity: crate::config::DEFAULT_IDENTITY.to_owned(),
            audit_queue: crate::config::DEFAULT_AUDIT_QUEUE,
            audit_bodies: false,
            timers: SipTimers::default(),
        },
        trunks: vec![
            trunk("carrier", "10.0.0.1:5060", &["PCMU", "PCMA"]),
            trunk("platform", "10.0.0.2:5060", &["PCMU", "PCMA", "G729"]),
            trunk("partner", "10.0.0.3:5060", &["PCMA"]),
        ],
        routes: vec![
            Route {
                from: Some(0),
                to: 1,
                prefix: String::new(),
                domain: None,
            },
            Route {
                from: Some(1),
                to: 2,
                prefix: "44".to_string(),
                domain: None,
            },
            Route {
                from: Some(1),
                to: 0,
                prefix: String::new(),
                domain: None,
            },
        ],
    }
}

/// A minimal audio offer/answer from `ip:port` (PCMU, PCMA, telephone-event).
pub fn offer_sdp(ip: &str, port: u16) -> Vec<u8> {
    sdp_with(ip, port, "sendrecv", &[0, 8])
}

/// An SDP body with the given direction attribute and static payload types (plus telephone-event).
pub fn sdp_with(ip: &str, port: u16, direction: &str, payload_types: &[u8]) -> Vec<u8> {
    let formats: Vec<(u8, &str)> = payload_types
        .iter()
        .map(|pt| {
            let name = match pt {
                0 => "PCMU/8000",
                8 => "PCMA/8000",
                18 => "G729/8000",
                9 => "G722/8000",
                _ => "L16/8000",
            };
            (*pt, name)
        })
        .collect();
    sipwire::agent::AudioSdp {
        origin: "ua 1000 1",
        ip,
        port,
        formats: &formats,
        events: "0-16",
        direction,
    }
    .text()
    .into_bytes()
}

/// handoff's shards, the agents and the network, on one virtual clock.
pub struct Sim {
    pub now: Time,
    pub net: Network,
    pub config: Arc<Config>,
    pub sbc: SocketAddr,
    shards: Vec<ShardCore>,
    /// Per shard: the deadline its pending `ShardTimer` event is for (a later event supersedes).
    shard_wakeups: Vec<Option<Time>>,
    agents: Vec<UserAgent>,
    /// Every event the shards emitted, in order, with the shard that emitted it.
    pub events: Vec<(ShardId, Event)>,
    /// Every media command the shards emitted, in order.
    pub media: Vec<(ShardId, MediaCommand)>,
    /// Datagrams a shard passed on to another shard.
    pub forwarded: u64,
    /// Steps taken (events processed).
    pub steps: u64,
    check_invariants: bool,
    /// Print every delivered datagram's first line (env HANDOFF_SIM_TRACE=1).
    pub trace: bool,
    /// Shard messages this returns `true` for are lost (a shard that never answers).
    pub drop_shard_message: Option<fn(&crate::core::ShardMessage) -> bool>,
    /// Topology leaks: a datagram handoff sent to one agent that names another agent's IP
    /// address (in any header or the SDP). Topology hiding says this stays empty.
    pub leaks: Vec<String>,
    /// Datagrams handoff's shards sent, by destination, as delivered (after loss).
    pub delivered_from_sbc: std::collections::BTreeMap<SocketAddr, u64>,
    /// The simulated relay's last media per call ([`Sim::media_seen`]): what the sim answers a
    /// shard's `Output::QueryMediaActivity` with (session liveness).
    pub media_activity: std::collections::BTreeMap<crate::core::CallRef, Time>,
    /// `Output::QueryMediaActivity` asked so far.
    pub media_queries: u64,
    /// When set, every datagram a shard sends is recorded in `correlations` as (its Call-ID,
    /// what the HEP capture names it by: `ShardCore::correlation_id` at the moment it is sent).
    pub record_correlations: bool,
    pub correlations: Vec<(String, String)>,
    /// How the simulated `refer_hook` server answers, one entry per `Output::ReferHook` in
    /// order (empty: no answer at all, as a lost one): see [`ScriptedHook`].
    pub hook_script: std::collections::VecDeque<ScriptedHook>,
    /// Every `Output::ReferHook` the shards emitted: (url, JSON body).
    pub hook_requests: Vec<(String, String)>,
}

/// One scripted answer of the simulated `refer_hook` server.
#[derive(Clone, Debug)]
pub struct ScriptedHook {
    /// After this long (past the hook's `timeout_ms`, the core has given up already).
    pub after_ms: u64,
    /// `None`: the answer never comes.
    pub answer: Option<crate::core::HookAnswer>,
}

impl ScriptedHook {
    /// A 200 with `json` as its body, after `after_ms`.
    pub fn json(after_ms: u64, json: &str) -> ScriptedHook {
        ScriptedHook {
            after_ms,
            answer: Some(crate::core::HookAnswer::Response {
                status: 200,
                body: json.as_bytes().to_vec(),
            }),
        }
    }
}

impl Sim {
    pub fn new(options: SimOptions) -> Sim {
        let config = options
            .config
            .clone()
            .unwrap_or_else(|| Arc::new(standard_config()));
        let shard_count = options.shards.max(1);
        let shards = (0..shard_count)
            .map(|i| {
                ShardCore::new(
                    ShardId(i),
                    shard_count,
                    config.clone(),
                    options.seed.wrapping_mul(1000).wrapping_add(u64::from(i)),
                )
            })
            .collect();
        let sbc = config.sbc.listen;
        let timers = config.sbc.timers;
        let mut agents = Vec::new();
        for (i, (name, at)) in [
            ("carrier", "10.0.0.1:5060"),
            ("platform", "10.0.0.2:5060"),
            ("partner", "10.0.0.3:5060"),
            ("stranger", "10.9.9.9:5060"),
        ]
        .into_iter()
        .enumerate()
        {
            agents.push(UserAgent::new(
                name,
                addr(at),
                sbc,
                timers,
                options.seed.wrapping_mul(31).wrapping_add(i as u64),
            ));
        }
        let mut sim = Sim {
            now: Time::ZERO,
            net: Network::new(options.seed, options.link),
            config,
            sbc,
            shard_wakeups: vec![None; usize::from(shard_count)],
            shards,
            agents,
            events: Vec::new(),
            media: Vec::new(),
            forwarded: 0,
            steps: 0,
            check_invariants: options.check_invariants,
            trace: std::env::var_os("HANDOFF_SIM_TRACE").is_some(),
            leaks: Vec::new(),
            drop_shard_message: None,
            delivered_from_sbc: std::collections::BTreeMap::new(),
            media_activity: std::collections::BTreeMap::new(),
            media_queries: 0,
            record_correlations: false,
            correlations: Vec::new(),
            hook_script: Default::default(),
            hook_requests: Vec::new(),
        };
        sim.flush();
        sim
    }

    /// The agent, with its clock set to now (scripts act at the current virtual time).
    pub fn ua(&mut self, agent: usize) -> &mut UserAgent {
        let now = self.now;
        let agent = &mut self.agents[agent];
        agent.set_now(now);
        agent
    }

    pub fn ua_ref(&self, agent: usize) -> &UserAgent {
        &self.agents[agent]
    }

    pub fn shard(&self, shard: usize) -> &ShardCore {
        &self.shards[shard]
    }

    pub fn shards(&self) -> &[ShardCore] {
        &self.shards
    }

    /// Hand a shard message to a shard directly (drain, config reload), as the runtime would.
    pub fn send_shard_message(&mut self, to: ShardId, message: crate::core::ShardMessage) {
        self.net.schedule(
            self.now,
            SimEvent::ShardMessage {
                from: to,
                to,
                message,
            },
        );
    }

    /// The driver could not open the media sockets of `call` (as the runtime reports a failed
    /// bind): tells the owning shard now.
    pub fn fail_media(&mut self, call: crate::core::CallRef) {
        let now = self.now;
        if let Some(shard) = self.shards.get_mut(usize::from(call.shard.0)) {
            shard.handle_media_failure(now, call);
        }
        self.flush();
    }

    /// The simulated relay saw a packet of `call` now (RTP from one of its legs): the next
    /// liveness query of the call is answered with this time.
    pub fn media_seen(&mut self, call: crate::core::CallRef) {
        self.media_activity.insert(call, self.now);
    }

    /// Take whatever agents and shards want to send and put it on the network / event queue.
    fn flush(&mut self) {
        let now = self.now;
        for (index, agent) in self.agents.iter_mut().enumerate() {
            for (to, payload) in agent.take_outbox() {
                if self.trace {
                    let first = payload.split(|b| *b == b'\n').next().unwrap_or_default();
                    eprintln!(
                        "{:>8} ms {} sends {}",
                        now.as_millis(),
                        agent.name,
                        String::from_utf8_lossy(first).trim_end()
                    );
                }
                self.net.send(now, agent.addr, to, payload);
            }
            for at in agent.take_wakeups() {
                self.net
                    .schedule(at.max(now), SimEvent::AgentWake { agent: index });
            }
        }
        for index in 0..self.shards.len() {
            let shard_id = ShardId(index as u16);
            while let Some(output) = self.shards[index].poll_output() {
                match output {
                    Output::Transmit(transmit) => {
                        if self.record_correlations
                            && let Ok(message) =
                                crate::sip::Message::parse_framing(&transmit.payload)
                            && let Ok(call_id) = message.call_id()
                        {
                            let named = self.shards[index]
                                .correlation_id(&transmit.payload)
                                .unwrap_or_default();
                            self.correlations
                                .push((call_id.to_owned(), named.to_owned()));
                        }
                        if self.trace {
                            let first = transmit
                                .payload
                                .split(|b| *b == b'\n')
                                .next()
                                .unwrap_or_default();
                            eprintln!(
                                "{:>8} ms shard {index} sends to {}: {}",
                                now.as_millis(),
                                transmit.to,
                                String::from_utf8_lossy(first).trim_end()
                            );
                        }
                        self.net.send(now, self.sbc, transmit.to, transmit.payload)
                    }
                    Output::ToShard { shard, message } => {
                        if matches!(message, crate::core::ShardMessage::Datagram { .. }) {
                            self.forwarded += 1;
                        }
                        self.net.schedule(
                            now,
                            SimEvent::ShardMessage {
                                from: shard_id,
                                to: shard,
                                message,
                            },
                        )
                    }
                    Output::Media(command) => self.media.push((shard_id, command)),
                    Output::QueryMediaActivity { call } => {
                        // Answered at once, as the runtime does (its relay's last packet).
                        self.media_queries += 1;
                        let last = self.media_activity.get(&call).copied();
                        self.shards[index].handle_media_activity(now, call, last);
                    }
                    Output::ReferHook {
                        call,
                        request_id,
                        url,
                        body,
                        ..
                    } => {
                        self.hook_requests.push((url, body));
                        if let Some(ScriptedHook {
                            after_ms,
                            answer: Some(answer),
                        }) = self.hook_script.pop_front()
                        {
                            self.net.schedule(
                                now.plus_millis(after_ms),
                                SimEvent::HookAnswer {
                                    call,
                                    request_id,
                                    answer,
                                },
                            );
                        }
                    }
                    Output::Event(event) => self.events.push((shard_id, event)),
                }
            }
            // Wake the shard at its earliest deadline (the core keeps its own timers).
            let next = self.shards[index].poll_timeout();
            if next != self.shard_wakeups[index]
                && let Some(at) = next
            {
                self.shard_wakeups[index] = Some(at);
                self.net.schedule(
                    at.max(now),
                    SimEvent::ShardTimer {
                        shard: shard_id,
                        at,
                    },
                );
            }
        }
    }

    /// Process the next scheduled event. `false` when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some((at, event)) = self.net.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        self.steps += 1;
        let now = self.now;
        match event {
            SimEvent::Datagram { from, to, payload } => {
                if self.trace {
                    let first = payload.split(|b| *b == b'\n').next().unwrap_or_default();
                    eprintln!(
                        "{:>8} ms {from} -> {to}: {}",
                        now.as_millis(),
                        String::from_utf8_lossy(first).trim_end()
                    );
                }
                if to == self.sbc {
                    let shard = reuseport_shard(from, to, self.shards.len() as u16);
                    self.shards[usize::from(shard.0)].handle_datagram(now, from, &payload);
                } else {
                    if from == self.sbc {
                        self.check_topology(to, &payload);
                        *self.delivered_from_sbc.entry(to).or_default() += 1;
                    }
                    if let Some(agent) = self.agents.iter_mut().find(|a| a.addr == to) {
                        agent.on_datagram(now, from, &payload);
                    }
                }
            }
            SimEvent::ShardTimer { shard, at } => {
                let index = usize::from(shard.0);
                // Only the latest wakeup asked for counts; earlier ones were superseded.
                if self.shard_wakeups.get(index) == Some(&Some(at)) {
                    self.shard_wakeups[index] = None;
                    self.shards[index].handle_timeout(now);
                }
            }
            SimEvent::ShardMessage { from, to, message } => {
                if self.drop_shard_message.is_some_and(|drop| drop(&message)) {
                    // Lost on purpose (the test's silent shard).
                } else if let Some(core) = self.shards.get_mut(usize::from(to.0)) {
                    core.handle_shard_message(now, from, message);
                }
            }
            SimEvent::AgentWake { agent } => {
                if let Some(agent) = self.agents.get_mut(agent) {
                    agent.on_wake(now);
                }
            }
            SimEvent::HookAnswer {
                call,
                request_id,
                answer,
            } => {
                if let Some(core) = self.shards.get_mut(usize::from(call.shard.0)) {
                    core.handle_hook_answer(now, call, request_id, answer);
                }
            }
            SimEvent::Tick => {}
        }
        if self.check_invariants {
            for shard in &self.shards {
                shard.check_invariants();
            }
        }
        self.flush();
        true
    }

    /// Records a leak when a datagram handoff sends to `to` names another agent's IP address.
    /// Identity headers are not checked: handoff carries P-Asserted-Identity, P-Preferred-Identity
    /// and Referred-By intact on purpose (RFC 3325, RFC 3892; the carrier checks them), whatever
    /// host the sender put in them.
    fn check_topology(&mut self, to: SocketAddr, payload: &[u8]) {
        const IDENTITY: [&str; 4] = [
            "p-asserted-identity:",
            "p-preferred-identity:",
            "referred-by:",
            "b:",
        ];
        let text: String = String::from_utf8_lossy(payload)
            .split("\r\n")
            .filter(|line| {
                let lower = line.to_ascii_lowercase();
                !IDENTITY.iter().any(|h| lower.starts_with(h))
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        // handoff names itself by `sbc.identity` only, never by the product name.
        if text.to_ascii_lowercase().contains("handoff") {
            let first = text.lines().next().unwrap_or_default();
            self.leaks.push(format!(
                "t={} ms: to {to} ({first}) names the product:\n{text}",
                self.now.as_millis()
            ));
        }
        for agent in &self.agents {
            let ip = agent.addr.ip();
            if ip == to.ip() {
                continue;
            }
            let ip = ip.to_string();
            let named = text.match_indices(ip.as_str()).any(|(at, _)| {
                // 10.0.0.1 must not match inside 10.0.0.10 (handoff's own address).
                !text[at + ip.len()..].starts_with(|c: char| c.is_ascii_digit())
            });
            if named {
                let first = text.lines().next().unwrap_or_default();
                self.leaks.push(format!(
                    "t={} ms: to {to} ({first}) names {ip}:\n{text}",
                    self.now.as_millis()
                ));
            }
        }
    }

    /// Run until `done` holds (checked after each step) or `max_ms` of virtual time passed.
    pub fn run_until(&mut self, mut done: impl FnMut(&Sim) -> bool, max_ms: u64) -> bool {
        let limit = self.now.plus_millis(max_ms);
        self.flush();
        loop {
            if done(self) {
                return true;
            }
            match self.net.next_time() {
                Some(at) if at <= limit => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(limit);
                    return done(self);
                }
            }
        }
    }

    /// Let `ms` of virtual time pass, processing everything due.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now.plus_millis(ms);
        self.net.schedule(until, SimEvent::Tick);
        self.run_until(|s| s.now >= until, ms);
    }

    /// Run until `agent` has a new request of `method` and take it; panics (with the seed's
    /// context in the message) when none arrives within 40 s of virtual time.
    pub fn expect_request(&mut self, agent: usize, method: &str) -> RequestId {
        let found = self.run_until(|s| s.agents[agent].has_request(method), 40_000);
        assert!(
            found,
            "{} got no {method} within 40 s (t={} ms)",
            self.agents[agent].name,
            self.now.as_millis()
        );
        match self.agents[agent].take_request(method) {
            Some(id) => id,
            None => unreachable!("has_request was true"),
        }
    }

    /// Calls currently up on all shards.
    pub fn calls_active(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.stats().calls_active as usize)
            .sum()
    }

    /// The CallEnded events so far.
    pub fn call_ends(&self) -> Vec<crate::core::CallEnd> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::CallEnded(end) => Some(end.clone()),
                _ => None,
            })
            .collect()
    }

    /// Media ports held across all shards (0 when every call has released its ports).
    pub fn media_ports_in_use(&self) -> usize {
        self.shards.iter().map(|s| s.media_ports_in_use()).sum()
    }

    /// The transfer audit records emitted so far, in order.
    pub fn transfers(&self) -> Vec<crate::transfer::TransferRecord> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Transfer(record) => Some((**record).clone()),
                _ => None,
            })
            .collect()
    }

    /// All shards' metrics, summed (as the admin endpoint will read them).
    pub fn metrics(&self) -> crate::metrics::ShardMetrics {
        let mut total = crate::metrics::ShardMetrics::new();
        for shard in &self.shards {
            total.merge(shard.metrics());
        }
        total
    }
}
