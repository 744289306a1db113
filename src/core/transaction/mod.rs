//! The RFC 3261 transaction layer (section 17), sans-IO, one per shard.
//!
//! Inputs: parsed requests and responses with their source address, `respond`/`send_request`
//! from the transaction user (TU: the dialog/B2BUA layer), and the passing of time. Outputs,
//! drained with [`TransactionLayer::poll_output`]: datagrams to send. The layer keeps its own
//! deadlines (a [`crate::core::timers::TimerTable`]) and never reads a clock: `now` comes in with
//! every call.
//!
//! Over UDP (the only transport handoff speaks to trunks) the timers are: A/B/D (INVITE client),
//! E/F/K (non-INVITE client), G/H/I (INVITE server), J (non-INVITE server), with T1/T2/T4 from the
//! config, D = 32 s, I = K = T4, J = 64*T1. RFC 6026 is applied to 2xx: the INVITE server
//! transaction waits in `AwaitingInviteRetransmits` (Timer L) so a retransmitted INVITE is not
//! mistaken for a new call, and the INVITE client transaction passes retransmitted 2xx to the TU
//! (Timer M) so it can re-send its ACK. Two guards keep the invariant that every live
//! transaction has a pending timer: Timer C on INVITE clients (the layer CANCELs after 3 minutes
//! without a final) and `Unanswered` on server transactions the TU never answers (408).
//!
//! Responses of server transactions go back to the source address of the request (symmetric
//! signaling, as `rport` would ask), not to the Via sent-by.
//!
//! How the TU drives it:
//! - request in: `on_request` -> [`ServerAction`]; for `New(tx)` answer with `respond(tx, ..)`;
//!   for `Cancel { invite }` send 487 on `invite` (the CANCEL already got its 200);
//!   `AckWithoutTransaction` is the ACK of a 2xx, for the dialog.
//! - request out: `send_request(to, method, branch, bytes)`; `cancel(tx)` CANCELs an INVITE
//!   (deferred until a provisional, RFC 3261 9.1). Responses in: `on_response` ->
//!   [`ClientAction`]; the layer ACKs non-2xx finals, the TU ACKs 2xx (and again on
//!   `SuccessRetransmitted`).
//! - timers: at [`TransactionLayer::poll_timeout`] call `handle_timeout(now)` (again until it
//!   returns `None`); it may return a [`TransactionTimeout`] (B, CancelGuard, F: the far side is silent; H: no ACK; Unanswered:
//!   the TU never answered and the layer sent 408 — the TU should end what hangs on it).
//! - after every input, drain `poll_output` until `None`.

mod client;
mod message;
mod server;
mod timer;

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::SipTimers;
use crate::core::timers::{TimerTable, shrink_if_sparse};
use crate::core::{Output, ShardId, Time, Transmit};
use crate::sip::{Message, Method};
use crate::vocab::hash::KeyedHashMap;

use crate::vocab::StatusCode;
use client::ClientTransaction;
pub use message::MessageFault;
use message::{RequestFacts, ResponseFacts};
use server::ServerTransaction;
pub use timer::TimerName;
use timer::{MAX_SLOTS, Side, TxKey, TxTimer};

/// Timer C: how long an INVITE client waits for a final after the last provisional.
const TIMER_C_MS: u64 = 180_000;
/// Timer D over UDP (RFC 3261: at least 32 s).
const TIMER_D_MS: u64 = 32_000;

/// A server transaction (a request handoff received).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerTxId {
    slot: u32,
    generation: u32,
}

/// A client transaction (a request handoff sent).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientTxId {
    slot: u32,
    generation: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxRef {
    Client(ClientTxId),
    Server(ServerTxId),
}

/// A transaction of the TU ended without the exchange completing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TransactionTimeout {
    pub tx: TxRef,
    /// `B` (INVITE got no response: the TU answers 408 upstream), `CancelGuard` (a CANCELled
    /// INVITE never got its final), `F` (non-INVITE got no final), `H` (no ACK for our non-2xx
    /// final), `Unanswered` (the TU never answered a request: the layer sent 408).
    pub timer: TimerName,
}

/// What the layer asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutput {
    Transmit(Transmit),
}

