//! The per-shard core: owns the transactions, dialogs and calls of one shard.
//!
//! Every input (datagram, timer, shard message) runs to completion and leaves its effects in the
//! output queue; the driver drains it with [`ShardCore::poll_output`]. The B2BUA logic itself is
//! in `b2bua.rs`; this file holds the state, the entry points and the invariants.
//!
//! Model: a shard has one [`TransactionLayer`] (RFC 3261 section 17) and its calls. A [`Call`] is
//! a list of legs (each a full dialog, [`super::dialog::Dialog`], plus its media port and SDP
//! origin), a bridge naming the two that are joined, and a phase (see `call.rs`). Transactions
//! belong to calls through small purpose maps: a server transaction is the initial INVITE or a
//! request relayed from one leg; a client transaction is the routed INVITE, a relayed request
//! (whose response goes back to its server transaction), a transfer's or handoff's own request.
//! Dialogs are found by handoff's local tag (minted, unique) as (call, leg). An ended call keeps
//! its legs for 64*T1 (late BYEs, retransmitted 2xx) and is then reaped, with its timers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use super::attended_state::{AttendedState, AttendedStep};
use super::call::Call;
use super::dialog::Side;
use super::ids::{self, IdMinter};
use super::rng::Rng;
use super::timers::{TimerKey, TimerTable};
use super::transaction::{ClientTxId, ServerTxId, TransactionLayer};
pub(super) use super::transfer_state::TransferTx;
use super::{Output, ShardId, ShardMessage, Time};
use crate::config::Config;
use crate::media::pool::PortPool;
use crate::metrics::ShardMetrics;
use crate::transfer::WallClock;
use crate::vocab::LegId;

/// Counters of one shard, read by tests and the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub calls_active: u64,
    pub calls_started: u64,
    pub calls_answered: u64,
    pub calls_ended: u64,
    /// Requests from an address that is no configured trunk (403).
    pub rejected_unknown_source: u64,
    /// Requests that failed to parse (400).
    pub rejected_malformed: u64,
    /// Requests refused for any reason (403, 400, 404, 420, 488, 503...).
    pub requests_rejected: u64,
    pub malformed_responses_dropped: u64,
    /// Datagrams passed on to the shard that owns them.
    pub forwarded_to_other_shard: u64,
    /// Out-of-dialog OPTIONS answered locally (carrier keepalives).
    pub options_answered: u64,
    /// 2xx to INVITE re-sent because the ACK was late.
    pub retransmitted_2xx: u64,
}

/// What a server transaction of ours is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum ServerPurpose {
    /// The initial INVITE on leg A.
    InitialInvite { call: u64 },
    /// An in-dialog request relayed to the other leg as `client`.
    Relayed {
        call: u64,
        from: Side,
        client: ClientTxId,
    },
}

/// What a client transaction of ours is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum ClientPurpose {
    /// The INVITE on leg B.
    InitialInvite { call: u64 },
    /// A request relayed from the other leg: its response goes back to `server`.
    Relayed {
        call: u64,
        to: Side,
        server: ServerTxId,
        is_invite: bool,
    },
    /// A BYE handoff sends itself (teardown).
    Bye { call: u64 },
    /// A request of the call's transfer (see `transfer_flow.rs`).
    Transfer { call: u64, what: TransferTx },
    /// A request handoff originates for an attended transfer (re-INVITE, NOTIFY).
    Attended { call: u64, step: AttendedStep },
}

impl ClientPurpose {
    pub(super) fn call(self) -> u64 {
        match self {
            ClientPurpose::InitialInvite { call }
            | ClientPurpose::Relayed { call, .. }
            | ClientPurpose::Bye { call }
            | ClientPurpose::Transfer { call, .. }
            | ClientPurpose::Attended { call, .. } => call,
        }
    }
}

