//! The per-shard core: owns the transactions, dialogs and calls of one shard.
//!
//! Every input (datagram, timer, shard message, media failure) runs to completion and leaves its
//! effects in the sink's output queue; the driver drains it with [`ShardCore::poll_output`]. The
//! shard's module is the only place with `impl ShardCore`: this file holds the state, the entry
//! points, [`ShardCore::with_call`] (find the call once, hand it the effects sink, run what it
//! leaves) and the invariants; `dispatch.rs` routes inputs to calls; `held.rs` holds requests for
//! other shards' dialog answers. What a call does is the call's (`impl Call` in b2bua.rs,
//! transfer_flow.rs, media_failure.rs).
//!
//! Model: a shard has one [`TransactionLayer`] (RFC 3261 section 17) and its calls. A [`Call`] is
//! a list of legs (each a full dialog, [`super::dialog::Dialog`], plus its media port and SDP
//! origin), a bridge naming the two that are joined, and a phase (see `call.rs`). Transactions
//! belong to calls through small purpose maps: a server transaction is the initial INVITE or a
//! request relayed from one leg; a client transaction is the routed INVITE, a relayed request
//! (whose response goes back to its server transaction), a transfer's or handoff's own request.
//! Dialogs are found by handoff's local tag (minted, unique) as (call, leg). An ended call keeps
//! its legs a while (late BYEs, retransmitted 2xx: 64*T1, or T4 for an answered call without a
//! transfer, `Call::linger_ms`) and is then reaped, with its timers.

mod audit;
mod auth;
mod dispatch;
mod held;
mod out_of_dialog;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::core::attended_state::AttendedState;
use crate::core::call::{Call, Calls};
use crate::core::dialog::Side;
use crate::core::effects::{ClientPurpose, CoreTimer, Effects, FollowUp, ShardStats};
use crate::core::flood::SourceLimiter;
use crate::core::ids::{self, IdMinter};
use crate::core::rng::Rng;
use crate::core::timers::TimerTable;
use crate::core::transaction::TransactionLayer;
use crate::core::{CallRef, EndReason, HookAnswer, Output, ShardId, ShardMessage, Time};
use crate::media::pool::PortPool;
use crate::metrics::ShardMetrics;
use crate::transfer::WallClock;
use crate::vocab::{LegId, StatusCode};

