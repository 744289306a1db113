//! Media failure is a call failure (issue 9, protection 6).
//!
//! The core decides which ports a leg uses; the driver binds them when it acts on
//! `MediaCommand::Open`/`Update`. When it cannot (the port is taken, the descriptor limit is
//! reached), it tells the core with [`ShardCore::handle_media_failure`], and the request that
//! needed the ports fails instead of leaving a call without audio:
//! - a call being set up: the INVITE gets 503 (media unavailable), leg B's INVITE is cancelled,
//!   the call ends (`end_reason = "media_unavailable"`, `setup_status = 503`);
//! - an established call with a re-INVITE awaiting its answer: the re-INVITE gets 500 (RFC 3261
//!   section 14.2: the session stays as it was) and its relayed copy is cancelled;
//! - anything else (a transfer moving a leg to new ports): the call ends with BYEs on both legs.
//!
//! Kept in its own file so the behaviour files stay as they were; it imports state only.

use super::call::CallPhase;
use super::dialog::Side;
use super::shard::{ServerPurpose, ShardCore};
use super::{CallRef, EndReason, Time};
use crate::sip::{self, Message, Method};

const SETUP_STATUS: u16 = 503;
const SETUP_PHRASE: &str = "Service Unavailable (media unavailable)";
const REINVITE_STATUS: u16 = 500;
const REINVITE_PHRASE: &str = "Server Internal Error (media unavailable)";

impl ShardCore {
    /// The driver could not open the media sockets a command of `call` needed. See the module
    /// documentation for what the call's requests get. Unknown or ended calls: nothing.
    pub fn handle_media_failure(&mut self, now: Time, call: CallRef) {
        if call.shard != self.shard {
            return;
        }
        let seq = call.seq;
        let Some(state) = self.calls.get(&seq) else {
            return;
        };
        match state.phase {
            CallPhase::Ended { .. } => {}
            CallPhase::Setup => {
                let (server, client, tag) = (
                    state.invite.server,
                    state.invite.client,
                    state.leg(Side::A).dialog.local_tag.clone(),
                );
                self.answer_server(now, server, SETUP_STATUS, SETUP_PHRASE, Some(&tag));
                if let Some(client) = client {
                    self.txn.cancel(now, client);
                }
                self.end_call(now, seq, EndReason::MediaUnavailable, Some(SETUP_STATUS));
            }
            CallPhase::Up => {
                let pending: Vec<_> = self
                    .server_txs
                    .iter()
                    .filter_map(|(tx, purpose)| match purpose {
                        ServerPurpose::Relayed { call, client, .. } if *call == seq => {
                            Some((*tx, *client))
                        }
                        _ => None,
                    })
                    .collect();
                let mut refused = false;
                for (server, client) in pending {
                    let is_invite = self
                        .txn
                        .server_request(server)
                        .and_then(|r| Message::parse_framing(r).ok().and_then(|m| m.method()))
                        == Some(Method::Invite);
                    if is_invite
                        && self.answer_server(now, server, REINVITE_STATUS, REINVITE_PHRASE, None)
                    {
                        self.txn.cancel(now, client);
                        refused = true;
                    }
                }
                if !refused {
                    self.hang_up(now, seq, EndReason::MediaUnavailable, SETUP_STATUS);
                }
            }
        }
        self.pump_transactions();
    }

    /// Sends a final response on a server transaction still awaiting one; false if it was
    /// answered already (or is gone).
    fn answer_server(
        &mut self,
        now: Time,
        tx: super::transaction::ServerTxId,
        status: u16,
        phrase: &str,
        tag: Option<&str>,
    ) -> bool {
        let Some(request) = self.txn.server_request(tx).map(<[u8]>::to_vec) else {
            return false;
        };
        let Ok(message) = Message::parse_framing(&request) else {
            return false;
        };
        let mut builder = sip::response_to(&message, status, phrase);
        if message.to().ok().and_then(|to| to.tag()).is_none() {
            let tag = match tag {
                Some(tag) => tag.to_owned(),
                None => self.ids.tag(),
            };
            builder = builder.to_tag(&tag);
        }
        match builder.build() {
            Ok(bytes) => self.txn.respond(now, tx, status, bytes).is_ok(),
            Err(_) => false,
        }
    }
}
