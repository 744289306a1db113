//! REFER outside any dialog (RFC 5589 section 6.1, RFC 7647 section 4): a phone or the platform
//! sends REFER in a new dialog and names the call it transfers in `Target-Dialog` (RFC 4538),
//! usually with `Require: tdialog`. handoff advertises `Supported: tdialog`, so it must take it.
//!
//! - **Which call.** The Target-Dialog is read from the recipient's (handoff's) point of view,
//!   RFC 4538 section 3: `local-tag` is handoff's tag on the named leg, `remote-tag` the peer's.
//!   The datagram already reached the shard that minted that tag (`owner_of_datagram` routes
//!   an out-of-dialog REFER by its Target-Dialog's local-tag), so the leg is looked up here.
//! - **Who may ask.** Only for a bridged platform-role leg, whose Call-ID and both tags match
//!   (section 4), and only from that leg's bound peer (its trunk's sources when the leg was
//!   made): another trunk that learnt or guessed the identifiers cannot transfer someone else's
//!   call. Anything else gets the same 403 (section 3: an unauthorised request is refused with
//!   403; one answer for "no such dialog" and "not yours", so the answer is no oracle).
//!   Strangers never get here (dispatch drops them first).
//! - **Then exactly like the in-dialog REFER** (`Call::transfer_takes_request`, attended.rs for
//!   a Replaces, `Call::accept_platform_refer`), except for the dialog it creates: handoff is
//!   its UAS (RFC 3261 section 12.1.1, `uas_dialog`), the 2xx carries its tag and a Contact,
//!   and every NOTIFY goes in it (RFC 3515 section 2.4.4: the REFER's subscription lives in the
//!   dialog the REFER established; RFC 6665 section 4.2.2) — not in the platform leg's dialog.

use std::net::SocketAddr;

use super::ShardCore;
use crate::config::TrunkRole;
use crate::core::Time;
use crate::core::attended::header_text;
use crate::core::attended_state::Resume;
use crate::core::b2bua::{Refusal, uas_dialog};
use crate::core::dialog::Side;
use crate::core::transaction::ServerTxId;
use crate::core::transfer_state::{TransferVerdict, TranslatedDialogs};
use crate::sip::{Message, Method};
use crate::transfer::dialog_ids::{DialogId, TargetDialog};
use crate::vocab::StatusCode;

impl ShardCore {
    /// A REFER without a To tag from `from`, a trunk's source (see the module docs).
    pub(in crate::core) fn on_out_of_dialog_refer(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
    ) {
        let Some(value) = header_text(request, "Target-Dialog") else {
            // Nothing names a call: there is no dialog for this REFER to act on.
            let status = StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST;
            self.fx
                .reply(now, tx, request, status, status.reason_phrase(), &[]);
            return;
        };
        let named = match TargetDialog::parse(&value) {
            Ok(target) => target.receiver_view(),
            Err(error) => {
                let refusal = Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("Bad Request (Target-Dialog: {error})"),
                );
                self.reject(now, tx, from, request, refusal);
                return;
            }
        };
        let forbidden = || {
            Refusal::new(
                StatusCode::FORBIDDEN,
                "Forbidden (Target-Dialog names no call this source may transfer)",
            )
        };
        let Some((seq, side)) = self.referable_leg(from, &named) else {
            self.reject(now, tx, from, request, forbidden());
            return;
        };
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let verdict =
            call.transfer_takes_request(&mut self.fx, now, tx, side, Method::Refer, request);
        let refer_to = match verdict {
            TransferVerdict::PlatformRefer(refer_to) => refer_to,
            TransferVerdict::Answered => {
                self.run_follow_ups(now);
                return;
            }
            // Not answered yet: nothing to transfer.
            TransferVerdict::NotTransfer => {
                self.reject(now, tx, from, request, forbidden());
                return;
            }
        };
        // The dialog this REFER creates, handoff its UAS (RFC 3261 section 12.1.1).
        let (Some(remote_tag), Ok(call_id), Ok(cseq)) = (
            request
                .from()
                .ok()
                .and_then(|f| f.tag().map(str::to_string)),
            request.call_id(),
            request.cseq(),
        ) else {
            let refusal = Refusal::new(StatusCode::BAD_REQUEST, "Bad Request (no From tag)");
            self.reject(now, tx, from, request, refusal);
            return;
        };
        let local_tag = self.fx.ids.tag();
        let subscription = Box::new(uas_dialog(
            request,
            from,
            call_id.to_string(),
            &local_tag,
            remote_tag,
            cseq.seq,
        ));
        let translated = if refer_to.is_attended() {
            let resume = Resume::OutOfDialogRefer { from };
            match self.attended_refer(now, tx, seq, side, request, resume, Some(subscription)) {
                Some(dialogs) => dialogs,
                None => return,
            }
        } else {
            TranslatedDialogs {
                replaces: None,
                subscription: Some(subscription),
            }
        };
        if let Some(call) = self.calls.get_mut(&seq) {
            call.accept_platform_refer(&mut self.fx, now, tx, side, request, refer_to, translated);
        }
        self.run_follow_ups(now);
    }

    /// The bridged platform-role leg `named` identifies (handoff's view: Call-ID, handoff's tag,
    /// the peer's tag, all matching), when `from` is that leg's bound peer.
    fn referable_leg(&self, from: SocketAddr, named: &DialogId) -> Option<(u64, Side)> {
        let (seq, side) = self.fx.dialog_position(&self.calls, &named.local_tag)?;
        let call = self.calls.get(&seq).filter(|call| !call.is_ended())?;
        let leg = call.leg(side);
        let names_it = leg.dialog.call_id == named.call_id
            && leg.dialog.remote_tag.as_deref() == Some(named.remote_tag.as_str());
        let may_speak = leg.role == TrunkRole::Platform && !leg.gone && leg.bound.contains(from);
        (names_it && may_speak).then_some((seq, side))
    }
}
