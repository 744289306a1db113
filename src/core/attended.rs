//! Attended transfers: dialog identifiers translated across legs and across shards.
//!
//! Every dialog identifier a request carries (the `?Replaces=` inside a Refer-To, a `Replaces:`
//! header, a `Target-Dialog:` header) that names a leg handoff bridges is rewritten, on its way to
//! the other side, into the identifiers of the leg bridged to it, seen from the receiver
//! ([`crate::transfer::dialog_ids`] holds the point-of-view rules). Identifiers of dialogs handoff
//! does not bridge pass unchanged, byte for byte.
//!
//! # Across shards
//!
//! The named dialog belongs to the shard encoded in handoff's tag (see
//! [`DialogId::owning_shard`]). When that is another shard, this shard asks it with
//! [`ShardMessage::DialogQuery`] and holds the request (its server transaction keeps absorbing
//! retransmissions) until every [`ShardMessage::DialogAnswer`] arrived, then processes it again
//! with the answers. No answer within [`DIALOG_QUERY_TIMEOUT_MS`] = unknown dialog: the request
//! goes on unchanged. Shards share nothing: a query carries the dialog, the answer carries the
//! bridged leg's identifiers.
//!
//! # Local join (attended transfer in "local" mode, or after a refused REFER)
//!
//! Call 1 (A1 customer <-> B1 platform) lives on the *keeper* shard, call 2 (B2 platform <->
//! A2 partner) on the *owner* shard (maybe the same). The keeper asks the owner
//! ([`JoinMessage::MoveLeg`]) to re-INVITE A2 with a G.711 sendrecv offer whose address is the
//! keeper's port that faced B1, and to BYE B2. The owner keeps A2's signaling only and reports
//! A2's answer ([`JoinMessage::LegMoved`]); the keeper re-INVITEs A1 (G.711 sendrecv, same
//! port), then points the relay's B side at A2 (`MediaCommand::Update`, `SetLaws` where the
//! laws differ): A1 <-> A2 are relayed by one shard, no media crosses shards. NOTIFY 200 goes
//! to the platform on B1, which is ended after the attempt's grace. Whichever half ends (BYE,
//! drain, ACK timeout), [`JoinMessage::PeerEnded`] ends the other.
//!
//! In-dialog requests from A1 or A2 after the join are answered by handoff itself (their peer
//! leg here is the platform leg that is gone; a 481 would end the customer's call): a
//! re-INVITE or UPDATE gets 488, which leaves the session as it is (RFC 3261 14.1), anything
//! else 200. Relaying them across shards to the joined leg is not done yet.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::attended_state::*;
use super::call::CallPhase;
use super::dialog::Side;
use super::shard::{ClientPurpose, CoreTimer, ShardCore};
use super::transaction::ServerTxId;
use super::transfer_state::TranslatedDialogs;
use super::{EndReason, Event, MediaCommand, Output, ShardId, ShardMessage, Time};
use crate::config::TransferMethod;
use crate::media::g711::G711Law;
use crate::sdp::{self, Direction, OriginState, RewritePlan, RewrittenSdp};
use crate::sip::{Message, Method};
use crate::transfer::dialog_ids::{DialogId, DialogIdForm, named_dialog, rewrite_for};
use crate::transfer::{
    PlatformReferTo, TransferAction, TransferAttempt, TransferRequest, TransferSettings,
};

/// A dialog identifier found in a request.
struct Found {
    name: String,
    value: String,
    form: DialogIdForm,
    /// The part holding the identifier (the escaped Replaces inside a Refer-To, else `value`).
    part: String,
}

fn found_identifiers(request: &Message) -> Vec<Found> {
    let mut found = Vec::new();
    for header in request.headers() {
        let lower = header.name.to_ascii_lowercase();
        let Ok(value) = std::str::from_utf8(header.value) else {
            continue;
        };
        let (form, part) = match lower.as_str() {
            "refer-to" | "r" => {
                let Some(part) = PlatformReferTo::parse(value)
                    .ok()
                    .and_then(|r| r.replaces_escaped().map(str::to_string))
                else {
                    continue;
                };
                (DialogIdForm::ReplacesInUri, part)
            }
            "replaces" => (DialogIdForm::ReplacesHeader, value.to_string()),
            "target-dialog" => (DialogIdForm::TargetDialogHeader, value.to_string()),
            _ => continue,
        };
        found.push(Found {
            name: header.name.to_string(),
            value: value.to_string(),
            form,
            part,
        });
    }
    found
}