/// Timers of the core itself, keys of its [`TimerTable`] (the transaction layer keeps its own).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum CoreTimer {
    /// Re-send our 2xx on `side` until the ACK.
    Retransmit2xx { call: u64, side: Side },
    /// Forget an ended call once late messages had time to arrive.
    Reap { call: u64 },
    /// Drain deadline: BYE what is left.
    DrainDeadline,
    /// A deadline the call's transfer attempt asked for (it may have several pending).
    Transfer { call: u64, at: Time },
    /// A request held for other shards' dialog answers goes on without the missing ones.
    DialogQueryTimeout { hold: u64 },
    /// A deadline of the transfer attempt of a local attended transfer.
    AttendedTransfer { join: u64, at: Time },
}

impl TimerKey for CoreTimer {
    /// A call's timers go when the call is forgotten.
    fn group(&self) -> Option<u64> {
        match *self {
            CoreTimer::Retransmit2xx { call, .. }
            | CoreTimer::Reap { call }
            | CoreTimer::Transfer { call, .. } => Some(call),
            CoreTimer::DrainDeadline
            | CoreTimer::DialogQueryTimeout { .. }
            | CoreTimer::AttendedTransfer { .. } => None,
        }
    }
}

pub struct ShardCore {
    pub(super) shard: ShardId,
    pub(super) shard_count: u16,
    pub(super) config: Arc<Config>,
    pub(super) txn: TransactionLayer,
    pub(super) ids: IdMinter,
    pub(super) rng: Rng,
    pub(super) pool: PortPool,
    /// Calls by sequence number (BTreeMap: iteration order is deterministic).
    pub(super) calls: BTreeMap<u64, Call>,
    /// Dialog lookup by handoff's local tag (unique, minted): (call, leg). Bridged legs, and a
    /// retired platform leg until its BYE.
    pub(super) dialogs: HashMap<String, (u64, LegId)>,
    pub(super) server_txs: HashMap<ServerTxId, ServerPurpose>,
    pub(super) client_txs: HashMap<ClientTxId, ClientPurpose>,
    pub(super) timers: TimerTable<CoreTimer>,
    pub(super) next_call: u64,
    pub(super) outputs: VecDeque<Output>,
    pub(super) stats: ShardStats,
    pub(super) draining: Option<Time>,
    pub(super) metrics: ShardMetrics,
    /// Ties `Time` to Unix time for audit timestamps (set by the driver).
    pub(super) wall_clock: WallClock,
    /// Cross-shard dialog translation (attended transfers).
    pub(super) attended: AttendedState,
}

impl ShardCore {
    /// `seed` drives every identifier the shard mints, so simulations replay exactly.
    pub fn new(shard: ShardId, shard_count: u16, config: Arc<Config>, seed: u64) -> Self {
        let ids = IdMinter::new(shard, seed);
        let rng = Rng::new(seed ^ 0xA5A5_5A5A_0F0F_F0F0);
        Self::with_generators(shard, shard_count, config, ids, rng)
    }

    /// As [`ShardCore::new`], with a 256-bit key (the runtime takes it from the operating
    /// system): identifiers come from ChaCha20 stream 0 of the key, other random choices from
    /// stream 1, and nobody who sees the identifiers can predict the next ones.
    pub fn keyed(shard: ShardId, shard_count: u16, config: Arc<Config>, key: [u8; 32]) -> Self {
        let ids = IdMinter::with_rng(shard, Rng::from_key(key, 0));
        let rng = Rng::from_key(key, 1);
        Self::with_generators(shard, shard_count, config, ids, rng)
    }

    fn with_generators(
        shard: ShardId,
        shard_count: u16,
        config: Arc<Config>,
        ids: IdMinter,
        rng: Rng,
    ) -> Self {
        let shard_count = shard_count.max(1);
        let pool = PortPool::for_shard(
            config.sbc.media_ports,
            usize::from(shard.0),
            usize::from(shard_count),
        )
        .unwrap_or_else(|_| PortPool::from_slice(0, 0));
        ShardCore {
            shard,
            shard_count,
            txn: TransactionLayer::for_shard(config.sbc.timers, shard),
            ids,
            rng,
            pool,
            config,
            calls: BTreeMap::new(),
            dialogs: HashMap::new(),
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            timers: TimerTable::new(),
            next_call: 1,
            outputs: VecDeque::new(),
            stats: ShardStats::default(),
            draining: None,
            metrics: ShardMetrics::new(),
            wall_clock: WallClock {
                at: Time::ZERO,
                unix_ms: 0,
            },
            attended: AttendedState::default(),
        }
    }