pub struct ShardCore {
    /// Everything an input may change besides the calls: the effects sink (see `effects.rs`).
    pub(super) fx: Effects,
    /// Calls by sequence number (BTreeMap: iteration order is deterministic).
    pub(super) calls: Calls,
    pub(super) next_call: u64,
    /// Cross-shard dialog translation (attended transfers).
    pub(super) attended: AttendedState,
    /// Flood limits, checked before a datagram is parsed (`sbc.source_limit`).
    pub(super) flood: SourceLimiter,
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
            fx: Effects {
                shard,
                shard_count,
                txn: TransactionLayer::for_shard(config.sbc.timers, shard),
                ids,
                rng,
                pool,
                config,
                dialogs: Default::default(),
                call_ids: Default::default(),
                server_txs: Default::default(),
                client_txs: Default::default(),
                timers: TimerTable::new(),
                outputs: VecDeque::new(),
                stats: ShardStats::default(),
                draining: None,
                metrics: ShardMetrics::new(),
                wall_clock: WallClock {
                    at: Time::ZERO,
                    unix_ms: 0,
                },
                follow_ups: Vec::new(),
                refer_audited: Default::default(),
                refused_refers: Vec::new(),
                admission: Default::default(),
                ladders: Default::default(),
                hook_requests: 0,
                auth_retries: Default::default(),
            },
            calls: BTreeMap::new(),
            next_call: 1,
            attended: AttendedState::default(),
            flood: SourceLimiter::default(),
        }
    }

    /// This shard's transfer and session counters.
    pub fn metrics(&self) -> &ShardMetrics {
        &self.fx.metrics
    }

    /// The calls not yet ended, for the admin endpoint's `GET /calls` (the runtime publishes
    /// them between loop turns).
    pub fn live_calls(&self, now: Time) -> Vec<crate::core::call::LiveCall> {
        use crate::core::call::{CallPhase, LiveCall, LiveLeg};
        self.calls
            .values()
            .filter_map(|call| {
                let phase = match call.phase {
                    CallPhase::Setup => "setup",
                    CallPhase::Up | CallPhase::Transferring(_) => "up",
                    CallPhase::Ended { .. } => return None,
                };
                let legs = call
                    .legs
                    .iter()
                    .enumerate()
                    .filter(|(_, leg)| !leg.gone)
                    .map(|(index, leg)| LiveLeg {
                        trunk: call
                            .config
                            .trunks
                            .get(leg.trunk)
                            .map_or_else(String::new, |t| t.name.clone()),
                        role: leg.role.as_str(),
                        bridged: call.bridge.iter().any(|b| usize::from(b.0) == index),
                    })
                    .collect();
                Some(LiveCall {
                    conversation: call.conversation.clone(),
                    phase,
                    age_ms: now.0.saturating_sub(call.started.0) / 1_000_000,
                    legs,
                    transferring: call.transfer().is_some(),
                    codec: call.audio_codec.clone(),
                    codecs: call.codecs.clone(),
                    packets: None,
                    call: call.id,
                })
            })
            .collect()
    }

    /// The driver reads both clocks once and tells the core, so audit records carry wall time.
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.fx.wall_clock = clock;
    }

    pub fn shard(&self) -> ShardId {
        self.fx.shard
    }

    pub fn shard_count(&self) -> u16 {
        self.fx.shard_count
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.fx.config
    }

    pub fn stats(&self) -> ShardStats {
        self.fx.stats
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
        self.fx.pool.in_use()
    }

    /// The runtime opened the sockets of exactly these RTP ports (and each one's RTCP port + 1)
    /// at start-up: the shard's pool shrinks to them, so a call is only ever given a pair that
    /// is already open, and a call beyond them gets 503 (no media ports). Called once, before
    /// any call.
    pub fn restrict_media_ports(&mut self, open_rtp_ports: &[u16]) {
        let mut open = open_rtp_ports.to_vec();
        open.sort_unstable();
        self.fx
            .pool
            .retain(|port| open.binary_search(&port).is_ok());
    }

    /// The runtime opened the sockets of these RTP ports (and each one's RTCP port + 1) since:
    /// they join the pool (after [`ShardCore::restrict_media_ports`] withdrew them). The
    /// runtime serves SIP first and opens the shard's pairs in chunks from its loop; a call
    /// only ever gets a pair already open, and while none is free it gets 503 (no media ports).
    pub fn admit_media_ports(&mut self, open_rtp_ports: &[u16]) {
        self.fx.pool.admit(open_rtp_ports);
    }

    /// Pairs the shard's pool can hand out (after [`ShardCore::restrict_media_ports`]).
    pub fn media_pairs(&self) -> usize {
        self.fx.pool.capacity()
    }

    /// Live transactions of the shard's transaction layer.
    pub fn transactions_live(&self) -> usize {
        self.fx.txn.live_count()
    }

    /// BYEs and CANCELs handoff sent that still await their final response (a drain waits).
    pub fn teardowns_in_flight(&self) -> usize {
        self.fx.txn.teardowns_awaiting_final()
    }

    /// Strangers' addresses the flood limiter keeps buckets for (bounded).
    pub fn flood_tracked_sources(&self) -> usize {
        self.flood.tracked_sources()
    }

    /// Whether the shard refuses new calls (drain requested).
    pub fn is_draining(&self) -> bool {
        self.fx.draining.is_some()
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

    /// What a capture (HEP, `runtime/hep.rs`) names SIP message `payload` by: the conversation
    /// id of the call one of whose legs has its Call-ID (the id the audit records and the
    /// logs carry), otherwise its Call-ID; `None` when it has no readable Call-ID. A map
    /// lookup after a parse: no state changes, nothing is allocated.
    pub fn correlation_id<'a>(&'a self, payload: &'a [u8]) -> Option<&'a str> {
        let message = crate::sip::Message::parse_framing(payload).ok()?;
        let call_id = message.call_id().ok()?;
        Some(self.conversation_of_call_id(call_id).unwrap_or(call_id))
    }

    /// The conversation id of the call SIP message `payload` belongs to (one of its legs has
    /// the message's Call-ID); `None` outside calls. For log lines about the message.
    pub fn conversation_of(&self, payload: &[u8]) -> Option<&str> {
        let message = crate::sip::Message::parse_framing(payload).ok()?;
        self.conversation_of_call_id(message.call_id().ok()?)
    }

    fn conversation_of_call_id(&self, call_id: &str) -> Option<&str> {
        let seq = self.fx.call_ids.get(call_id)?;
        Some(self.calls.get(seq)?.conversation.as_str())
    }

    /// The conversation id of `call` while the shard holds it (until its reap).
    pub fn conversation(&self, call: CallRef) -> Option<&str> {
        if call.shard != self.fx.shard {
            return None;
        }
        Some(self.calls.get(&call.seq)?.conversation.as_str())
    }

    /// Whether this shard handles `payload` itself: `false` when `handle_datagram` passes it
    /// on to its owner (`ShardMessage::Datagram`), which handles it then.
    pub fn owns_datagram(&self, payload: &[u8]) -> bool {
        ids::owner_of_datagram(payload, self.fx.shard_count) == self.fx.shard
    }

    /// A datagram another shard passed on, borrowed: the same as `handle_shard_message` with
    /// `ShardMessage::Datagram`, for a driver that still needs the bytes afterwards (the HEP
    /// capture names it by its call once the call exists).
    pub fn handle_passed_datagram(&mut self, now: Time, from: SocketAddr, payload: &[u8]) {
        self.process_datagram(now, from, payload);
        self.run_follow_ups(now);
        self.fx.pump_transactions();
    }

    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, payload: &[u8]) {
        self.fx.ladders.tick(now);
        let owner = ids::owner_of_datagram(payload, self.fx.shard_count);
        if owner != self.fx.shard {
            self.fx.stats.forwarded_to_other_shard += 1;
            self.fx.outputs.push_back(Output::ToShard {
                shard: owner,
                message: ShardMessage::Datagram {
                    from,
                    payload: payload.to_vec(),
                },
            });
            return;
        }
        self.process_datagram(now, from, payload);
        self.run_follow_ups(now);
        self.fx.pump_transactions();
    }

    /// The earliest moment the core needs [`ShardCore::handle_timeout`] called: the first
    /// deadline of its transactions and of its calls. `None`: nothing is armed.
    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.fx.txn.poll_timeout(), self.fx.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time has passed: fires every deadline due at `now` (transactions' and calls', earliest
    /// first), including ones that firing arms for `now` itself.
    pub fn handle_timeout(&mut self, now: Time) {
        self.fx.ladders.tick(now);
        loop {
            let transaction_due = self.fx.txn.poll_timeout().filter(|at| *at <= now);
            let core_due = self.fx.timers.next_deadline().filter(|at| *at <= now);
            match (transaction_due, core_due) {
                (None, None) => break,
                (Some(tx_at), core_at) if core_at.is_none_or(|core_at| tx_at <= core_at) => {
                    if let Some(timeout) = self.fx.txn.handle_timeout(tx_at) {
                        self.on_transaction_timeout(now, timeout);
                    }
                    self.run_follow_ups(now);
                }
                _ => {
                    if let Some(timer) = self.fx.timers.pop_expired(now) {
                        self.on_core_timer(now, timer);
                    }
                    self.run_follow_ups(now);
                }
            }
        }
        self.fx.pump_transactions();
    }

    pub fn handle_shard_message(&mut self, now: Time, from: ShardId, message: ShardMessage) {
        self.fx.ladders.tick(now);
        let asker = from;
        match message {
            // The sender computed that we own it: handle it here, never bounce it back.
            ShardMessage::Datagram { from, payload } => self.process_datagram(now, from, &payload),
            ShardMessage::Config(config) => self.fx.config = config,
            ShardMessage::EndCall { conversation } => {
                self.end_call_for_operator(now, &conversation)
            }
            ShardMessage::HookAnswer {
                call,
                request_id,
                answer,
            } => self.handle_hook_answer(now, call, request_id, answer),
            ShardMessage::Drain { deadline } => {
                self.fx.draining = Some(deadline);
                self.fx.set_timer(deadline, CoreTimer::DrainDeadline);
            }
            ShardMessage::DialogQuery { query, dialog } => {
                self.on_dialog_query(asker, query, dialog)
            }
            ShardMessage::DialogAnswer {
                query,
                dialog,
                bridged,
            } => self.on_dialog_answer(now, query, dialog, bridged),
            ShardMessage::Join(join) => {
                self.attended
                    .on_join_message(&mut self.calls, &mut self.fx, now, asker, *join)
            }
        }
        self.run_follow_ups(now);
        self.fx.pump_transactions();
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.audit_refused_requests();
        self.fx.outputs.pop_front()
    }

    /// The driver could not open the media sockets a command of `call` needed: the call's
    /// requests fail (see media_failure.rs). Unknown or ended calls: nothing.
    pub fn handle_media_failure(&mut self, now: Time, call: CallRef) {
        if call.shard != self.fx.shard {
            return;
        }
        self.with_call(now, call.seq, |call, fx| call.on_media_failure(fx, now));
        self.fx.pump_transactions();
    }

    /// Session liveness: the driver's answer to `Output::QueryMediaActivity` for `call`, the
    /// arrival of its last media (`None`: none yet). See liveness.rs.
    pub fn handle_media_activity(&mut self, now: Time, call: CallRef, last: Option<Time>) {
        if call.shard != self.fx.shard {
            return;
        }
        // A call whose far leg moved to a keeper (local attended join) has its media there: the
        // keeper's call measures it, and its end ends this one (`PeerEnded`).
        let last = if self.attended.away.contains_key(&call.seq) {
            Some(now)
        } else {
            last
        };
        self.with_call(now, call.seq, |call, fx| {
            call.on_media_activity(fx, now, last)
        });
        self.fx.pump_transactions();
    }

    /// The driver's answer to `Output::ReferHook` `request_id` for `call` (see transfer_flow.rs,
    /// `Call::on_hook_answer`). An answer for a REFER already decided (its deadline passed, the
    /// call is gone) is ignored.
    pub fn handle_hook_answer(
        &mut self,
        now: Time,
        call: CallRef,
        request_id: u64,
        answer: HookAnswer,
    ) {
        if call.shard != self.fx.shard {
            return;
        }
        self.with_call(now, call.seq, |call, fx| {
            call.on_hook_answer(fx, now, request_id, Some(answer))
        });
        self.fx.pump_transactions();
    }

    /// Runs `behaviour` on call `seq` (if it is still held) with the effects sink, then what it
    /// left for the shard.
    pub(in crate::core) fn with_call(
        &mut self,
        now: Time,
        seq: u64,
        behaviour: impl FnOnce(&mut Call, &mut Effects),
    ) {
        if let Some(call) = self.calls.get_mut(&seq) {
            behaviour(call, &mut self.fx);
        }
        self.run_follow_ups(now);
    }

    /// `ShardMessage::EndCall`: the operator ends the call with this conversation id (one
    /// search of this shard's calls: an operator's action, not a per-packet path).
    fn end_call_for_operator(&mut self, now: Time, conversation: &str) {
        let Some(seq) = self
            .calls
            .iter()
            .find(|(_, call)| call.conversation == conversation && !call.is_ended())
            .map(|(seq, _)| *seq)
        else {
            return;
        };
        self.with_call(now, seq, |call, fx| {
            call.hang_up(
                fx,
                now,
                EndReason::EndedByOperator,
                StatusCode::TEMPORARILY_UNAVAILABLE,
            )
        });
        self.fx.pump_transactions();
    }

    /// Runs what calls' behaviour left for the shard (see [`FollowUp`]).
    pub(in crate::core) fn run_follow_ups(&mut self, now: Time) {
        while !self.fx.follow_ups.is_empty() {
            for work in std::mem::take(&mut self.fx.follow_ups) {
                match work {
                    FollowUp::CallEnded { call } => {
                        self.attended
                            .attended_call_ended(&mut self.calls, &mut self.fx, now, call)
                    }
                    FollowUp::StartLocalJoin { call } => {
                        self.attended
                            .start_local_join(&mut self.calls, &mut self.fx, now, call)
                    }
                    FollowUp::TransferSettled { call } => self.attended.on_transfer_settled(call),
                }
            }
        }
    }

    /// Debug check run by the simulation after every step. Panics with the broken invariant.
    pub fn check_invariants(&self) {
        self.fx.txn.check_invariants();
        // The Call-ID map (what names a message's call, `correlation_id`) holds no reaped call,
        // and names a call only by a Call-ID one of its legs has.
        for (call_id, seq) in &self.fx.call_ids {
            let call = self
                .calls
                .get(seq)
                .unwrap_or_else(|| panic!("Call-ID {call_id} names reaped call {seq}"));
            assert!(
                call.legs.iter().any(|leg| &leg.dialog.call_id == call_id),
                "Call-ID {call_id} names call {seq}, none of whose legs has it"
            );
        }
        let mut ports_held = 0;
        for (seq, call) in &self.calls {
            for side in [Side::A, Side::B] {
                let leg = call.leg(side);
                // No leg without its peer: both legs are indexed and point back to this call.
                assert_eq!(
                    self.fx.dialogs.get(&leg.dialog.local_tag),
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
                        self.fx
                            .timers
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
            if let Some(transfer) = call.transfer()
                && transfer.is_active()
            {
                let timer = self
                    .fx
                    .timers
                    .keys()
                    .any(|t| matches!(t, CoreTimer::Transfer { call, .. } if call == *seq));
                let pending = call.client_txs.iter().any(|tx| {
                    matches!(
                        self.fx.client_txs.get(tx),
                        Some(ClientPurpose::Transfer { .. } | ClientPurpose::Attended { .. })
                    )
                });
                // A local join waits for the other shard's word (attended.rs).
                let joining = transfer.join.is_some();
                assert!(
                    timer || pending || joining,
                    "call {seq}: transfer attempt without a timer or a pending transaction"
                );
            }
            if call.is_ended() {
                assert!(
                    self.fx.timers.is_set(CoreTimer::Reap { call: *seq }),
                    "ended call {seq} has no reap timer"
                );
            }
        }
        assert_eq!(
            ports_held,
            self.fx.pool.in_use(),
            "media ports in use do not match the ports live calls hold"
        );
        for (tag, (seq, leg)) in &self.fx.dialogs {
            assert!(
                self.calls
                    .get(seq)
                    .and_then(|c| c.leg_by_id(*leg))
                    .is_some_and(|leg| leg.dialog.local_tag == *tag),
                "dialog {tag} points to a missing call {seq} or leg {leg:?}"
            );
        }
        for purpose in self.fx.client_txs.values() {
            assert!(
                self.calls.contains_key(&purpose.call()),
                "client transaction for missing call {}",
                purpose.call()
            );
        }
        let active = self.calls_active() as u64;
        assert_eq!(
            self.fx.stats.calls_active, active,
            "calls_active counter drifted"
        );
    }
}