impl ShardCore {
    /// handoff's view of the leg bridged to `named`, when `named` is a live, confirmed leg of
    /// this shard and its peer leg is confirmed too.
    pub(super) fn bridged_leg(&self, named: &DialogId) -> Option<DialogId> {
        let (seq, side) = self.dialog_position(&named.local_tag)?;
        let call = self.calls.get(&seq).filter(|c| !c.is_ended())?;
        let leg = &call.leg(side).dialog;
        if leg.call_id != named.call_id || leg.remote_tag.as_deref() != Some(&named.remote_tag) {
            return None;
        }
        let other = &call.leg(side.other()).dialog;
        Some(DialogId::new(
            &other.call_id,
            &other.local_tag,
            other.remote_tag.clone()?,
        ))
    }

    /// The translated dialog identifiers of `request`, or `None` when the request is held for
    /// other shards' answers (it re-enters through `resume` later).
    pub(super) fn dialog_rewrites(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        resume: Resume,
    ) -> Option<DialogRewrites> {
        let answers = self.attended.resuming.take();
        let mut rewrites = Vec::new();
        let mut remote: Vec<(ShardId, DialogId)> = Vec::new();
        for found in found_identifiers(request) {
            let Some(named) = named_dialog(found.form, &found.part) else {
                continue;
            };
            let owner = named.owning_shard(self.shard_count);
            let bridged = if owner == self.shard {
                self.bridged_leg(&named)
            } else if let Some(answers) = &answers {
                answers.get(&named).cloned().flatten()
            } else {
                remote.push((owner, named));
                continue;
            };
            let Some(bridged) = bridged else { continue };
            let Some(part) = rewrite_for(found.form, &found.part, &bridged) else {
                continue;
            };
            let rewritten = if found.form == DialogIdForm::ReplacesInUri {
                found.value.replacen(&found.part, &part, 1)
            } else {
                part
            };
            rewrites.push(DialogRewrite {
                name: found.name,
                original: found.value,
                rewritten,
            });
        }
        if remote.is_empty() {
            return Some(DialogRewrites(rewrites));
        }
        let hold = self.attended.next();
        for (owner, dialog) in &remote {
            let query = self.attended.next();
            self.attended.queries.insert(query, (hold, dialog.clone()));
            self.attended.queries_sent += 1;
            self.outputs.push_back(Output::ToShard {
                shard: *owner,
                message: ShardMessage::DialogQuery {
                    query,
                    dialog: dialog.clone(),
                },
            });
        }
        self.attended.held.insert(
            hold,
            HeldRequest {
                from,
                tx,
                bytes: request.as_bytes().to_vec(),
                resume,
                waiting: remote.len(),
                answers: HashMap::new(),
            },
        );
        self.set_timer(
            now.plus_millis(DIALOG_QUERY_TIMEOUT_MS),
            CoreTimer::DialogQueryTimeout { hold },
        );
        None
    }

    /// Another shard asks which leg is bridged to one of ours.
    pub(super) fn on_dialog_query(&mut self, asker: ShardId, query: u64, dialog: DialogId) {
        let bridged = self.bridged_leg(&dialog).map(Box::new);
        self.outputs.push_back(Output::ToShard {
            shard: asker,
            message: ShardMessage::DialogAnswer {
                query,
                dialog,
                bridged,
            },
        });
    }

    pub(super) fn on_dialog_answer(
        &mut self,
        now: Time,
        query: u64,
        dialog: DialogId,
        bridged: Option<Box<DialogId>>,
    ) {
        let Some((hold, asked)) = self.attended.queries.remove(&query) else {
            return; // timed out already
        };
        let Some(held) = self.attended.held.get_mut(&hold) else {
            return;
        };
        // The answer names the dialog we asked about; anything else is ignored (unknown).
        let bridged = bridged.filter(|_| dialog == asked).map(|b| *b);
        held.answers.insert(asked, bridged);
        held.waiting = held.waiting.saturating_sub(1);
        if held.waiting == 0 {
            self.resume_held(now, hold);
        }
    }