    /// This shard's transfer and session counters.
    pub fn metrics(&self) -> &ShardMetrics {
        &self.metrics
    }

    /// The driver reads both clocks once and tells the core, so audit records carry wall time.
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.wall_clock = clock;
    }

    pub fn shard(&self) -> ShardId {
        self.shard
    }

    pub fn shard_count(&self) -> u16 {
        self.shard_count
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn stats(&self) -> ShardStats {
        self.stats
    }

    /// Calls not yet ended.
    pub fn calls_active(&self) -> usize {
        self.calls.values().filter(|c| !c.is_ended()).count()
    }

    /// Calls held in memory, ended ones awaiting their reap included.
    pub fn calls_held(&self) -> usize {
        self.calls.len()
    }

    pub fn media_ports_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Live transactions of the shard's transaction layer.
    pub fn transactions_live(&self) -> usize {
        self.txn.live_count()
    }

    /// BYEs and CANCELs handoff sent that still await their final response (a drain waits).
    pub fn teardowns_in_flight(&self) -> usize {
        self.txn.teardowns_awaiting_final()
    }

    /// Whether the shard refuses new calls (drain requested).
    pub fn is_draining(&self) -> bool {
        self.draining.is_some()
    }

    /// Cross-shard dialog queries this shard sent (attended-transfer translation).
    pub fn dialog_queries_sent(&self) -> u64 {
        self.attended.queries_sent
    }

    /// Requests that went on untranslated because another shard did not answer in time.
    pub fn dialog_query_timeouts(&self) -> u64 {
        self.attended.query_timeouts
    }

    /// Requests held right now for another shard's dialog answer.
    pub fn requests_held_for_translation(&self) -> usize {
        self.attended.held_count()
    }

    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, payload: &[u8]) {
        let owner = ids::owner_of_datagram(payload, self.shard_count);
        if owner != self.shard {
            self.stats.forwarded_to_other_shard += 1;
            self.outputs.push_back(Output::ToShard {
                shard: owner,
                message: ShardMessage::Datagram {
                    from,
                    payload: payload.to_vec(),
                },
            });
            return;
        }
        self.process_datagram(now, from, payload);
        self.pump_transactions();
    }

    /// The earliest moment the core needs [`ShardCore::handle_timeout`] called: the first
    /// deadline of its transactions and of its calls. `None`: nothing is armed.
    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.txn.poll_timeout(), self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time has passed: fires every deadline due at `now` (transactions' and calls', earliest
    /// first), including ones that firing arms for `now` itself.
    pub fn handle_timeout(&mut self, now: Time) {
        loop {
            let transaction_due = self.txn.poll_timeout().filter(|at| *at <= now);
            let core_due = self.timers.next_deadline().filter(|at| *at <= now);
            match (transaction_due, core_due) {
                (None, None) => break,
                (Some(tx_at), core_at) if core_at.is_none_or(|core_at| tx_at <= core_at) => {
                    if let Some(timeout) = self.txn.handle_timeout(tx_at) {
                        self.on_transaction_timeout(now, timeout);
                    }
                }
                _ => {
                    if let Some(timer) = self.timers.pop_expired(now) {
                        self.on_core_timer(now, timer);
                    }
                }
            }
        }
        self.pump_transactions();
    }

    pub fn handle_shard_message(&mut self, now: Time, from: ShardId, message: ShardMessage) {
        let asker = from;
        match message {
            // The sender computed that we own it: handle it here, never bounce it back.
            ShardMessage::Datagram { from, payload } => self.process_datagram(now, from, &payload),
            ShardMessage::Config(config) => self.config = config,
            ShardMessage::Drain { deadline } => {
                self.draining = Some(deadline);
                self.set_timer(deadline, CoreTimer::DrainDeadline);
            }
            ShardMessage::DialogQuery { query, dialog } => {
                self.on_dialog_query(asker, query, dialog)
            }
            ShardMessage::DialogAnswer {
                query,
                dialog,
                bridged,
            } => self.on_dialog_answer(now, query, dialog, bridged),
            ShardMessage::Join(join) => self.on_join_message(now, asker, *join),
        }
        self.pump_transactions();
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Move the transaction layer's outputs into ours.
    pub(super) fn pump_transactions(&mut self) {
        while let Some(output) = self.txn.poll_output() {
            self.outputs.push_back(output.into());
        }
    }

    /// The call and bridge position of the leg whose local tag is `tag`; `None` when no bridged
    /// leg has it (unknown, or a retired leg).
    pub(super) fn dialog_position(&self, tag: &str) -> Option<(u64, Side)> {
        let &(seq, leg) = self.dialogs.get(tag)?;
        Some((seq, self.calls.get(&seq)?.position_of(leg)?))
    }

    /// Arms `timer` at `at` (moving it if it was armed).
    pub(super) fn set_timer(&mut self, at: Time, timer: CoreTimer) {
        self.timers.set(timer, at);
    }

    /// Debug check run by the simulation after every step. Panics with the broken invariant.
    pub fn check_invariants(&self) {
        self.txn.check_invariants();
        let mut ports_held = 0;
        for (seq, call) in &self.calls {
            for side in [Side::A, Side::B] {
                let leg = call.leg(side);
                // No leg without its peer: both legs are indexed and point back to this call.
                assert_eq!(
                    self.dialogs.get(&leg.dialog.local_tag),
                    Some(&(*seq, call.leg_id(side))),
                    "call {seq}: leg {side:?} is not indexed by its tag"
                );
                if call.is_ended() {
                    assert!(
                        leg.media_port.is_none(),
                        "call {seq} ended but still holds media port {:?}",
                        leg.media_port
                    );
                    assert!(
                        leg.pending_2xx.is_none(),
                        "call {seq} ended but still retransmits a 2xx"
                    );
                } else {
                    ports_held += usize::from(leg.media_port.is_some());
                }
                if leg.pending_2xx.is_some() {
                    assert!(
                        self.timers
                            .is_set(CoreTimer::Retransmit2xx { call: *seq, side }),
                        "call {seq}: 2xx retransmission on {side:?} without a timer"
                    );
                }
            }
            // Legs outside the bridge (leg C ringing, retired, replaced) may hold a port too.
            ports_held += (0..call.legs.len())
                .filter(|i| call.position_of(LegId(*i as u16)).is_none())
                .filter(|i| call.legs[*i].media_port.is_some())
                .count();
            if let Some(transfer) = &call.transfer
                && transfer.is_active()
            {
                let timer = self
                    .timers
                    .keys()
                    .any(|t| matches!(t, CoreTimer::Transfer { call, .. } if call == *seq));
                let pending = call.client_txs.iter().any(|tx| {
                    matches!(
                        self.client_txs.get(tx),
                        Some(ClientPurpose::Transfer { .. })
                    )
                });
                assert!(
                    timer || pending,
                    "call {seq}: transfer attempt without a timer or a pending transaction"
                );
            }
            if call.is_ended() {
                assert!(
                    self.timers.is_set(CoreTimer::Reap { call: *seq }),
                    "ended call {seq} has no reap timer"
                );
            }
        }
        assert_eq!(
            ports_held,
            self.pool.in_use(),
            "media ports in use do not match the ports live calls hold"
        );
        for (tag, (seq, leg)) in &self.dialogs {
            assert!(
                self.calls
                    .get(seq)
                    .and_then(|c| c.leg_by_id(*leg))
                    .is_some_and(|leg| leg.dialog.local_tag == *tag),
                "dialog {tag} points to a missing call {seq} or leg {leg:?}"
            );
        }
        for purpose in self.client_txs.values() {
            assert!(
                self.calls.contains_key(&purpose.call()),
                "client transaction for missing call {}",
                purpose.call()
            );
        }
        let active = self.calls_active() as u64;
        assert_eq!(
            self.stats.calls_active, active,
            "calls_active counter drifted"
        );
    }
}
