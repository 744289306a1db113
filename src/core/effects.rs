//! The effects sink: everything an input may change besides the calls themselves.
//!
//! A call's behaviour takes the call (`&mut Call`) and this sink (`&mut Effects`) side by side,
//! so it can change both without looking the call up again: the outputs queue (transmits, media
//! commands, events), the transaction layer, the timer table, the id minter and generator, the
//! media port pool, the dialog index, the maps that say what each transaction is for, the
//! counters and the clocks. Nothing here holds a call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use super::attended_state::AttendedStep;
use super::call::{Call, Calls};
use super::dialog::Side;
use super::ids::IdMinter;
use super::rng::Rng;
use super::timers::{TimerKey, TimerTable};
use super::transaction::{ClientTxId, ServerTxId, TransactionLayer};
pub(super) use super::transfer_state::TransferTx;
use super::{CallRef, Event, MediaCommand, Output, ShardId, Time, Transmit};
use crate::config::Config;
use crate::media::pool::PortPool;
use crate::metrics::{DropReason, ShardMetrics};
use crate::sip::{self, Message, Method, RequestBuilder};
use crate::transfer::WallClock;
use crate::vocab::LegId;
use crate::vocab::StatusCode;
use crate::vocab::hash::{KeyedHashMap, KeyedHashSet};

/// Methods handoff accepts (Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY, MESSAGE, REFER";
/// Extensions handoff supports end to end (Supported).
pub const SUPPORTED: &str = "replaces, tdialog";

/// handoff's own Allow and Supported (issue 10 item 11): every request handoff builds (but ACK and
/// CANCEL, RFC 3261 sections 17.1.1.3 and 9.1) and every response it sends above 100 carries
/// these, never the other leg's: a carrier's `Allow: ..., SUBSCRIBE` must not reach the platform
/// as if handoff accepted SUBSCRIBE (RFC 3261 section 20.5: Allow lists the methods of the UA
/// that sends it).
pub(in crate::core) fn own_capabilities(method: Method) -> &'static [(&'static str, &'static str)] {
    match method {
        Method::Ack | Method::Cancel => &[],
        _ => &[("Allow", ALLOW), ("Supported", SUPPORTED)],
    }
}

/// A trunk's `headers` go on every INVITE (initial, re-INVITE, fallback) and REFER handoff sends
/// to it (issue 10 item 12), from the call's own config snapshot.
pub(in crate::core) fn takes_trunk_headers(method: Method) -> bool {
    matches!(method, Method::Invite | Method::Refer)
}

/// `builder` (an in-dialog request up to its Contact) with handoff's own Allow/Supported,
/// `extra`, and the trunk's `headers` when the method takes them (an `extra` header of the same
/// name gives way to the trunk's). Allow and Supported in `extra` are dropped: they are the
/// other leg's.
pub(in crate::core) fn with_own_headers(
    mut builder: RequestBuilder,
    method: Method,
    trunk: Option<&crate::config::Trunk>,
    extra: &[(String, String)],
) -> RequestBuilder {
    for (name, value) in own_capabilities(method) {
        builder = builder.header(name, value);
    }
    let trunk_headers = trunk
        .filter(|_| takes_trunk_headers(method))
        .map(|t| &t.headers);
    for (name, value) in extra {
        let own = name.eq_ignore_ascii_case("allow") || name.eq_ignore_ascii_case("supported");
        let overridden =
            trunk_headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if !own && !overridden {
            builder = builder.header(name, value);
        }
    }
    for (name, value) in trunk_headers.into_iter().flatten() {
        builder = builder.header(name, value);
    }
    builder
}

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
    /// CRLF keep-alives (RFC 5626 section 4.4.1) received and ignored: not errors.
    pub keepalives_received: u64,
    /// 401/407 challenges from trunks answered with credentials (RFC 3261 section 22).
    pub auth_challenges_answered: u64,
    /// Challenges not answered: a second challenge to an answered request, a trunk without
    /// `auth`, or no usable challenge (unknown algorithm, no realm or nonce).
    pub auth_challenges_failed: u64,
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
    /// Session liveness: ask the driver when the call last had media (liveness.rs).
    MediaCheck { call: u64 },
    /// `sbc.max_call_s` after the answer: the call ends (liveness.rs).
    MaxDuration { call: u64 },
    /// A `refer_hook` answer is overdue: the trunk's `on_error` applies (transfer_flow.rs).
    ReferHook { call: u64 },
    /// Glare: send handoff's re-INVITE again (RFC 3261 section 14.1, glare.rs).
    ReinviteRetry { call: u64 },
    /// 64*T1 after handoff built its ACK to a 2xx on `leg`: the peer has stopped retransmitting
    /// that 2xx, the kept ACK (`Leg::last_ack`) is dropped.
    ForgetAck { call: u64, leg: LegId },
}