impl From<TxOutput> for Output {
    fn from(output: TxOutput) -> Output {
        match output {
            TxOutput::Transmit(transmit) => Output::Transmit(transmit),
        }
    }
}

/// What a received request means for the TU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAction {
    /// A new request for the TU, which must answer it with [`TransactionLayer::respond`]. An
    /// INVITE already got its 100 Trying.
    New(ServerTxId),
    /// A retransmission (the last response, if any, was re-sent), an ACK for a non-2xx final,
    /// or a CANCEL of an INVITE already answered (200 sent, no effect).
    Absorbed,
    /// An ACK that matches no transaction: the ACK for a 2xx, which belongs to the dialog.
    AckWithoutTransaction,
    /// A CANCEL matched a pending INVITE. The layer already answered 200 to the CANCEL; the TU
    /// sends 487 to `invite` and propagates the CANCEL.
    Cancel { invite: ServerTxId },
    /// A CANCEL that matches no INVITE: 481 already sent.
    CancelUnmatched,
    /// Same From tag, Call-ID and CSeq as a pending request but another branch (RFC 3261 8.2.2.2,
    /// a request that forked and came back): 482 already sent.
    MergedRequest,
    /// Max-Forwards 0 on a request other than OPTIONS: 483 already sent.
    TooManyHops,
    /// The request lacks what matching needs (see the fault); nothing was sent. The TU may answer
    /// 400 if it can.
    Unusable(MessageFault),
    /// No room for another transaction (16 M per shard): dropped unanswered; the client
    /// retransmits.
    Overloaded,
    /// A retransmission, ACK or CANCEL naming a live transaction, from an address that is not the
    /// transaction's peer: ignored, nothing sent (only the peer speaks for its transaction).
    WrongSource,
}

/// What a received response means for the TU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    Provisional {
        tx: ClientTxId,
        status: StatusCode,
    },
    /// The first final response. For a non-2xx final to an INVITE the layer already sent the ACK;
    /// for a 2xx the TU sends its own ACK.
    Final {
        tx: ClientTxId,
        status: StatusCode,
    },
    /// Another 2xx to an INVITE already answered with a 2xx (a retransmission, or a fork): the TU
    /// re-sends its ACK (RFC 6026 Accepted state).
    SuccessRetransmitted {
        tx: ClientTxId,
        status: StatusCode,
    },
    /// A retransmission, or a response to a transaction the layer itself started (its own
    /// CANCEL).
    Absorbed,
    /// Matches no transaction (late, or not ours). A 2xx to an INVITE here may need ACK + BYE.
    Stray,
    /// Matches a live transaction but comes from another address than the one the request was
    /// sent to: dropped, the transaction is untouched (a forged 200 must not answer a call).
    WrongSource,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("TU bug: transaction {0:?} does not exist (ended, or never existed)")]
    UnknownTransaction(TxRef),
    #[error("TU bug: cannot send status {status} in transaction state {state}")]
    ResponseNotAllowed {
        status: StatusCode,
        state: &'static str,
    },
    #[error("TU bug: a client transaction for branch {branch} and method {method} already exists")]
    DuplicateBranch { branch: String, method: String },
    #[error("TU bug: ACK is not a transaction; transmit it directly")]
    AckIsNotATransaction,
    #[error("TU bug: the request bytes are unusable: {0}")]
    BadRequestBytes(MessageFault),
    #[error("overload: no room for another transaction on this shard")]
    TooManyTransactions,
}

/// Who started a transaction: the TU gets actions and timeouts only for its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Owner {
    TransactionUser,
    /// Answered or started by the layer itself (481, 482, 483, its own CANCEL...).
    Layer,
}

