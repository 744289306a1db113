//! Media failure is a call failure (issue 9, protection 6).
//!
//! The core decides which ports a leg uses; the driver binds them when it acts on
//! `MediaCommand::Open`/`Update`. When it cannot (the port is taken, the descriptor limit is
//! reached), it tells the core with `ShardCore::handle_media_failure`, and the request that
//! needed the ports fails instead of leaving a call without audio:
//! - a call being set up: the INVITE gets 503 (media unavailable), leg B's INVITE is cancelled,
//!   the call ends (`end_reason = "media_unavailable"`, `setup_status = 503`);
//! - an established call with a re-INVITE awaiting its answer: the re-INVITE gets 500 (RFC 3261
//!   section 14.2: the session stays as it was) and its relayed copy is cancelled;
//! - anything else (a transfer moving a leg to new ports): the call ends with BYEs on both legs.
//!
//! The call's behaviour; the shard's entry point finds the call and runs it.

use super::call::{Call, CallPhase};
use super::dialog::Side;
use super::effects::{Effects, ServerPurpose};
use super::{EndReason, Time};
use crate::sip::{Message, Method};
use crate::vocab::StatusCode;

const SETUP_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;
const SETUP_PHRASE: &str = "Service Unavailable (media unavailable)";
const REINVITE_STATUS: StatusCode = StatusCode::SERVER_INTERNAL_ERROR;
const REINVITE_PHRASE: &str = "Server Internal Error (media unavailable)";

impl Call {
    /// The driver could not open the media sockets a command of this call needed. See the
    /// module documentation for what the call's requests get. An ended call: nothing.
    pub(super) fn on_media_failure(&mut self, fx: &mut Effects, now: Time) {
        let seq = self.id.seq;
        let state = &*self;
        match state.phase {
            CallPhase::Ended { .. } => {}
            CallPhase::Setup => {
                let (server, client, tag) = (
                    state.invite.server,
                    state.invite.client,
                    state.leg(Side::A).dialog.local_tag.clone(),
                );
                fx.answer_server(now, server, SETUP_STATUS, SETUP_PHRASE, Some(&tag));
                if let Some(client) = client {
                    fx.txn.cancel(now, client);
                }
                self.end(fx, now, EndReason::MediaUnavailable, Some(SETUP_STATUS));
            }
            CallPhase::Up | CallPhase::Transferring(_) => {
                let pending: Vec<_> = fx
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
                    let is_invite = fx
                        .txn
                        .server_request(server)
                        .and_then(|r| Message::parse_framing(r).ok().and_then(|m| m.method()))
                        == Some(Method::Invite);
                    if is_invite
                        && fx.answer_server(now, server, REINVITE_STATUS, REINVITE_PHRASE, None)
                    {
                        fx.txn.cancel(now, client);
                        refused = true;
                    }
                }
                if !refused {
                    self.hang_up(fx, now, EndReason::MediaUnavailable, SETUP_STATUS);
                }
            }
        }
    }
}
