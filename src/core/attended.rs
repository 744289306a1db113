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
use super::call::{Calls, ReinviteOrigin};
use super::dialog::Side;
use super::effects::ClientPurpose;
use super::effects::Effects;
use super::transaction::{ClientTxId, ServerTxId};
use super::transfer_state::TranslatedDialogs;
use super::{EndReason, MediaCommand, Output, ShardId, ShardMessage, Time};
use crate::config::TransferMethod;
use crate::media::g711::G711Law;
use crate::sdp::{self, Direction, OriginState, RewritePlan, RewrittenSdp};
use crate::sip::{Message, Method};
use crate::transfer::PlatformReferTo;
use crate::transfer::dialog_ids::{DialogId, DialogIdForm, named_dialog, rewrite_for};
use crate::vocab::StatusCode;

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

/// handoff's view of the leg bridged to `named`, when `named` is a live, confirmed leg of
/// this shard and its peer leg is confirmed too.
pub(super) fn bridged_leg(calls: &Calls, fx: &Effects, named: &DialogId) -> Option<DialogId> {
    let (seq, side) = fx.dialog_position(calls, &named.local_tag)?;
    let call = calls.get(&seq).filter(|c| !c.is_ended())?;
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

/// The dialog identifiers of `request` translated for the other side: those naming a dialog of
/// this shard (or one in `answers`, other shards' answers) become the bridged leg's; the ones
/// another shard owns and `answers` lacks are listed to ask that shard.
#[allow(clippy::type_complexity)]
pub(super) fn translate(
    calls: &Calls,
    fx: &Effects,
    request: &Message,
    answers: Option<&HashMap<DialogId, Option<DialogId>>>,
) -> (Vec<DialogRewrite>, Vec<(ShardId, DialogId)>) {
    let mut rewrites = Vec::new();
    let mut remote: Vec<(ShardId, DialogId)> = Vec::new();
    for found in found_identifiers(request) {
        let Some(named) = named_dialog(found.form, &found.part) else {
            continue;
        };
        let owner = named.owning_shard(fx.shard_count);
        let bridged = if owner == fx.shard {
            bridged_leg(calls, fx, &named)
        } else if let Some(answers) = answers {
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
    (rewrites, remote)
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
        username: String::new(),
    };
    sdp::rewrite(body, &plan).ok()
}

pub(super) fn header_text(request: &Message, name: &str) -> Option<String> {
    request
        .headers()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
}

impl AttendedState {
    /// The platform's REFER with `?Replaces` on leg `side` of call `seq`, when the customer's
    /// trunk transfers locally: handoff joins the customer's leg with the leg bridged to the
    /// replaced dialog. `false` = not for this path (the REFER is relayed: "refer" mode).
    /// `subscription`: the dialog an out-of-dialog REFER creates, taken when this path is.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_attended_refer(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        side: Side,
        tx: ServerTxId,
        request: &Message,
        subscription: &mut Option<Box<super::dialog::Dialog>>,
    ) -> bool {
        let Some(call) = calls.get(&seq) else {
            return false;
        };
        let customer = side.other();
        let Some(trunk) = call.config.trunks.get(call.leg(customer).trunk) else {
            return false;
        };
        if !call.is_answered() || trunk.transfer != TransferMethod::Local {
            return false;
        }
        let Some(refer_to) = header_text(request, "Refer-To")
            .or_else(|| header_text(request, "r"))
            .and_then(|v| PlatformReferTo::parse(&v).ok())
        else {
            return false;
        };
        let Some(Ok(_)) = refer_to.replaces() else {
            return false;
        };
        if call.transfer().is_some_and(|t| t.is_active()) {
            let reason = "Request Pending (transfer under way)";
            fx.reply(now, tx, request, StatusCode::REQUEST_PENDING, reason, &[]);
            return true;
        }
        // The call's transfer runs the attempt (one driver, transfer_flow.rs); its first
        // action, StartLocalJoin, comes back here as `start_local_join`.
        let translated = TranslatedDialogs {
            replaces: refer_to.replaces_escaped().map(str::to_string),
            subscription: subscription.take(),
        };
        if let Some(call) = calls.get_mut(&seq) {
            call.start_transfer(fx, now, tx, customer, request, refer_to, translated);
        }
        true
    }

    /// A request handoff originates on leg `side` of call `seq` for a transfer.
    #[allow(clippy::too_many_arguments)]
    fn send_own_request(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        side: Side,
        method: Method,
        extra: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
        step: AttendedStep,
    ) -> bool {
        let Some((branch, bytes, peer)) =
            build_request(calls, fx, seq, side, method.as_str(), extra, body)
        else {
            return false;
        };
        let Ok(client) = fx.txn.send_request(now, peer, method, &branch, bytes) else {
            return false;
        };
        track_client(
            calls,
            fx,
            client,
            ClientPurpose::Attended { call: seq, step },
        );
        if let Some(call) = calls.get_mut(&seq) {
            call.outstanding += 1;
        }
        true
    }

    /// A G.711-only sendrecv re-INVITE on leg `side` of call `seq`, with media at `media`.
    #[allow(clippy::too_many_arguments)]
    fn send_g711_reinvite(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        side: Side,
        media: SocketAddr,
        step: AttendedStep,
    ) -> bool {
        let Some(call) = calls.get_mut(&seq) else {
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
            username: call.config.sbc.identity.clone(),
        };
        let offer = sdp::g711_offer(&plan, Direction::SendRecv);
        call.leg_mut(side).origin = offer.origin;
        call.reinvite_pending = true;
        call.attended_reinvite = Some((step, media));
        let body = Some(("application/sdp".to_string(), offer.bytes));
        let sent =
            self.send_own_request(calls, fx, now, seq, side, Method::Invite, &[], body, step);
        if !sent && let Some(call) = calls.get_mut(&seq) {
            call.reinvite_pending = false;
        }
        sent
    }

    /// Glare: the G.711 re-INVITE `step` with media at `media` goes again (glare.rs).
    pub(super) fn retry_g711_reinvite(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        step: AttendedStep,
        media: SocketAddr,
    ) {
        let AttendedStep::Reinvite { side, .. } = step;
        self.send_g711_reinvite(calls, fx, now, seq, side, media, step);
    }

    fn send_join(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        to: ShardId,
        message: JoinMessage,
    ) {
        if to == fx.shard {
            self.on_join_message(calls, fx, now, to, message);
        } else {
            fx.outputs.push_back(Output::ToShard {
                shard: to,
                message: ShardMessage::Join(Box::new(message)),
            });
        }
    }

    /// Keeper: ask the owner of the replaced dialog to move its far leg onto our platform port.
    fn start_move(&mut self, calls: &mut Calls, fx: &mut Effects, now: Time, join: u64) {
        let Some(kept) = self.kept.get(&join) else {
            return;
        };
        let (seq, platform, peer) = (kept.call, kept.customer.other(), kept.peer_shard);
        let port = calls.get(&seq).and_then(|c| c.leg(platform).media_port);
        let replaced = self.replaced.get(&join).cloned();
        let (Some(port), Some(replaced)) = (port, replaced) else {
            if let Some(kept) = self.kept.get_mut(&join) {
                let seq = kept.call;
                join_result(calls, fx, now, seq, StatusCode::SERVER_INTERNAL_ERROR);
            }
            return;
        };
        let media = SocketAddr::new(advertise_of(calls, fx, seq), port);
        self.send_join(
            calls,
            fx,
            now,
            peer,
            JoinMessage::MoveLeg {
                join,
                replaced,
                media,
            },
        );
    }

    pub(super) fn on_join_message(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        from: ShardId,
        message: JoinMessage,
    ) {
        match message {
            JoinMessage::MoveLeg {
                join,
                replaced,
                media,
            } => self.move_leg(calls, fx, now, from, join, &replaced, media),
            JoinMessage::LegMoved { join, result } => {
                self.on_leg_moved(calls, fx, now, from, join, result)
            }
            JoinMessage::PeerEnded { join } => self.on_peer_ended(calls, fx, now, from, join),
        }
    }

    /// Owner: re-INVITE the leg bridged to `replaced` toward the keeper's port.
    #[allow(clippy::too_many_arguments)]
    fn move_leg(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        keeper: ShardId,
        join: u64,
        replaced: &DialogId,
        media: SocketAddr,
    ) {
        let found = fx
            .dialog_position(calls, &replaced.local_tag)
            .filter(|_| bridged_leg(calls, fx, replaced).is_some());
        let usable = found.filter(|(seq, _)| {
            !self.away.contains_key(seq)
                && calls
                    .get(seq)
                    .is_some_and(|c| c.is_answered() && !c.reinvite_pending)
        });
        let Some((seq, replaced_side)) = usable else {
            let status = if found.is_some() {
                StatusCode::REQUEST_PENDING
            } else {
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST
            };
            let result = Err(status);
            return self.send_join(
                calls,
                fx,
                now,
                keeper,
                JoinMessage::LegMoved { join, result },
            );
        };
        let moved = replaced_side.other();
        let step = AttendedStep::Reinvite {
            join,
            side: moved,
            keeper: false,
        };
        if !self.send_g711_reinvite(calls, fx, now, seq, moved, media, step) {
            let result = Err(StatusCode::SERVICE_UNAVAILABLE);
            return self.send_join(
                calls,
                fx,
                now,
                keeper,
                JoinMessage::LegMoved { join, result },
            );
        }
        self.away.insert(
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_attended_final(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        step: AttendedStep,
        status: StatusCode,
        response: Option<&Message>,
    ) {
        let AttendedStep::Reinvite { join, side, keeper } = step;
        let success = status.is_success();
        if let Some(call) = calls.get_mut(&seq) {
            call.reinvite_pending = false;
            if success {
                call.own_reinvite_succeeded();
            } else if let Some((sent, media)) = call.attended_reinvite
                && sent == step
                && call.own_reinvite_failed(
                    fx,
                    now,
                    side,
                    ReinviteOrigin::Attended(step, media),
                    status,
                    response,
                )
            {
                // Glare: the same re-INVITE goes again after the RFC's delay (glare.rs); the
                // join waits for its answer.
                return;
            }
        }
        let facts = response.filter(|_| success).and_then(|response| {
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
            send_ack(calls, fx, now, seq, side, cseq);
            answer_facts(response.body(), advertise_of(calls, fx, seq))
        });
        if keeper {
            self.on_customer_answer(calls, fx, now, join, status, facts);
        } else {
            self.on_moved_leg_answer(calls, fx, now, seq, status, facts);
        }
    }

    /// Owner: the moved leg answered its re-INVITE.
    fn on_moved_leg_answer(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        status: StatusCode,
        facts: Option<RewrittenSdp>,
    ) {
        let Some(away) = self.away.get_mut(&seq) else {
            return;
        };
        let (keeper, join, moved) = (away.keeper, away.join, away.moved);
        let result = match facts {
            Some(facts) if status.is_success() => {
                away.answered = true;
                // The replaced dialog (B2) is over: its far leg now belongs to the joined call.
                send_bye(calls, fx, now, seq, moved.other());
                Ok(MovedLeg {
                    remote_rtp: facts.remote_rtp,
                    remote_rtcp: facts.remote_rtcp,
                    law: law_of(&facts),
                })
            }
            _ => {
                self.away.remove(&seq);
                Err(if !status.is_failure() {
                    StatusCode::NOT_ACCEPTABLE_HERE
                } else {
                    status
                })
            }
        };
        self.send_join(
            calls,
            fx,
            now,
            keeper,
            JoinMessage::LegMoved { join, result },
        );
    }

    /// Keeper: the owner moved (or failed to move) the far leg of the replaced dialog.
    fn on_leg_moved(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        owner: ShardId,
        join: u64,
        result: Result<MovedLeg, StatusCode>,
    ) {
        let Some(kept) = self.kept.get_mut(&join) else {
            // Nobody waits for it any more (the customer hung up): the owner ends what it moved.
            if result.is_ok() {
                self.send_join(calls, fx, now, owner, JoinMessage::PeerEnded { join });
            }
            return;
        };
        match result {
            Ok(moved) => {
                kept.moved = Some(moved);
                kept.phase = KeeperPhase::AwaitingCustomerAnswer;
                let (seq, customer) = (kept.call, kept.customer);
                let port = calls.get(&seq).and_then(|c| c.leg(customer).media_port);
                let step = AttendedStep::Reinvite {
                    join,
                    side: customer,
                    keeper: true,
                };
                let sent = port.is_some_and(|port| {
                    let media = SocketAddr::new(advertise_of(calls, fx, seq), port);
                    self.send_g711_reinvite(calls, fx, now, seq, customer, media, step)
                });
                if !sent {
                    self.on_customer_answer(
                        calls,
                        fx,
                        now,
                        join,
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                    );
                }
            }
            Err(status) => {
                let seq = kept.call;
                join_result(calls, fx, now, seq, status);
            }
        }
    }

    /// Keeper: the customer's leg answered its re-INVITE; on success A1 <-> A2 are joined.
    fn on_customer_answer(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        join: u64,
        status: StatusCode,
        facts: Option<RewrittenSdp>,
    ) {
        let Some(kept) = self.kept.get_mut(&join) else {
            return;
        };
        let (seq, customer, peer) = (kept.call, kept.customer, kept.peer_shard);
        let (Some(facts), Some(moved)) = (facts.filter(|_| !status.is_failure()), kept.moved)
        else {
            // The moved leg has nobody to talk to: end it, report the failure.
            let status = if !status.is_failure() {
                StatusCode::NOT_ACCEPTABLE_HERE
            } else {
                status
            };
            let seq = kept.call;
            join_result(calls, fx, now, seq, status);
            self.send_join(calls, fx, now, peer, JoinMessage::PeerEnded { join });
            return;
        };
        kept.phase = KeeperPhase::Joined;
        let Some(call) = calls.get_mut(&seq) else {
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
        fx.outputs
            .push_back(Output::Media(MediaCommand::Update { call: id, a, b }));
        fx.outputs.push_back(Output::Media(MediaCommand::SetLaws {
            call: id,
            a: a_law,
            b: b_law,
        }));
        if let Some(kept) = self.kept.get_mut(&join) {
            let seq = kept.call;
            join_result(calls, fx, now, seq, StatusCode::OK);
        }
    }

    /// The other half of a joined pair hung up: end ours.
    fn on_peer_ended(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        from: ShardId,
        join: u64,
    ) {
        // On the owner the join is found by (keeper, join id); on the keeper by join id.
        let away = self
            .away
            .iter()
            .find(|(_, a)| a.keeper == from && a.join == join)
            .map(|(seq, a)| (*seq, a.moved));
        if let Some((seq, moved)) = away {
            self.away.remove(&seq);
            send_bye(calls, fx, now, seq, moved);
            end_call(calls, fx, now, seq, EndReason::JoinedPeerEnded, None);
            return;
        }
        if let Some(kept) = self.kept.remove(&join) {
            self.replaced.remove(&join);
            send_bye(calls, fx, now, kept.call, kept.customer);
            if !take_platform_gone(calls, kept.call) {
                send_bye(calls, fx, now, kept.call, kept.customer.other());
            }
            end_call(calls, fx, now, kept.call, EndReason::JoinedPeerEnded, None);
        }
    }

    /// A BYE (already answered 200) on leg `side` of call `seq`. `true` = the attended transfer
    /// took care of it and the B2BUA must not relay it.
    pub(super) fn on_bye_in_join(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
        side: Side,
    ) -> bool {
        let reason = EndReason::bye_from(side);
        if let Some(away) = self.away.get(&seq) {
            let (keeper, join, moved, answered) =
                (away.keeper, away.join, away.moved, away.answered);
            if side != moved {
                // The replaced dialog's platform leg: its far leg lives on in the joined call.
                return true;
            }
            self.away.remove(&seq);
            if answered {
                self.send_join(calls, fx, now, keeper, JoinMessage::PeerEnded { join });
                end_call(calls, fx, now, seq, reason, None);
                return true;
            }
            let result = Err(StatusCode::REQUEST_TERMINATED);
            self.send_join(
                calls,
                fx,
                now,
                keeper,
                JoinMessage::LegMoved { join, result },
            );
            return false;
        }
        let Some((&join, kept)) = self.kept.iter_mut().find(|(_, k)| k.call == seq) else {
            return false;
        };
        if side != kept.customer {
            // Before the join the customer must not lose the call: the platform leg is only
            // ended; after it, the customer talks to the moved leg. (While the attempt runs,
            // the call's transfer takes this BYE first.)
            take_platform_gone(calls, seq);
            return true;
        }
        let (peer, phase) = (kept.peer_shard, kept.phase);
        if phase != KeeperPhase::AwaitingMovedLeg {
            self.send_join(calls, fx, now, peer, JoinMessage::PeerEnded { join });
        }
        self.kept.remove(&join);
        self.replaced.remove(&join);
        if !take_platform_gone(calls, seq) {
            send_bye(calls, fx, now, seq, side.other());
        }
        end_call(calls, fx, now, seq, reason, None);
        true
    }

    /// Call `seq` ended by any path (drain, ACK timeout, ...): the other half of a joined pair
    /// ends too, and no join state outlives its call.
    pub(super) fn attended_call_ended(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
    ) {
        if let Some(away) = self.away.remove(&seq) {
            let message = if away.answered {
                JoinMessage::PeerEnded { join: away.join }
            } else {
                JoinMessage::LegMoved {
                    join: away.join,
                    result: Err(StatusCode::REQUEST_TERMINATED),
                }
            };
            self.send_join(calls, fx, now, away.keeper, message);
        }
        let joins: Vec<u64> = self
            .kept
            .iter()
            .filter(|(_, k)| k.call == seq)
            .map(|(join, _)| *join)
            .collect();
        for join in joins {
            self.replaced.remove(&join);
            if let Some(kept) = self.kept.remove(&join)
                && kept.phase != KeeperPhase::AwaitingMovedLeg
            {
                self.send_join(
                    calls,
                    fx,
                    now,
                    kept.peer_shard,
                    JoinMessage::PeerEnded { join },
                );
            }
        }
    }

    /// The call's transfer asks for a local join (StartLocalJoin: an attended REFER on a
    /// `transfer = "local"` trunk, or a refused one that falls back): join the customer's leg
    /// with the leg bridged to the REFER's Replaces, which the owner shard moves to us.
    pub(super) fn start_local_join(
        &mut self,
        calls: &mut Calls,
        fx: &mut Effects,
        now: Time,
        seq: u64,
    ) {
        let Some(transfer) = calls.get_mut(&seq).and_then(|c| c.transfer_mut()) else {
            return;
        };
        if transfer.join.is_some() {
            return;
        }
        let replaced = Message::parse_framing(&transfer.refer_request)
            .ok()
            .and_then(|m| header_text(&m, "Refer-To").or_else(|| header_text(&m, "r")))
            .and_then(|v| PlatformReferTo::parse(&v).ok())
            .and_then(|r| r.replaces())
            .and_then(Result::ok)
            .map(|r| r.receiver_view());
        let join = self.next();
        transfer.join = Some(join);
        let customer = transfer.carrier_side();
        let peer_shard = replaced
            .as_ref()
            .map_or(fx.shard, |r| r.owning_shard(fx.shard_count));
        self.kept.insert(
            join,
            KeptJoin {
                call: seq,
                customer,
                peer_shard,
                phase: KeeperPhase::AwaitingMovedLeg,
                moved: None,
            },
        );
        if let Some(replaced) = replaced {
            self.replaced.insert(join, replaced);
        }
        self.start_move(calls, fx, now, join);
    }

    /// The call's transfer attempt is over: a join that never came together is forgotten.
    pub(super) fn on_transfer_settled(&mut self, seq: u64) {
        let stale: Vec<u64> = self
            .kept
            .iter()
            .filter(|(_, k)| k.call == seq && k.phase != KeeperPhase::Joined)
            .map(|(join, _)| *join)
            .collect();
        for join in stale {
            self.kept.remove(&join);
            self.replaced.remove(&join);
        }
    }

    /// A request (not BYE) on a leg whose peer leg here is gone because of a local join: the
    /// customer's leg A1 once joined, or the moved leg A2. `true` = answered here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answered_while_joined(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        seq: u64,
        side: Side,
        method: Method,
        request: &Message,
    ) -> bool {
        let joined_customer = self
            .kept
            .values()
            .any(|k| k.call == seq && k.customer == side && k.phase == KeeperPhase::Joined);
        let moved = self
            .away
            .get(&seq)
            .is_some_and(|a| a.moved == side && a.answered);
        if !joined_customer && !moved {
            return false;
        }
        if matches!(method, Method::Invite | Method::Update) {
            let reason = "Not Acceptable Here (joined by a transfer: session unchanged)";
            fx.reply(
                now,
                tx,
                request,
                StatusCode::NOT_ACCEPTABLE_HERE,
                reason,
                &[],
            );
        } else {
            fx.reply(now, tx, request, StatusCode::OK, "OK", &[]);
        }
        true
    }
}

// The call-level primitives, for a join that names its calls by sequence number.

fn send_bye(calls: &mut Calls, fx: &mut Effects, now: Time, seq: u64, side: Side) {
    if let Some(call) = calls.get_mut(&seq) {
        call.send_bye(fx, now, side);
    }
}

fn end_call(
    calls: &mut Calls,
    fx: &mut Effects,
    now: Time,
    seq: u64,
    reason: EndReason,
    setup_status: Option<StatusCode>,
) {
    if let Some(call) = calls.get_mut(&seq) {
        call.end(fx, now, reason, setup_status);
    }
}

fn send_ack(calls: &mut Calls, fx: &mut Effects, now: Time, seq: u64, side: Side, cseq: u32) {
    if let Some(call) = calls.get_mut(&seq) {
        call.send_ack(fx, now, side, cseq, None);
    }
}

fn build_request(
    calls: &mut Calls,
    fx: &mut Effects,
    seq: u64,
    side: Side,
    method: &str,
    extra: &[(String, String)],
    body: Option<(String, Vec<u8>)>,
) -> Option<(String, Vec<u8>, SocketAddr)> {
    calls
        .get_mut(&seq)?
        .build_request(fx, side, method, extra, body)
}

fn track_client(calls: &mut Calls, fx: &mut Effects, tx: ClientTxId, purpose: ClientPurpose) {
    match calls.get_mut(&purpose.call()) {
        Some(call) => fx.track_client(call, tx, purpose),
        None => {
            fx.client_txs.insert(tx, purpose);
        }
    }
}

/// The address handoff advertises for call `seq`'s media (its own config snapshot).
fn advertise_of(calls: &Calls, fx: &Effects, seq: u64) -> std::net::IpAddr {
    calls
        .get(&seq)
        .map_or(fx.config.sbc.advertise, |call| call.config.sbc.advertise)
}

/// The local join's result (a SIP status: 200 joined, else why not) for call `seq`'s transfer
/// attempt, which the call drives on.
fn join_result(calls: &mut Calls, fx: &mut Effects, now: Time, seq: u64, status: StatusCode) {
    let Some(call) = calls.get_mut(&seq) else {
        return;
    };
    if let Some(transfer) = call.transfer_mut() {
        transfer.attempt.on_local_join_result(now, status);
    }
    call.drive_transfer(fx, now);
}

/// Marks call `seq`'s platform leg gone (its transfer keeps that); whether it was already.
fn take_platform_gone(calls: &mut Calls, seq: u64) -> bool {
    calls
        .get_mut(&seq)
        .and_then(|c| c.transfer_mut())
        .is_none_or(|t| std::mem::replace(&mut t.platform_gone, true))
}