    pub(super) fn on_dialog_query_timeout(&mut self, now: Time, hold: u64) {
        if !self.attended.held.contains_key(&hold) {
            return;
        }
        self.attended.query_timeouts += 1;
        self.attended.queries.retain(|_, (h, _)| *h != hold);
        self.resume_held(now, hold);
    }

    fn resume_held(&mut self, now: Time, hold: u64) {
        let Some(held) = self.attended.held.remove(&hold) else {
            return;
        };
        let Ok(request) = Message::parse(&held.bytes) else {
            return;
        };
        self.attended.resuming = Some(held.answers);
        match held.resume {
            Resume::InDialog { to_tag } => {
                self.on_in_dialog_request(now, held.from, held.tx, &request, &to_tag)
            }
            Resume::InitialInvite { trunk, config } => {
                self.on_initial_invite(now, held.from, (trunk, config), held.tx, &request)
            }
        }
        self.attended.resuming = None;
    }
}

fn law_of(rewritten: &RewrittenSdp) -> Option<G711Law> {
    G711Law::from_name(&rewritten.first_audio_codec()?.name)
}

/// The media facts of an SDP answer (its bytes are not relayed anywhere).
fn answer_facts(body: &[u8], advertise: std::net::IpAddr) -> Option<RewrittenSdp> {
    let plan = RewritePlan {
        advertise,
        audio_ports: vec![1],
        codecs: Vec::new(),
        rtcp_mux: true,
        origin: OriginState::new(0, 1),
    };
    sdp::rewrite(body, &plan).ok()
}

fn header_text(request: &Message, name: &str) -> Option<String> {
    request
        .headers()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
}

impl ShardCore {
    /// The platform's REFER with `?Replaces` on leg `side` of call `seq`, when the customer's
    /// trunk transfers locally: handoff joins the customer's leg with the leg bridged to the
    /// replaced dialog. `false` = not for this path (the REFER is relayed: "refer" mode).
    pub(super) fn on_attended_refer(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        tx: ServerTxId,
        request: &Message,
    ) -> bool {
        let Some(call) = self.calls.get(&seq) else {
            return false;
        };
        let customer = side.other();
        let Some(trunk) = call.config.trunks.get(call.leg(customer).trunk) else {
            return false;
        };
        if call.phase != CallPhase::Up || trunk.transfer != TransferMethod::Local {
            return false;
        }
        let Some(refer_to) = header_text(request, "Refer-To")
            .or_else(|| header_text(request, "r"))
            .and_then(|v| PlatformReferTo::parse(&v).ok())
        else {
            return false;
        };
        let Some(Ok(replaces)) = refer_to.replaces() else {
            return false;
        };
        if self.attended.kept.values().any(|k| k.call == seq) {
            self.reply(
                now,
                tx,
                request,
                491,
                "Request Pending (transfer under way)",
                &[],
            );
            return true;
        }
        let settings = TransferSettings::for_call(trunk, &call.config.sbc);
        let transfer = TransferRequest {
            conversation: call.conversation.clone(),
            translated_replaces: refer_to.replaces_escaped().map(str::to_string),
            refer_to,
            referred_by: header_text(request, "Referred-By").or_else(|| header_text(request, "b")),
            p_asserted_identity: header_text(request, "P-Asserted-Identity")
                .filter(|_| call.identity_trusted()),
            handoff_identity: self.contact(Some(seq)),
            notify_platform: !header_text(request, "Refer-Sub")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
            // Set by the driver (the core reads no clock).
            wall_clock: self.wall_clock,
            source: self.txn.server_peer(tx),
        };
        let join = self.attended.next();
        let attempt = TransferAttempt::start(now, transfer, settings);
        self.attended.kept.insert(
            join,
            KeptJoin {
                call: seq,
                customer,
                peer_shard: replaces.receiver_view().owning_shard(self.shard_count),
                refer_tx: tx,
                attempt,
                phase: KeeperPhase::AwaitingMovedLeg,
                moved: None,
                platform_gone: false,
            },
        );
        self.attended
            .replaced
            .insert(join, replaces.receiver_view());
        self.drive_attempt(now, join);
        true
    }