impl TimerKey for CoreTimer {
    /// A call's timers go when the call is forgotten.
    fn group(&self) -> Option<u64> {
        match *self {
            CoreTimer::Retransmit2xx { call, .. }
            | CoreTimer::Reap { call }
            | CoreTimer::Transfer { call, .. }
            | CoreTimer::MediaCheck { call }
            | CoreTimer::MaxDuration { call }
            | CoreTimer::ReferHook { call }
            | CoreTimer::ReinviteRetry { call }
            | CoreTimer::ForgetAck { call, .. } => Some(call),
            CoreTimer::DrainDeadline | CoreTimer::DialogQueryTimeout { .. } => None,
        }
    }
}

/// The effects sink of one shard (see the module docs).
pub(super) struct Effects {
    pub(super) shard: ShardId,
    pub(super) shard_count: u16,
    /// The live config: new calls take it; a call keeps its own snapshot (`Call::config`).
    pub(super) config: Arc<Config>,
    pub(super) txn: TransactionLayer,
    pub(super) ids: IdMinter,
    pub(super) rng: Rng,
    pub(super) pool: PortPool,
    /// Dialog lookup by handoff's local tag (unique, minted): (call, leg). Bridged legs, and a
    /// retired platform leg until its BYE.
    pub(super) dialogs: KeyedHashMap<String, (u64, LegId)>,
    /// The call each leg's Call-ID belongs to (every leg the call had, retired ones included),
    /// for [`super::ShardCore::correlation_id`]: what the HEP capture names a datagram by.
    pub(super) call_ids: KeyedHashMap<String, u64>,
    pub(super) server_txs: KeyedHashMap<ServerTxId, ServerPurpose>,
    pub(super) client_txs: KeyedHashMap<ClientTxId, ClientPurpose>,
    pub(super) timers: TimerTable<CoreTimer>,
    pub(super) outputs: VecDeque<Output>,
    pub(super) stats: ShardStats,
    pub(super) draining: Option<Time>,
    pub(super) metrics: ShardMetrics,
    /// Ties `Time` to Unix time for audit timestamps (set by the driver).
    pub(super) wall_clock: WallClock,
    /// What a call's behaviour left for the shard (see [`FollowUp`]).
    pub(super) follow_ups: Vec<FollowUp>,
    /// Per-trunk admission (`max_calls`, `max_cps`): this shard's windows (admission.rs).
    pub(super) admission: super::admission::Admission,
    /// SIP ladders of the transfers running here (`ladders.rs`); tapped on every transmit.
    pub(super) ladders: super::ladders::Ladders,
    /// The last `Output::ReferHook` request id handed out (ids start at 1).
    pub(super) hook_requests: u64,
    /// REFER transactions whose transfer record the transfer code writes itself (an attempt,
    /// a hook's refusal, a carrier's REFER): [`Effects::respond`] writes none for them.
    pub(super) refer_audited: KeyedHashSet<ServerTxId>,
    /// REFERs handoff answered with a failure itself and no record yet: the shard, which knows
    /// the calls, turns them into `refused` records before its outputs are drained
    /// (`ShardCore::audit_refused_requests`).
    pub(super) refused_refers: Vec<RefusedRefer>,
    /// Client transactions that carry handoff's answer to a challenge (RFC 3261 section 22):
    /// a second 401/407 to one of these is a failure, never answered again (shard/auth.rs).
    pub(super) auth_retries: KeyedHashSet<ClientTxId>,
}

/// How many REFER marks (`Effects::refer_audited`) may pile up before those of ended
/// transactions are forgotten.
const REFER_AUDITED_PRUNE_AT: usize = 1024;

/// A REFER that handoff answered with a failure of its own (see `Effects::refused_refers`).
#[derive(Clone, Debug)]
pub(super) struct RefusedRefer {
    pub(super) at: Time,
    pub(super) call_id: String,
    /// The REFER carried no To tag: outside any dialog.
    pub(super) out_of_dialog: bool,
    pub(super) source: Option<SocketAddr>,
    pub(super) status: StatusCode,
    /// The Refer-To value as sent (empty when there was none).
    pub(super) target: String,
}

/// Work a call's behaviour leaves for the shard because it reaches beyond the call: the shard
/// runs it once the call's method returns.
pub(super) enum FollowUp {
    /// The call ended: a local attended join it is part of ends too (attended.rs).
    CallEnded { call: u64 },
    /// The call's transfer asks for a local join (attended.rs joins the calls and reports the
    /// result to the attempt).
    StartLocalJoin { call: u64 },
    /// The call's transfer attempt is over (a local join that never came together goes).
    TransferSettled { call: u64 },
}