/// Generational slab: ids of freed slots go stale.
struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Reserves a slot: (slot, generation), or None when full.
    fn vacant(&mut self) -> Option<(u32, u32)> {
        if let Some(&slot) = self.free.last() {
            let generation = self.slots[slot as usize].0;
            return Some((slot, generation));
        }
        if self.slots.len() >= MAX_SLOTS {
            return None;
        }
        Some((self.slots.len() as u32, 0))
    }

    /// Fills the slot `vacant` returned.
    fn insert(&mut self, slot: u32, value: T) {
        if self.free.last() == Some(&slot) {
            self.free.pop();
            self.slots[slot as usize].1 = Some(value);
        } else {
            self.slots.push((0, Some(value)));
        }
        self.live += 1;
    }

    fn get(&self, slot: u32, generation: u32) -> Option<&T> {
        match self.slots.get(slot as usize) {
            Some((g, Some(value))) if *g == generation => Some(value),
            _ => None,
        }
    }

    fn get_mut(&mut self, slot: u32, generation: u32) -> Option<&mut T> {
        match self.slots.get_mut(slot as usize) {
            Some((g, Some(value))) if *g == generation => Some(value),
            _ => None,
        }
    }

    /// The slot's current generation (of its live value, or of the next one if free).
    fn generation(&self, slot: u32) -> u32 {
        self.slots.get(slot as usize).map_or(0, |(g, _)| *g)
    }

    fn remove(&mut self, slot: u32) -> Option<T> {
        let entry = self.slots.get_mut(slot as usize)?;
        let value = entry.1.take()?;
        entry.0 = entry.0.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        Some(value)
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, (_, value))| value.as_ref().map(|v| (slot as u32, v)))
    }
}

/// Timer durations derived from the config's T1/T2/T4 (UDP values).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Durations {
    /// Shapes the tags of the layer's own responses.
    pub shard: ShardId,
    pub t1: u64,
    pub t2: u64,
    pub t4: u64,
}

impl Durations {
    fn from_config(timers: SipTimers, shard: ShardId) -> Durations {
        // A zero T1 would retransmit in a busy loop; an absurd one would overflow the clock.
        const HOUR_MS: u64 = 3_600_000;
        let t1 = timers.t1_ms.clamp(1, HOUR_MS);
        Durations {
            shard,
            t1,
            t2: timers.t2_ms.clamp(t1, HOUR_MS),
            t4: timers.t4_ms.clamp(1, HOUR_MS),
        }
    }

    pub fn sixty_four_t1(&self) -> u64 {
        self.t1.saturating_mul(64)
    }
}

/// Outputs plus the arming bookkeeping every transaction shares.
pub(crate) struct Emitter {
    outputs: VecDeque<TxOutput>,
    timers: TimerTable<TxTimer>,
}

impl Emitter {
    pub fn transmit(&mut self, to: SocketAddr, payload: Vec<u8>) {
        self.outputs
            .push_back(TxOutput::Transmit(Transmit { to, payload }));
    }

    /// Arms `name` for transaction `tx` (moving it if it was armed); `armed` tracks the
    /// outstanding ones, for `check_invariants` and for cancelling them when `tx` ends.
    pub fn arm(&mut self, tx: TxKey, armed: &mut u16, name: TimerName, at: Time) {
        *armed |= name.bit();
        self.timers.set(TxTimer { tx, name }, at);
    }

    /// Cancels the timers a transaction that ends still had armed.
    fn disarm_all(&mut self, tx: TxKey, armed: u16) {
        for name in TimerName::armed_in(armed) {
            self.timers.cancel(TxTimer { tx, name });
        }
    }
}

/// One shard's transactions.
pub struct TransactionLayer {
    durations: Durations,
    servers: Slab<ServerTransaction>,
    clients: Slab<ClientTransaction>,
    /// RFC 3261 17.2.3 key (or the RFC 2543 one) -> server slot.
    server_index: KeyedHashMap<Box<[u8]>, u32>,
    /// From tag, Call-ID, CSeq of pending requests without To tag (merged-request detection).
    merged_index: KeyedHashMap<Box<[u8]>, u32>,
    /// Branch + CSeq method -> client slot.
    client_index: KeyedHashMap<Box<[u8]>, u32>,
    emitter: Emitter,
    /// Reused buffer for index lookups (no allocation per lookup).
    scratch: Vec<u8>,
}

impl TransactionLayer {
    pub fn new(timers: SipTimers) -> Self {
        TransactionLayer::for_shard(timers, ShardId(0))
    }

    /// As `new`, with the tags of the layer's own responses shaped like `shard`'s identifiers.
    pub fn for_shard(timers: SipTimers, shard: ShardId) -> Self {
        TransactionLayer {
            durations: Durations::from_config(timers, shard),
            servers: Slab::new(),
            clients: Slab::new(),
            server_index: KeyedHashMap::default(),
            merged_index: KeyedHashMap::default(),
            client_index: KeyedHashMap::default(),
            emitter: Emitter {
                outputs: VecDeque::new(),
                timers: TimerTable::new(),
            },
            scratch: Vec::with_capacity(256),
        }
    }