    /// Perform what the attempt of `join` asks, until it asks nothing more.
    fn drive_attempt(&mut self, now: Time, join: u64) {
        loop {
            let Some(kept) = self.attended.kept.get_mut(&join) else {
                return;
            };
            let Some(action) = kept.attempt.poll_action() else {
                if kept.attempt.is_done() && kept.phase != KeeperPhase::Joined {
                    self.attended.kept.remove(&join);
                    self.attended.replaced.remove(&join);
                }
                return;
            };
            let (seq, platform, refer_tx) = (kept.call, kept.customer.other(), kept.refer_tx);
            match action {
                TransferAction::AnswerPlatform { status }
                | TransferAction::RefusePlatform { status, .. } => {
                    let reason = match action {
                        TransferAction::RefusePlatform { reason, .. } => reason,
                        _ => crate::transfer::notify::reason_phrase(status),
                    };
                    let request = self.txn.server_request(refer_tx).map(<[u8]>::to_vec);
                    if let Some(request) = request
                        && let Ok(request) = Message::parse_framing(&request)
                    {
                        self.reply(now, refer_tx, &request, status, reason, &[]);
                    }
                }
                TransferAction::StartLocalJoin => self.start_move(now, join),
                TransferAction::NotifyPlatform {
                    status,
                    subscription_ends,
                }
                | TransferAction::RelayNotify {
                    status,
                    subscription_ends,
                } => self.notify_platform(now, seq, platform, status, subscription_ends),
                TransferAction::TearDownPlatformLeg => {
                    if let Some(kept) = self.attended.kept.get_mut(&join)
                        && !kept.platform_gone
                    {
                        kept.platform_gone = true;
                        self.send_bye(now, seq, platform);
                    }
                }
                TransferAction::ReleaseCustomerLeg => {
                    self.hang_up(now, seq, EndReason::TransferFailed, 487);
                }
                TransferAction::ArmTimer { at } => {
                    self.set_timer(at, CoreTimer::AttendedTransfer { join, at });
                }
                TransferAction::Finished(record) => {
                    self.metrics.record_transfer(&record);
                    self.outputs
                        .push_back(Output::Event(Event::Transfer(Box::new(record))));
                }
                // The owner shard BYEs the replaced leg when its far leg moves.
                TransferAction::TearDownReplacedPlatformLeg
                // Not part of a local attended transfer.
                | TransferAction::SendRefer { .. }
                | TransferAction::StartFallbackInvite { .. }
                | TransferAction::RelayFallbackEarlyMedia
                | TransferAction::CancelFallbackInvite
                | TransferAction::StartRingback
                | TransferAction::StopRingback
                | TransferAction::BridgeFallback => {}
            }
        }
    }

    pub(super) fn on_attended_timer(&mut self, now: Time, join: u64) {
        if let Some(kept) = self.attended.kept.get_mut(&join) {
            kept.attempt.on_timer(now);
        }
        self.drive_attempt(now, join);
    }

    fn notify_platform(&mut self, now: Time, seq: u64, platform: Side, status: u16, ends: bool) {
        let extra = vec![
            ("Event".to_string(), "refer".to_string()),
            (
                "Subscription-State".to_string(),
                crate::transfer::notify::subscription_state(ends, 60),
            ),
        ];
        let body = Some((
            "message/sipfrag".to_string(),
            crate::transfer::notify::sipfrag_body(status).into_bytes(),
        ));
        self.send_own_request(
            now,
            seq,
            platform,
            Method::Notify,
            &extra,
            body,
            AttendedStep::Notify,
        );
    }

    /// A request handoff originates on leg `side` of call `seq` for a transfer.
    #[allow(clippy::too_many_arguments)]
    fn send_own_request(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        method: Method,
        extra: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
        step: AttendedStep,
    ) -> bool {
        let Some((branch, bytes, peer)) =
            self.build_request(seq, side, method.as_str(), extra, body)
        else {
            return false;
        };
        let Ok(client) = self.txn.send_request(now, peer, method, &branch, bytes) else {
            return false;
        };
        self.track_client(client, ClientPurpose::Attended { call: seq, step });
        if let Some(call) = self.calls.get_mut(&seq) {
            call.outstanding += 1;
        }
        true
    }