impl Effects {
    /// Sends a final response on a server transaction still awaiting one, reading its request
    /// from the transaction layer; false if it was answered already (or is gone).
    pub(super) fn answer_server(
        &mut self,
        now: Time,
        tx: ServerTxId,
        status: StatusCode,
        reason: &str,
        tag: Option<&str>,
    ) -> bool {
        let Some(request) = self.txn.server_request(tx).map(<[u8]>::to_vec) else {
            return false;
        };
        let Ok(message) = Message::parse_framing(&request) else {
            return false;
        };
        self.respond(now, tx, &message, status, reason, tag, &[])
    }

    /// Whether the request of server transaction `server` carried no SDP (a late offer: the
    /// answer will come in the ACK). Stored requests were fully parsed on arrival: framing
    /// is enough to read them again.
    pub(super) fn request_lacks_sdp(&self, server: ServerTxId) -> bool {
        self.txn
            .server_request(server)
            .and_then(|bytes| Message::parse_framing(bytes).ok().map(|m| !is_sdp(&m)))
            .unwrap_or(false)
    }

    /// Answers `request` with the leg's own To tag `tag` (a 487 or 408 to an initial INVITE).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond_with_tag(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: StatusCode,
        reason: &str,
        tag: &str,
    ) {
        self.respond(now, tx, request, status, reason, Some(tag), &[]);
    }

    /// Reason phrases on the wire are generic ([`StatusCode::reason_phrase`]); when handoff knows
    /// more about why it answered `status` (`reason` says more than the generic phrase), that
    /// detail goes to the log as an [`Event::ResponseDetail`], never to the peer.
    fn detail(
        &mut self,
        to: Option<SocketAddr>,
        status: StatusCode,
        reason: &str,
        request: &Message,
    ) {
        if status.is_failure()
            && let Some(to) = to
            && reason != status.reason_phrase()
        {
            let call = request
                .call_id()
                .ok()
                .and_then(|call_id| self.call_ids.get(call_id))
                .map(|&seq| CallRef {
                    shard: self.shard,
                    seq,
                });
            self.event(Event::ResponseDetail {
                to,
                status,
                detail: reason_phrase(reason),
                call,
            });
        }
    }

    pub(super) fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Counts and reports a datagram dropped unanswered.
    pub(super) fn dropped(&mut self, from: SocketAddr, reason: DropReason) {
        self.metrics.dropped(reason);
        self.event(Event::Dropped { from, reason });
    }

    pub(super) fn transmit(&mut self, to: SocketAddr, payload: Vec<u8>) {
        self.ladders
            .tap(crate::transfer::Direction::Out, to, &payload);
        self.outputs
            .push_back(Output::Transmit(Transmit { to, payload }));
    }

    pub(super) fn media(&mut self, command: MediaCommand) {
        self.outputs.push_back(Output::Media(command));
    }

    /// Answer a server transaction with a locally generated response.
    pub(super) fn reply(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: StatusCode,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        self.respond(now, tx, request, status, reason, None, extra);
    }

    /// [`Effects::reply`] with the To tag `tag` when the request has none (the tag of the
    /// dialog the response creates, e.g. an out-of-dialog REFER's), a fresh one when `None`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_tagged(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: StatusCode,
        reason: &str,
        tag: Option<&str>,
        extra: &[(&str, String)],
    ) {
        self.respond(now, tx, request, status, reason, tag, extra);
    }

    /// The one way handoff answers a request itself: the generic phrase on the wire (the
    /// detail to the log, see `detail`), the To tag `tag` or a fresh one when the request has
    /// none (not on a 100), `extra` headers. False when the transaction took no response.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: StatusCode,
        reason: &str,
        tag: Option<&str>,
        extra: &[(&str, String)],
    ) -> bool {
        self.detail(self.txn.server_peer(tx), status, reason, request);
        let mut builder = sip::response_to(request, status, status.reason_phrase());
        let has_to_tag = request.to().ok().and_then(|to| to.tag()).is_some();
        if !has_to_tag && status > StatusCode::TRYING {
            let tag = match tag {
                Some(tag) => tag.to_owned(),
                None => self.ids.tag(),
            };
            builder = builder.to_tag(&tag);
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if status > StatusCode::TRYING {
            for (name, value) in own_capabilities(Method::Invite) {
                if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    builder = builder.header(name, value);
                }
            }
        }
        let sent = match builder.build() {
            Ok(bytes) => self.txn.respond(now, tx, status, bytes).is_ok(),
            Err(_) => false,
        };
        if sent && status.is_final() {
            self.note_refused_refer(now, tx, request, status);
        }
        sent
    }

    /// Audit (issue 10): every REFER handoff refuses itself gets a record. A final answer on a
    /// REFER transaction the transfer code audits itself (`refer_audited`) only ends that
    /// mark; any other failure answer is queued as a [`RefusedRefer`].
    fn note_refused_refer(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: StatusCode,
    ) {
        let audited = self.refer_audited.remove(&tx);
        // A marked REFER whose transaction ended without handoff's own answer (a relayed
        // carrier REFER answered by the platform, a call gone while a hook was asked) leaves
        // its mark: forget the marks of gone transactions once there are many.
        if self.refer_audited.len() > REFER_AUDITED_PRUNE_AT {
            let txn = &self.txn;
            self.refer_audited
                .retain(|tx| txn.server_peer(*tx).is_some());
        }
        if audited
            || status.as_u16() < 400
            || request.method() != Some(sip::Method::Refer)
            || request.call_id().is_err()
        {
            return;
        }
        let target = request
            .headers()
            .find(|h| h.name.eq_ignore_ascii_case("Refer-To") || h.name.eq_ignore_ascii_case("r"))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
            .unwrap_or_default();
        self.refused_refers.push(RefusedRefer {
            at: now,
            call_id: request.call_id().unwrap_or_default().to_string(),
            out_of_dialog: request.to().ok().and_then(|to| to.tag()).is_none(),
            source: self.txn.server_peer(tx),
            status,
            target,
        });
    }

    /// The call and bridge position of the leg whose local tag is `tag`; `None` when no bridged
    /// leg has it (unknown, or a retired leg).
    pub(super) fn dialog_position(&self, calls: &Calls, tag: &str) -> Option<(u64, Side)> {
        let &(seq, leg) = self.dialogs.get(tag)?;
        Some((seq, calls.get(&seq)?.position_of(leg)?))
    }

    /// Leave `work` for the shard.
    pub(super) fn follow_up(&mut self, work: FollowUp) {
        self.follow_ups.push(work);
    }

    /// Arms `timer` at `at` (moving it if it was armed).
    /// The keys of `call`'s entries in the dialog and Call-ID indexes, in fresh allocations
    /// (see `Call::rehome`); the entries are unchanged.
    pub(super) fn rehome_indexes(&mut self, call: &Call) {
        for leg in &call.legs {
            let tag = &leg.dialog.local_tag;
            if let Some(entry) = self.dialogs.remove(tag) {
                self.dialogs.insert(tag.clone(), entry);
            }
            let call_id = &leg.dialog.call_id;
            if let Some(entry) = self.call_ids.remove(call_id) {
                self.call_ids.insert(call_id.clone(), entry);
            }
        }
    }

    pub(super) fn set_timer(&mut self, at: Time, timer: CoreTimer) {
        self.timers.set(timer, at);
    }

    /// Move the transaction layer's outputs into ours.
    pub(super) fn pump_transactions(&mut self) {
        while let Some(output) = self.txn.poll_output() {
            let super::transaction::TxOutput::Transmit(transmit) = &output;
            self.ladders.tap(
                crate::transfer::Direction::Out,
                transmit.to,
                &transmit.payload,
            );
            self.outputs.push_back(output.into());
        }
    }

    /// Remember what a client transaction is for, and which call forgets it.
    pub(super) fn track_client(&mut self, call: &mut Call, tx: ClientTxId, purpose: ClientPurpose) {
        if !call.client_txs.contains(&tx) {
            call.client_txs.push(tx);
        }
        self.client_txs.insert(tx, purpose);
    }

    /// Remember what a server transaction is for, and which call forgets it.
    pub(super) fn track_server(&mut self, call: &mut Call, tx: ServerTxId, purpose: ServerPurpose) {
        if !call.server_txs.contains(&tx) {
            call.server_txs.push(tx);
        }
        self.server_txs.insert(tx, purpose);
    }
}

/// A reason phrase safe to put on a status line: printable, no CR/LF, bounded.
pub fn reason_phrase(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The message carries an SDP body.
pub(super) fn is_sdp(message: &Message) -> bool {
    !message.body().is_empty()
        && message
            .header(sip::HeaderName::ContentType)
            .is_some_and(|ct| {
                // "application/sdp" anywhere in the value, ASCII case ignored (no allocation).
                const SDP: &[u8] = b"application/sdp";
                ct.windows(SDP.len())
                    .any(|window| window.eq_ignore_ascii_case(SDP))
            })
}

/// handoff's Contact in `config` (a call's own snapshot, or the live one for a new call): the
/// user part is `sbc.identity`, never the product name.
pub(super) fn contact(config: &Config) -> String {
    format!(
        "<sip:{}@{}>",
        config.sbc.identity,
        SocketAddr::new(config.sbc.advertise, config.sbc.listen.port())
    )
}

/// handoff's Via for a request sent with `branch`, in `config`.
pub(super) fn via(config: &Config, branch: &str) -> String {
    format!(
        "SIP/2.0/UDP {};branch={branch};rport",
        SocketAddr::new(config.sbc.advertise, config.sbc.listen.port())
    )
}
