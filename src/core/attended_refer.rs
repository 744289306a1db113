//! Attended REFERs toward a trunk with `transfer = "refer"`: once attended.rs has translated the
//! `?Replaces=` (possibly by asking another shard), the REFER is handed to the blind transfer
//! machinery (transfer_flow.rs) with the translated Replaces, so it gets the same carrier
//! Refer-To, 202-after-carrier, NOTIFY relaying, handoff on the carrier's BYE, and its
//! `transfer` audit record (kind "attended", method "refer").
//!
//! A failed REFER with `on_refer_failure = "local"` asks for a local join, which transfer_flow
//! refuses (501): the platform is told and the customer stays with it.

use super::Time;
use super::attended::DialogRewrites;
use super::call::CallState;
use super::dialog::Side;
use super::shard::ShardCore;
use super::transaction::ServerTxId;
use super::transfer_flow::TranslatedDialogs;
use crate::config::TransferMethod;
use crate::sip::{Message, Method};
use crate::transfer::PlatformReferTo;

impl ShardCore {
    /// `true` when it took the REFER (and will answer it).
    pub(super) fn attended_refer_handoff(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        tx: ServerTxId,
        request: &Message,
        rewrites: &DialogRewrites,
    ) -> bool {
        if request.method() != Some(Method::Refer) || side != Side::B {
            return false;
        }
        let Some(call) = self.calls.get_mut(&seq) else {
            return false;
        };
        let refer_mode = call
            .config
            .trunks
            .get(call.a.trunk)
            .is_some_and(|t| t.transfer == TransferMethod::Refer);
        let busy = call.transfer.as_ref().is_some_and(|t| t.is_active());
        if !refer_mode || busy || call.is_ended() || call.state != CallState::Established {
            return false;
        }
        let Some(replaces) = rewrites
            .0
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case("refer-to") || r.name.eq_ignore_ascii_case("r"))
            .and_then(|r| PlatformReferTo::parse(&r.rewritten).ok())
            .and_then(|r| r.replaces_escaped().map(str::to_string))
        else {
            // Not attended, or naming a dialog handoff does not bridge: relayed as it is.
            return false;
        };
        let Some(refer_to) = request
            .headers()
            .find(|h| h.name.eq_ignore_ascii_case("refer-to") || h.name.eq_ignore_ascii_case("r"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| PlatformReferTo::parse(v.trim()).ok())
        else {
            return false;
        };
        let target_dialog = rewrites
            .0
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case("target-dialog"))
            .map(|r| r.rewritten.clone())
            .or_else(|| {
                request
                    .headers()
                    .find(|h| h.name.eq_ignore_ascii_case("target-dialog"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(|v| v.trim().to_string())
            });
        // The B2BUA checked the CSeq before translating.
        let translated = TranslatedDialogs {
            replaces: Some(replaces),
            target_dialog,
        };
        self.start_transfer(now, tx, seq, request, refer_to, translated);
        true
    }
}