    /// A G.711-only sendrecv re-INVITE on leg `side` of call `seq`, with media at `media`.
    fn send_g711_reinvite(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        media: SocketAddr,
        step: AttendedStep,
    ) -> bool {
        let Some(call) = self.calls.get_mut(&seq) else {
            return false;
        };
        let codecs = call
            .config
            .trunks
            .get(call.leg(side).trunk)
            .map(|t| t.codecs.clone())
            .unwrap_or_default();
        let plan = RewritePlan {
            advertise: media.ip(),
            audio_ports: vec![media.port()],
            codecs,
            rtcp_mux: false,
            origin: call.leg(side).origin,
        };
        let offer = sdp::g711_offer(&plan, Direction::SendRecv);
        call.leg_mut(side).origin = offer.origin;
        call.reinvite_pending = true;
        let body = Some(("application/sdp".to_string(), offer.bytes));
        let sent = self.send_own_request(now, seq, side, Method::Invite, &[], body, step);
        if !sent && let Some(call) = self.calls.get_mut(&seq) {
            call.reinvite_pending = false;
        }
        sent
    }

    fn send_join(&mut self, now: Time, to: ShardId, message: JoinMessage) {
        if to == self.shard {
            self.on_join_message(now, to, message);
        } else {
            self.outputs.push_back(Output::ToShard {
                shard: to,
                message: ShardMessage::Join(Box::new(message)),
            });
        }
    }

    /// Keeper: ask the owner of the replaced dialog to move its far leg onto our platform port.
    fn start_move(&mut self, now: Time, join: u64) {
        let Some(kept) = self.attended.kept.get(&join) else {
            return;
        };
        let (seq, platform, peer) = (kept.call, kept.customer.other(), kept.peer_shard);
        let port = self
            .calls
            .get(&seq)
            .and_then(|c| c.leg(platform).media_port);
        let replaced = self.attended.replaced.get(&join).cloned();
        let (Some(port), Some(replaced)) = (port, replaced) else {
            if let Some(kept) = self.attended.kept.get_mut(&join) {
                kept.attempt.on_local_join_result(now, 500);
            }
            return self.drive_attempt(now, join);
        };
        let media = SocketAddr::new(self.config_of(Some(seq)).sbc.advertise, port);
        self.send_join(
            now,
            peer,
            JoinMessage::MoveLeg {
                join,
                replaced,
                media,
            },
        );
    }

    pub(super) fn on_join_message(&mut self, now: Time, from: ShardId, message: JoinMessage) {
        match message {
            JoinMessage::MoveLeg {
                join,
                replaced,
                media,
            } => self.move_leg(now, from, join, &replaced, media),
            JoinMessage::LegMoved { join, result } => self.on_leg_moved(now, from, join, result),
            JoinMessage::PeerEnded { join } => self.on_peer_ended(now, from, join),
        }
    }

    /// Owner: re-INVITE the leg bridged to `replaced` toward the keeper's port.
    fn move_leg(
        &mut self,
        now: Time,
        keeper: ShardId,
        join: u64,
        replaced: &DialogId,
        media: SocketAddr,
    ) {
        let found = self
            .dialog_position(&replaced.local_tag)
            .filter(|_| self.bridged_leg(replaced).is_some());
        let usable = found.filter(|(seq, _)| {
            !self.attended.away.contains_key(seq)
                && self
                    .calls
                    .get(seq)
                    .is_some_and(|c| c.phase == CallPhase::Up && !c.reinvite_pending)
        });
        let Some((seq, replaced_side)) = usable else {
            let status = if found.is_some() { 491 } else { 481 };
            let result = Err(status);
            return self.send_join(now, keeper, JoinMessage::LegMoved { join, result });
        };
        let moved = replaced_side.other();
        let step = AttendedStep::Reinvite {
            join,
            side: moved,
            keeper: false,
        };
        if !self.send_g711_reinvite(now, seq, moved, media, step) {
            let result = Err(503);
            return self.send_join(now, keeper, JoinMessage::LegMoved { join, result });
        }
        self.attended.away.insert(
            seq,
            AwayJoin {
                keeper,
                join,
                moved,
                answered: false,
            },
        );
    }

    /// Final response (or timeout, `response` = None) to a request of an attended transfer.
    pub(super) fn on_attended_final(
        &mut self,
        now: Time,
        seq: u64,
        step: AttendedStep,
        status: u16,
        response: Option<&Message>,
    ) {
        let AttendedStep::Reinvite { join, side, keeper } = step else {
            return;
        };
        let success = (200..300).contains(&status);
        if let Some(call) = self.calls.get_mut(&seq) {
            call.reinvite_pending = false;
        }
        let facts = response.filter(|_| success).and_then(|response| {
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
            self.send_ack(seq, side, cseq);
            answer_facts(response.body(), self.config_of(Some(seq)).sbc.advertise)
        });
        if keeper {
            self.on_customer_answer(now, join, status, facts);
        } else {
            self.on_moved_leg_answer(now, seq, status, facts);
        }
    }