    /// The earliest deadline of the layer's timers: call [`TransactionLayer::handle_timeout`]
    /// at (or after) it.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.emitter.timers.next_deadline()
    }

    /// Timers armed now (each live transaction has at least the one that ends its state).
    pub fn armed_timers(&self) -> usize {
        self.emitter.timers.len()
    }

    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.emitter.outputs.pop_front()
    }

    pub fn live_count(&self) -> usize {
        self.servers.live + self.clients.live
    }

    /// BYE and CANCEL client transactions still waiting for a final response (retransmitted by
    /// Timer E until Timer F), and CANCELled INVITEs waiting for their 487. O(transactions): for
    /// the drain, not per packet.
    pub fn teardowns_awaiting_final(&self) -> usize {
        self.clients
            .iter()
            .filter(|(_, t)| t.is_teardown_awaiting_final())
            .count()
    }

    /// The bytes of the request that created a server transaction; `None` once the
    /// transaction has answered it for good and only absorbs retransmissions (its bytes are
    /// freed then: ended calls wait 64*T1 with these transactions).
    pub fn server_request(&self, tx: ServerTxId) -> Option<&[u8]> {
        self.servers
            .get(tx.slot, tx.generation)
            .map(|t| t.request.as_slice())
            .filter(|request| !request.is_empty())
    }

    /// Where a server transaction's responses go (the request's source).
    pub fn server_peer(&self, tx: ServerTxId) -> Option<SocketAddr> {
        self.servers.get(tx.slot, tx.generation).map(|t| t.peer)
    }

    /// Where a client transaction's request goes.
    pub fn client_peer(&self, tx: ClientTxId) -> Option<SocketAddr> {
        self.clients.get(tx.slot, tx.generation).map(|t| t.peer)
    }

    /// The bytes of the request a client transaction sends; `None` after a 2xx (freed: it is
    /// never sent or read again).
    pub fn client_request(&self, tx: ClientTxId) -> Option<&[u8]> {
        self.clients
            .get(tx.slot, tx.generation)
            .map(|t| t.request.as_slice())
            .filter(|request| !request.is_empty())
    }

    /// Is this server transaction still waiting for the TU's final response?
    pub fn server_awaiting_final(&self, tx: ServerTxId) -> bool {
        self.servers
            .get(tx.slot, tx.generation)
            .is_some_and(|t| t.awaits_final())
    }

    // ---------------------------------------------------------------- server side

    /// A retransmission (or ACK) of a live server transaction from the very address that
    /// sent the request: handled as [`Self::on_request`] would (the last response re-sent,
    /// or absorbed) and `true`; `false`, with nothing changed, for anything else. For requests
    /// that would otherwise be dropped unseen: a peer that is no trunk's any more (a reload
    /// moved it) still gets its 200 to a retransmitted BYE after its call was forgotten.
    pub fn on_retransmission(&mut self, now: Time, from: SocketAddr, request: &Message) -> bool {
        let Ok(facts) = RequestFacts::of(request) else {
            return false;
        };
        let Some(slot) = self.match_server(&facts, facts.method) else {
            return false;
        };
        if self.server_peer_of_slot(slot) != Some(from) {
            return false;
        }
        self.on_matched_request(now, slot, &facts);
        true
    }

    /// A parsed request arrived from `from`. See [`ServerAction`].
    pub fn on_request(&mut self, now: Time, from: SocketAddr, request: &Message) -> ServerAction {
        let facts = match RequestFacts::of(request) {
            Ok(facts) => facts,
            Err(fault) => return ServerAction::Unusable(fault),
        };
        let is_ack = facts.method == Method::Ack;

        // 1. Retransmission (or ACK) of an existing transaction.
        if let Some(slot) = self.match_server(&facts, facts.method) {
            if self
                .server_peer_of_slot(slot)
                .is_some_and(|peer| peer != from)
            {
                return ServerAction::WrongSource;
            }
            return self.on_matched_request(now, slot, &facts);
        }
        if is_ack {
            return ServerAction::AckWithoutTransaction;
        }
        if self
            .server_index
            .contains_key(facts.server_key(facts.method, &mut self.scratch))
        {
            // RFC 2543 request equal to a live transaction's but for the To tag: not a
            // retransmission, yet it cannot get a transaction of its own.
            return ServerAction::Absorbed;
        }
        if facts.method == Method::Cancel {
            return self.on_cancel(now, from, request, &facts);
        }
        // 2. Loops and merged requests are answered by the layer.
        if facts.max_forwards == Some(0) && facts.method != Method::Options {
            return self.answer_alone(
                now,
                from,
                request,
                &facts,
                StatusCode::TOO_MANY_HOPS,
                "Too Many Hops",
                ServerAction::TooManyHops,
            );
        }
        if facts.to_tag.is_none()
            && self
                .merged_index
                .contains_key(facts.merged_key(&mut self.scratch))
        {
            return self.answer_alone(
                now,
                from,
                request,
                &facts,
                StatusCode::LOOP_DETECTED,
                "Loop Detected",
                ServerAction::MergedRequest,
            );
        }
        // 3. A new transaction for the TU.
        let Some((slot, generation)) = self.servers.vacant() else {
            return ServerAction::Overloaded;
        };
        let key: Box<[u8]> = facts.server_key(facts.method, &mut self.scratch).into();
        let mut tx = ServerTransaction::new(
            slot,
            generation,
            Owner::TransactionUser,
            from,
            &facts,
            key,
            request.as_bytes(),
        );
        if facts.to_tag.is_none() {
            let key: Box<[u8]> = facts.merged_key(&mut self.scratch).into();
            self.merged_index.insert(key.clone(), slot);
            tx.merged_key = Some(key);
        }
        self.server_index.insert(tx.key.clone(), slot);
        if tx.invite {
            // An automatic 100 Trying, without To tag (RFC 3261 8.2.6.1).
            match message::response(request, StatusCode::TRYING, "Trying", None) {
                Ok(trying) => {
                    tx.last_response = Some(trying.clone());
                    self.emitter.transmit(from, trying);
                }
                Err(error) => tracing::warn!(%error, "no 100 Trying"),
            }
        }
        tx.arm_unanswered(now, &self.durations, &mut self.emitter);
        self.servers.insert(slot, tx);
        ServerAction::New(ServerTxId { slot, generation })
    }

    fn match_server(&mut self, facts: &RequestFacts, method: Method) -> Option<u32> {
        let key = facts.server_key(method, &mut self.scratch);
        let slot = *self.server_index.get(key)?;
        let tx = self.servers.slots.get(slot as usize)?.1.as_ref()?;
        // RFC 2543 matching also compares To tags: the request's for retransmissions, the one of
        // our response for an ACK.
        if facts.branch_is_rfc3261() || tx.legacy_to_tag_matches(facts) {
            Some(slot)
        } else {
            None
        }
    }

    fn server_peer_of_slot(&self, slot: u32) -> Option<SocketAddr> {
        self.servers
            .slots
            .get(slot as usize)
            .and_then(|s| s.1.as_ref())
            .map(|tx| tx.peer)
    }

    fn on_matched_request(&mut self, now: Time, slot: u32, facts: &RequestFacts) -> ServerAction {
        let Some(tx) = self
            .servers
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.1.as_mut())
        else {
            return ServerAction::Absorbed;
        };
        if facts.method == Method::Ack {
            tx.on_ack(now, &self.durations, &mut self.emitter)
        } else {
            tx.on_retransmission(&mut self.emitter);
            ServerAction::Absorbed
        }
    }

    fn on_cancel(
        &mut self,
        now: Time,
        from: SocketAddr,
        request: &Message,
        facts: &RequestFacts,
    ) -> ServerAction {
        let invite = self.match_server(facts, Method::Invite);
        let Some(invite_slot) = invite else {
            return self.answer_alone(
                now,
                from,
                request,
                facts,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                "Call/Transaction Does Not Exist",
                ServerAction::CancelUnmatched,
            );
        };
        let Some((generation, Some(invite_tx))) = self.servers.slots.get(invite_slot as usize)
        else {
            return ServerAction::CancelUnmatched;
        };
        if invite_tx.peer != from {
            return ServerAction::WrongSource;
        }
        let invite_id = ServerTxId {
            slot: invite_slot,
            generation: *generation,
        };
        let pending = invite_tx.awaits_final() && invite_tx.owner == Owner::TransactionUser;
        // A CANCEL always gets 200 when its INVITE exists (RFC 3261 9.2); it only has an effect
        // while the INVITE awaits its final.
        let outcome = if pending {
            ServerAction::Cancel { invite: invite_id }
        } else {
            ServerAction::Absorbed
        };
        self.answer_alone(now, from, request, facts, StatusCode::OK, "OK", outcome)
    }

    /// Creates a layer-owned server transaction answered at once with `status`, so that
    /// retransmissions of the request get the same answer.
    #[allow(clippy::too_many_arguments)]
    fn answer_alone(
        &mut self,
        now: Time,
        from: SocketAddr,
        request: &Message,
        facts: &RequestFacts,
        status: StatusCode,
        reason: &str,
        outcome: ServerAction,
    ) -> ServerAction {
        let tag = crate::core::ids::derived_tag(self.durations.shard, request.as_bytes());
        let to_tag = facts.to_tag.is_none().then_some(tag.as_str());
        let response = match message::response(request, status, reason, to_tag) {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(%error, %status, "cannot answer the request");
                return outcome;
            }
        };
        let key_taken = self
            .server_index
            .contains_key(facts.server_key(facts.method, &mut self.scratch));
        let vacant = self.servers.vacant().filter(|_| !key_taken);
        let Some((slot, generation)) = vacant else {
            // Still answer; just without absorbing retransmissions.
            self.emitter.transmit(from, response);
            return outcome;
        };
        let key: Box<[u8]> = facts.server_key(facts.method, &mut self.scratch).into();
        let mut tx = ServerTransaction::new(
            slot,
            generation,
            Owner::Layer,
            from,
            facts,
            key,
            request.as_bytes(),
        );
        self.server_index.insert(tx.key.clone(), slot);
        if let Err(error) = tx.respond(now, status, response, &self.durations, &mut self.emitter) {
            tracing::error!(%error, "layer response refused by its own transaction");
        }
        self.servers.insert(slot, tx);
        outcome
    }

    /// The TU answers a server transaction. The response is sent to the request's source and
    /// kept for retransmissions. 1xx: sent (INVITE: re-sent on request retransmissions). 2xx to
    /// INVITE: the transaction only absorbs INVITE retransmissions from now on (RFC 6026); the
    /// TU retransmits its 2xx itself (calling `respond` again with the 2xx is allowed and just
    /// sends it). Other finals: retransmitted by Timer G until the ACK (INVITE), or re-sent on
    /// request retransmissions (non-INVITE).
    pub fn respond(
        &mut self,
        now: Time,
        tx: ServerTxId,
        status: StatusCode,
        response: Vec<u8>,
    ) -> Result<(), TransactionError> {
        let transaction = self
            .servers
            .get_mut(tx.slot, tx.generation)
            .ok_or(TransactionError::UnknownTransaction(TxRef::Server(tx)))?;
        // The merged-request entry stays until the transaction ends: a forked copy arriving
        // after our final must not become a second call.
        transaction.respond(now, status, response, &self.durations, &mut self.emitter)
    }

    // ---------------------------------------------------------------- client side

    /// Sends a request in a new client transaction: to `to`, retransmitted by Timer A (INVITE) or
    /// E (others) until a response, given up by Timer B or F. `branch` must be the top Via branch
    /// of `request` and `method` its method (the layer trusts both, to avoid re-parsing).
    pub fn send_request(
        &mut self,
        now: Time,
        to: SocketAddr,
        method: Method,
        branch: &str,
        request: Vec<u8>,
    ) -> Result<ClientTxId, TransactionError> {
        self.start_client(now, to, method, branch, request, Owner::TransactionUser)
    }

    fn start_client(
        &mut self,
        now: Time,
        to: SocketAddr,
        method: Method,
        branch: &str,
        request: Vec<u8>,
        owner: Owner,
    ) -> Result<ClientTxId, TransactionError> {
        if method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let key = message::client_key(branch, method.as_str(), &mut self.scratch);
        if self.client_index.contains_key(key) {
            return Err(TransactionError::DuplicateBranch {
                branch: branch.to_owned(),
                method: method.as_str().to_owned(),
            });
        }
        let key: Box<[u8]> = key.into();
        let (slot, generation) = self
            .clients
            .vacant()
            .ok_or(TransactionError::TooManyTransactions)?;
        let tx = ClientTransaction::start(
            now,
            TxKey {
                side: Side::Client,
                slot,
                generation,
            },
            owner,
            method == Method::Invite,
            to,
            key.clone(),
            request,
            &self.durations,
            &mut self.emitter,
        );
        self.client_index.insert(key, slot);
        self.clients.insert(slot, tx);
        Ok(ClientTxId { slot, generation })
    }

    /// CANCELs a pending INVITE client transaction (RFC 3261 9.1): the layer builds the CANCEL
    /// from the INVITE and sends it in its own transaction, at once if a provisional arrived,
    /// else as soon as one does. The INVITE's final (487 or other) still arrives as `Final`;
    /// without one within 64*T1 the INVITE times out with `CancelGuard`. Returns false when there
    /// is nothing to cancel (final already received, or unknown transaction).
    pub fn cancel(&mut self, now: Time, tx: ClientTxId) -> bool {
        let Some(transaction) = self.clients.get_mut(tx.slot, tx.generation) else {
            return false;
        };
        match transaction.request_cancel(now, &self.durations, &mut self.emitter) {
            client::CancelDecision::SendNow => {
                self.send_layer_cancel(now, tx);
                true
            }
            client::CancelDecision::Deferred => true,
            client::CancelDecision::NothingToCancel => false,
        }
    }

    fn send_layer_cancel(&mut self, now: Time, tx: ClientTxId) {
        let Some(transaction) = self.clients.get(tx.slot, tx.generation) else {
            return;
        };
        let to = transaction.peer;
        match message::cancel_for(&transaction.request) {
            Ok((branch, cancel)) => {
                if let Err(error) =
                    self.start_client(now, to, Method::Cancel, &branch, cancel, Owner::Layer)
                {
                    tracing::warn!(%error, "CANCEL not sent");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot build CANCEL from the INVITE"),
        }
    }

    /// A parsed response arrived. Matched by top Via branch + CSeq method (RFC 3261 17.1.3).
    /// Only the address the request went to may answer it ([`ClientAction::WrongSource`]).
    pub fn on_response(&mut self, now: Time, from: SocketAddr, response: &Message) -> ClientAction {
        let Ok(facts) = ResponseFacts::of(response) else {
            return ClientAction::Stray;
        };
        let key = message::client_key(facts.branch, facts.cseq_method.as_str(), &mut self.scratch);
        let Some(&slot) = self.client_index.get(key) else {
            return ClientAction::Stray;
        };
        let Some((generation, Some(tx))) = self.clients.slots.get_mut(slot as usize) else {
            return ClientAction::Stray;
        };
        if tx.peer != from {
            return ClientAction::WrongSource;
        }
        let id = ClientTxId {
            slot,
            generation: *generation,
        };
        let outcome = tx.on_response(
            now,
            facts.status,
            response,
            &self.durations,
            &mut self.emitter,
        );
        let owner = tx.owner;
        if outcome.send_deferred_cancel {
            self.send_layer_cancel(now, id);
        }
        match (owner, outcome.report) {
            (Owner::Layer, _) | (_, None) => ClientAction::Absorbed,
            (Owner::TransactionUser, Some(client::Report::Provisional)) => {
                ClientAction::Provisional {
                    tx: id,
                    status: facts.status,
                }
            }
            (Owner::TransactionUser, Some(client::Report::Final)) => ClientAction::Final {
                tx: id,
                status: facts.status,
            },
            (Owner::TransactionUser, Some(client::Report::SuccessRetransmitted)) => {
                ClientAction::SuccessRetransmitted {
                    tx: id,
                    status: facts.status,
                }
            }
        }
    }

    // ---------------------------------------------------------------- timers

    /// Time has passed: fires the layer's timers due at `now`, in deadline order, until one ends
    /// an exchange the TU must act on (returned; call again for the next) or none is due.
    pub fn handle_timeout(&mut self, now: Time) -> Option<TransactionTimeout> {
        while let Some(TxTimer { tx: key, name }) = self.emitter.timers.pop_expired(now) {
            if let Some(timeout) = self.fire(now, key, name) {
                return Some(timeout);
            }
        }
        None
    }

    fn fire(&mut self, now: Time, key: TxKey, name: TimerName) -> Option<TransactionTimeout> {
        match key.side {
            Side::Server => {
                let tx = self.servers.get_mut(key.slot, key.generation)?;
                let fired = tx.on_timer(now, name, &self.durations, &mut self.emitter);
                let owner = tx.owner;
                let id = ServerTxId {
                    slot: key.slot,
                    generation: key.generation,
                };
                if fired.terminated {
                    self.remove_server(key.slot);
                }
                timeout_for_user(owner, fired.timeout, TxRef::Server(id))
            }
            Side::Client => {
                let tx = self.clients.get_mut(key.slot, key.generation)?;
                let fired = tx.on_timer(now, name, &self.durations, &mut self.emitter);
                let owner = tx.owner;
                let id = ClientTxId {
                    slot: key.slot,
                    generation: key.generation,
                };
                if fired.send_cancel {
                    self.send_layer_cancel(now, id);
                }
                if fired.terminated {
                    self.remove_client(key.slot);
                }
                timeout_for_user(owner, fired.timeout, TxRef::Client(id))
            }
        }
    }

    fn remove_server(&mut self, slot: u32) {
        let generation = self.servers.generation(slot);
        if let Some(tx) = self.servers.remove(slot) {
            let key = TxKey {
                side: Side::Server,
                slot,
                generation,
            };
            self.emitter.disarm_all(key, tx.armed);
            if self.server_index.get(&tx.key) == Some(&slot) {
                self.server_index.remove(&tx.key);
            }
            if let Some(key) = tx.merged_key
                && self.merged_index.get(&key) == Some(&slot)
            {
                self.merged_index.remove(&key);
            }
            shrink_if_sparse(&mut self.server_index);
            shrink_if_sparse(&mut self.merged_index);
        }
    }

    fn remove_client(&mut self, slot: u32) {
        let generation = self.clients.generation(slot);
        if let Some(tx) = self.clients.remove(slot) {
            let key = TxKey {
                side: Side::Client,
                slot,
                generation,
            };
            self.emitter.disarm_all(key, tx.armed);
            if self.client_index.get(&tx.key) == Some(&slot) {
                self.client_index.remove(&tx.key);
            }
            shrink_if_sparse(&mut self.client_index);
        }
    }

    /// Debug check: every live transaction has the timer that ends its current state pending,
    /// and the indexes point at live transactions.
    pub fn check_invariants(&self) {
        for (slot, tx) in self.servers.iter() {
            let needed = tx.state.ending_timer();
            assert!(
                tx.armed & needed.bit() != 0,
                "server transaction {slot} in {} has no pending timer {needed:?}",
                tx.state.name()
            );
        }
        for (slot, tx) in self.clients.iter() {
            let needed = tx.ending_timer();
            assert!(
                tx.armed & needed.bit() != 0,
                "client transaction {slot} in {} has no pending timer {needed:?}",
                tx.state.name()
            );
        }
        for (key, &slot) in &self.server_index {
            let tx = self
                .servers
                .slots
                .get(slot as usize)
                .and_then(|s| s.1.as_ref());
            assert!(
                tx.is_some_and(|t| &t.key == key),
                "server index entry for dead slot {slot}"
            );
        }
        for (key, &slot) in &self.client_index {
            let tx = self
                .clients
                .slots
                .get(slot as usize)
                .and_then(|s| s.1.as_ref());
            assert!(
                tx.is_some_and(|t| &t.key == key),
                "client index entry for dead slot {slot}"
            );
        }
        assert_eq!(
            self.server_index.len(),
            self.servers.live,
            "server index size"
        );
        assert_eq!(
            self.client_index.len(),
            self.clients.live,
            "client index size"
        );
    }
}

/// A fired timer's timeout, if the TU owns the transaction (the layer handles its own).
fn timeout_for_user(
    owner: Owner,
    timeout: Option<TimerName>,
    tx: TxRef,
) -> Option<TransactionTimeout> {
    timeout
        .filter(|_| owner == Owner::TransactionUser)
        .map(|timer| TransactionTimeout { tx, timer })
}
