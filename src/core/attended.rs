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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::shard::{CoreTimer, ShardCore};
use super::transaction::ServerTxId;
use super::{Output, ShardId, ShardMessage, Time};
use crate::sip::Message;
use crate::transfer::PlatformReferTo;
use crate::transfer::dialog_ids::{DialogId, DialogIdForm, named_dialog, rewrite_for};

/// How long a request waits for another shard's answer before it goes on unchanged. Shard
/// messages are in-process queues: an answer normally takes microseconds.
pub const DIALOG_QUERY_TIMEOUT_MS: u64 = 500;

/// One header whose dialog identifier was translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DialogRewrite {
    /// The header's name as received (`Refer-To`, `r`, `Replaces`, `Target-Dialog`).
    pub name: String,
    /// The whole value as received.
    pub original: String,
    /// The whole value for the other side.
    pub rewritten: String,
}

/// The translated headers of one request (empty = nothing to translate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DialogRewrites(pub Vec<DialogRewrite>);

impl DialogRewrites {
    /// The value to send on the other side for header `name` received with `value`.
    pub fn apply<'v>(&self, name: &str, value: &'v str) -> Cow<'v, str> {
        self.0
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name) && r.original == value)
            .map_or(Cow::Borrowed(value), |r| Cow::Owned(r.rewritten.clone()))
    }
}

/// Where a held request re-enters the B2BUA once its answers are in.
#[derive(Clone, Debug)]
pub(super) enum Resume {
    InDialog { to_tag: String },
    InitialInvite { trunk: usize },
}

/// A request waiting for other shards' answers.
#[derive(Debug)]
struct HeldRequest {
    from: SocketAddr,
    tx: ServerTxId,
    bytes: Vec<u8>,
    resume: Resume,
    waiting: usize,
    answers: HashMap<DialogId, Option<DialogId>>,
}

/// Per-shard state of the cross-shard translation.
#[derive(Debug, Default)]
pub(super) struct AttendedState {
    held: BTreeMap<u64, HeldRequest>,
    /// Our open queries: query id -> (held request, dialog asked about).
    queries: HashMap<u64, (u64, DialogId)>,
    next_id: u64,
    /// The answers of the request being resumed right now (taken by `dialog_rewrites`).
    resuming: Option<HashMap<DialogId, Option<DialogId>>>,
    /// Counters for tests: queries sent, held requests that timed out.
    pub queries_sent: u64,
    pub query_timeouts: u64,
}

impl AttendedState {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }
}

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
        let &(seq, side) = self.dialogs.get(&named.local_tag)?;
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
            Resume::InitialInvite { trunk } => {
                self.on_initial_invite(now, held.from, trunk, held.tx, &request)
            }
        }
        self.attended.resuming = None;
    }
}