    /// Owner: the moved leg answered its re-INVITE.
    fn on_moved_leg_answer(
        &mut self,
        now: Time,
        seq: u64,
        status: u16,
        facts: Option<RewrittenSdp>,
    ) {
        let Some(away) = self.attended.away.get_mut(&seq) else {
            return;
        };
        let (keeper, join, moved) = (away.keeper, away.join, away.moved);
        let result = match facts {
            Some(facts) if (200..300).contains(&status) => {
                away.answered = true;
                // The replaced dialog (B2) is over: its far leg now belongs to the joined call.
                self.send_bye(now, seq, moved.other());
                Ok(MovedLeg {
                    remote_rtp: facts.remote_rtp,
                    remote_rtcp: facts.remote_rtcp,
                    law: law_of(&facts),
                })
            }
            _ => {
                self.attended.away.remove(&seq);
                Err(if status < 300 { 488 } else { status })
            }
        };
        self.send_join(now, keeper, JoinMessage::LegMoved { join, result });
    }

    /// Keeper: the owner moved (or failed to move) the far leg of the replaced dialog.
    fn on_leg_moved(
        &mut self,
        now: Time,
        owner: ShardId,
        join: u64,
        result: Result<MovedLeg, u16>,
    ) {
        let Some(kept) = self.attended.kept.get_mut(&join) else {
            // Nobody waits for it any more (the customer hung up): the owner ends what it moved.
            if result.is_ok() {
                self.send_join(now, owner, JoinMessage::PeerEnded { join });
            }
            return;
        };
        match result {
            Ok(moved) => {
                kept.moved = Some(moved);
                kept.phase = KeeperPhase::AwaitingCustomerAnswer;
                let (seq, customer) = (kept.call, kept.customer);
                let port = self
                    .calls
                    .get(&seq)
                    .and_then(|c| c.leg(customer).media_port);
                let step = AttendedStep::Reinvite {
                    join,
                    side: customer,
                    keeper: true,
                };
                let sent = port.is_some_and(|port| {
                    let media = SocketAddr::new(self.config_of(Some(seq)).sbc.advertise, port);
                    self.send_g711_reinvite(now, seq, customer, media, step)
                });
                if !sent {
                    self.on_customer_answer(now, join, 503, None);
                }
            }
            Err(status) => {
                kept.attempt.on_local_join_result(now, status);
                self.drive_attempt(now, join);
            }
        }
    }

