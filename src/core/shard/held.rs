//! Requests held for other shards: a Replaces or Target-Dialog naming a dialog another shard
//! owns is asked about ([`ShardMessage::DialogQuery`]), the request waits (its server
//! transaction absorbs retransmissions), and it goes through dispatch again with the answers, or
//! unchanged when they do not come in time. See attended.rs for the translation rules.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::ShardCore;
use crate::core::attended::{bridged_leg, header_text, translate};
use crate::core::attended_state::{
    DIALOG_QUERY_TIMEOUT_MS, DialogRewrites, HeldRequest, MAX_HELD_REQUESTS, Resume,
};
use crate::core::dialog::Dialog;
use crate::core::effects::CoreTimer;
use crate::core::transaction::ServerTxId;
use crate::core::transfer_state::TranslatedDialogs;
use crate::core::{Output, ShardId, ShardMessage, Time};
use crate::sip::Message;
use crate::transfer::PlatformReferTo;
use crate::transfer::dialog_ids::DialogId;
use crate::vocab::Side;

impl ShardCore {
    /// The translated dialog identifiers of `request`, or `None` when the request is held for
    /// other shards' answers (it re-enters through `resume` later).
    pub(in crate::core) fn dialog_rewrites(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        resume: Resume,
    ) -> Option<DialogRewrites> {
        let answers = self.attended.resuming.take();
        let (rewrites, remote) = translate(&self.calls, &self.fx, request, answers.as_ref());
        if remote.is_empty() {
            return Some(DialogRewrites(rewrites));
        }
        if self.attended.held.len() >= MAX_HELD_REQUESTS {
            // Bounded: no more state for network input; the request goes on as after a timeout.
            self.attended.query_timeouts += 1;
            return Some(DialogRewrites(rewrites));
        }
        let hold = self.attended.next();
        for (owner, dialog) in &remote {
            let query = self.attended.next();
            self.attended.queries.insert(query, (hold, dialog.clone()));
            self.attended.queries_sent += 1;
            self.fx.outputs.push_back(Output::ToShard {
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
        self.fx.set_timer(
            now.plus_millis(DIALOG_QUERY_TIMEOUT_MS),
            CoreTimer::DialogQueryTimeout { hold },
        );
        None
    }
    /// Another shard asks which leg is bridged to one of ours.
    pub(in crate::core) fn on_dialog_query(
        &mut self,
        asker: ShardId,
        query: u64,
        dialog: DialogId,
    ) {
        let bridged = bridged_leg(&self.calls, &self.fx, &dialog).map(Box::new);
        self.fx.outputs.push_back(Output::ToShard {
            shard: asker,
            message: ShardMessage::DialogAnswer {
                query,
                dialog,
                bridged,
            },
        });
    }
    pub(in crate::core) fn on_dialog_answer(
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
    pub(in crate::core) fn on_dialog_query_timeout(&mut self, now: Time, hold: u64) {
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
            Resume::OutOfDialogRefer { from } => {
                self.on_out_of_dialog_refer(now, from, held.tx, &request)
            }
            Resume::InitialInvite { trunk, config } => {
                self.on_initial_invite(now, held.from, (trunk, config), held.tx, &request)
            }
        }
        self.attended.resuming = None;
    }

    /// The platform's attended REFER (Refer-To with `?Replaces`) on leg `side` of call `seq`,
    /// for the REFER entry point (transfer_flow.rs). `Some(dialogs)`: transfer by REFER with
    /// this %-escaped Replaces, translated to name the carrier's dialog (unchanged when it names
    /// no dialog handoff bridges). `None`: taken here (a local join for a trunk with
    /// `transfer = "local"`), or held until another shard answers (it comes back through
    /// `resume`). `subscription`: the dialog an out-of-dialog REFER creates (RFC 5589 section
    /// 6.1), carried into the transfer either way. The platform's own Target-Dialog is never
    /// sent on: handoff writes the carrier's (transfer_flow.rs, `begin_attempt`).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::core) fn attended_refer(
        &mut self,
        now: Time,
        tx: ServerTxId,
        seq: u64,
        side: Side,
        request: &Message,
        resume: Resume,
        mut subscription: Option<Box<Dialog>>,
    ) -> Option<TranslatedDialogs> {
        let taken = self.attended.on_attended_refer(
            &mut self.calls,
            &mut self.fx,
            now,
            seq,
            side,
            tx,
            request,
            &mut subscription,
        );
        self.run_follow_ups(now);
        if taken {
            return None;
        }
        let peer = self.calls.get(&seq)?.leg(side).dialog.peer;
        let rewrites = self.dialog_rewrites(now, peer, tx, request, resume)?;
        let refer_to = header_text(request, "Refer-To").or_else(|| header_text(request, "r"))?;
        let refer_to = rewrites
            .0
            .iter()
            .find(|r| r.original == refer_to)
            .map_or(refer_to.clone(), |r| r.rewritten.clone());
        let replaces = PlatformReferTo::parse(&refer_to)
            .ok()?
            .replaces_escaped()
            .map(str::to_string);
        Some(TranslatedDialogs {
            replaces,
            subscription,
        })
    }
}