    /// Keeper: the customer's leg answered its re-INVITE; on success A1 <-> A2 are joined.
    fn on_customer_answer(
        &mut self,
        now: Time,
        join: u64,
        status: u16,
        facts: Option<RewrittenSdp>,
    ) {
        let Some(kept) = self.attended.kept.get_mut(&join) else {
            return;
        };
        let (seq, customer, peer) = (kept.call, kept.customer, kept.peer_shard);
        let (Some(facts), Some(moved)) = (facts.filter(|_| status < 300), kept.moved) else {
            // The moved leg has nobody to talk to: end it, report the failure.
            let status = if status < 300 { 488 } else { status };
            kept.attempt.on_local_join_result(now, status);
            self.send_join(now, peer, JoinMessage::PeerEnded { join });
            return self.drive_attempt(now, join);
        };
        kept.phase = KeeperPhase::Joined;
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let customer_leg = call.leg_mut(customer);
        customer_leg.remote_rtp = facts.remote_rtp;
        customer_leg.remote_rtcp = facts.remote_rtcp;
        customer_leg.rtcp_mux = false;
        let platform_leg = call.leg_mut(customer.other());
        platform_leg.remote_rtp = moved.remote_rtp;
        platform_leg.remote_rtcp = moved.remote_rtcp;
        platform_leg.rtcp_mux = false;
        let (customer_law, moved_law) = (law_of(&facts), moved.law);
        let (a_law, b_law) = match customer {
            Side::A => (customer_law, moved_law),
            Side::B => (moved_law, customer_law),
        };
        let (id, a, b) = {
            let (a, b) = call.media_pair();
            (call.id, a, b)
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Update { call: id, a, b }));
        self.outputs.push_back(Output::Media(MediaCommand::SetLaws {
            call: id,
            a: a_law,
            b: b_law,
        }));
        if let Some(kept) = self.attended.kept.get_mut(&join) {
            kept.attempt.on_local_join_result(now, 200);
        }
        self.drive_attempt(now, join);
    }

    /// The other half of a joined pair hung up: end ours.
    fn on_peer_ended(&mut self, now: Time, from: ShardId, join: u64) {
        // On the owner the join is found by (keeper, join id); on the keeper by join id.
        let away = self
            .attended
            .away
            .iter()
            .find(|(_, a)| a.keeper == from && a.join == join)
            .map(|(seq, a)| (*seq, a.moved));
        if let Some((seq, moved)) = away {
            self.attended.away.remove(&seq);
            self.send_bye(now, seq, moved);
            self.end_call(now, seq, EndReason::JoinedPeerEnded, None);
            return;
        }
        if let Some(kept) = self.attended.kept.remove(&join) {
            self.attended.replaced.remove(&join);
            self.send_bye(now, kept.call, kept.customer);
            if !kept.platform_gone {
                self.send_bye(now, kept.call, kept.customer.other());
            }
            self.end_call(now, kept.call, EndReason::JoinedPeerEnded, None);
        }
    }

    /// A BYE (already answered 200) on leg `side` of call `seq`. `true` = the attended transfer
    /// took care of it and the B2BUA must not relay it.
    pub(super) fn on_bye_in_join(&mut self, now: Time, seq: u64, side: Side) -> bool {
        let reason = EndReason::bye_from(side);
        if let Some(away) = self.attended.away.get(&seq) {
            let (keeper, join, moved, answered) =
                (away.keeper, away.join, away.moved, away.answered);
            if side != moved {
                // The replaced dialog's platform leg: its far leg lives on in the joined call.
                return true;
            }
            self.attended.away.remove(&seq);
            if answered {
                self.send_join(now, keeper, JoinMessage::PeerEnded { join });
                self.end_call(now, seq, reason, None);
                return true;
            }
            let result = Err(487);
            self.send_join(now, keeper, JoinMessage::LegMoved { join, result });
            return false;
        }
        let Some((&join, kept)) = self.attended.kept.iter_mut().find(|(_, k)| k.call == seq) else {
            return false;
        };
        if side != kept.customer {
            kept.platform_gone = true;
            kept.attempt.on_transferor_bye(now);
            self.drive_attempt(now, join);
            // Before the join the customer must not lose the call: the platform leg is only
            // ended; after it, the customer talks to the moved leg.
            return true;
        }
        let (peer, phase) = (kept.peer_shard, kept.phase);
        kept.attempt.on_bye_from_carrier(now);
        self.drive_attempt(now, join);
        if phase != KeeperPhase::AwaitingMovedLeg {
            self.send_join(now, peer, JoinMessage::PeerEnded { join });
        }
        let platform_gone = self
            .attended
            .kept
            .remove(&join)
            .is_none_or(|k| k.platform_gone);
        self.attended.replaced.remove(&join);
        if !platform_gone {
            self.send_bye(now, seq, side.other());
        }
        self.end_call(now, seq, reason, None);
        true
    }

    /// Call `seq` ended by any path (drain, ACK timeout, ...): the other half of a joined pair
    /// ends too, and no join state outlives its call.
    pub(super) fn attended_call_ended(&mut self, now: Time, seq: u64) {
        if let Some(away) = self.attended.away.remove(&seq) {
            let message = if away.answered {
                JoinMessage::PeerEnded { join: away.join }
            } else {
                JoinMessage::LegMoved {
                    join: away.join,
                    result: Err(487),
                }
            };
            self.send_join(now, away.keeper, message);
        }
        let joins: Vec<u64> = self
            .attended
            .kept
            .iter()
            .filter(|(_, k)| k.call == seq)
            .map(|(join, _)| *join)
            .collect();
        for join in joins {
            self.attended.replaced.remove(&join);
            if let Some(kept) = self.attended.kept.remove(&join)
                && kept.phase != KeeperPhase::AwaitingMovedLeg
            {
                self.send_join(now, kept.peer_shard, JoinMessage::PeerEnded { join });
            }
        }
    }

    /// The platform's attended REFER (Refer-To with `?Replaces`) on leg `side` of call `seq`,
    /// for the REFER entry point (transfer_flow.rs). `Some(dialogs)`: transfer by REFER with
    /// this %-escaped Replaces (and Target-Dialog), translated to name the carrier's dialog (unchanged when it names
    /// no dialog handoff bridges). `None`: taken here (a local join for a trunk with
    /// `transfer = "local"`), or held until another shard answers (it comes back here).
    pub(super) fn attended_refer(
        &mut self,
        now: Time,
        tx: ServerTxId,
        seq: u64,
        side: Side,
        request: &Message,
    ) -> Option<TranslatedDialogs> {
        if self.on_attended_refer(now, seq, side, tx, request) {
            return None;
        }
        let leg = &self.calls.get(&seq)?.leg(side).dialog;
        let (peer, to_tag) = (leg.peer, leg.local_tag.clone());
        let rewrites = self.dialog_rewrites(now, peer, tx, request, Resume::InDialog { to_tag })?;
        let refer_to = header_text(request, "Refer-To").or_else(|| header_text(request, "r"))?;
        let refer_to = rewrites
            .0
            .iter()
            .find(|r| r.original == refer_to)
            .map_or(refer_to.clone(), |r| r.rewritten.clone());
        let target_dialog = header_text(request, "Target-Dialog").map(|value| {
            rewrites
                .0
                .iter()
                .find(|r| r.original == value)
                .map_or(value.clone(), |r| r.rewritten.clone())
        });
        let replaces = PlatformReferTo::parse(&refer_to)
            .ok()?
            .replaces_escaped()
            .map(str::to_string);
        Some(TranslatedDialogs {
            replaces,
            target_dialog,
        })
    }

    /// An attended REFER failed and the trunk falls back to a local join: take over its
    /// attempt (already in `AwaitingLocalJoin`) and join the customer's leg with the leg
    /// bridged to the REFER's Replaces.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn adopt_local_join(
        &mut self,
        now: Time,
        seq: u64,
        customer: Side,
        attempt: TransferAttempt,
        refer_tx: ServerTxId,
        refer_request: &[u8],
        platform_gone: bool,
    ) {
        let replaced = Message::parse_framing(refer_request)
            .ok()
            .and_then(|m| header_text(&m, "Refer-To").or_else(|| header_text(&m, "r")))
            .and_then(|v| PlatformReferTo::parse(&v).ok())
            .and_then(|r| r.replaces())
            .and_then(Result::ok)
            .map(|r| r.receiver_view());
        let join = self.attended.next();
        let peer_shard = replaced
            .as_ref()
            .map_or(self.shard, |r| r.owning_shard(self.shard_count));
        self.attended.kept.insert(
            join,
            KeptJoin {
                call: seq,
                customer,
                peer_shard,
                refer_tx,
                attempt,
                phase: KeeperPhase::AwaitingMovedLeg,
                moved: None,
                platform_gone,
            },
        );
        if let Some(replaced) = replaced {
            self.attended.replaced.insert(join, replaced);
        }
        self.start_move(now, join);
        self.drive_attempt(now, join);
    }

    /// A request (not BYE) on a leg whose peer leg here is gone because of a local join: the
    /// customer's leg A1 once joined, or the moved leg A2. `true` = answered here.
    pub(super) fn answered_while_joined(
        &mut self,
        now: Time,
        tx: ServerTxId,
        seq: u64,
        side: Side,
        method: Method,
        request: &Message,
    ) -> bool {
        let joined_customer = self
            .attended
            .kept
            .values()
            .any(|k| k.call == seq && k.customer == side && k.phase == KeeperPhase::Joined);
        let moved = self
            .attended
            .away
            .get(&seq)
            .is_some_and(|a| a.moved == side && a.answered);
        if !joined_customer && !moved {
            return false;
        }
        if matches!(method, Method::Invite | Method::Update) {
            let reason = "Not Acceptable Here (joined by a transfer: session unchanged)";
            self.reply(now, tx, request, 488, reason, &[]);
        } else {
            self.reply(now, tx, request, 200, "OK", &[]);
        }
        true
    }
}
