//! Digest authentication toward trunks (RFC 3261 section 22, RFC 8760): a 401/407 to any
//! request handoff sent to a trunk that has `auth` is answered once, with a new request.
//!
//! RFC 3261 section 22.2: "When a UAC resubmits a request with its credentials after receiving a
//! 401 (Unauthorized) or 407 (Proxy Authentication Required) response, it MUST increment the
//! CSeq header field value as it would normally when sending an updated request." Section 8.1.3.5
//! : the new request keeps the Call-ID, To and From (tags included) and gets a new branch: it is
//! a new client transaction. The ACK of a challenged INVITE is the INVITE client transaction's
//! own (section 17.1.1.3, sent by the transaction layer); ACK and CANCEL are never resubmitted
//! (section 22.1: they cannot be challenged in a way the UAC can answer).
//!
//! A challenge to a request that already carried our answer is a failure: the 401/407 goes on to
//! the request's purpose like any refusal (a transfer REFER: refusal, fallback; leg B's INVITE:
//! the caller is refused).

use super::ShardCore;
use crate::core::Time;
use crate::core::effects::{ClientPurpose, ServerPurpose};
use crate::core::transaction::ClientTxId;
use crate::sip::{self, Message, Method, digest};
use crate::vocab::StatusCode;

impl ShardCore {
    /// `response` (401 or 407) is the final answer of client transaction `tx`; true when
    /// handoff answered the challenge with a new request that now stands for `tx`'s purpose
    /// (the caller then forgets `tx` without telling the purpose).
    pub(in crate::core) fn answer_challenge(
        &mut self,
        now: Time,
        tx: ClientTxId,
        status: StatusCode,
        response: &Message,
    ) -> bool {
        let proxy = match status.as_u16() {
            401 => false,
            407 => true,
            _ => return false,
        };
        if self.fx.auth_retries.remove(&tx) {
            // Our credentials were refused (RFC 3261 section 22.2: a second challenge means
            // they are wrong, or the nonce went stale too often): not answered again.
            self.fx.stats.auth_challenges_failed += 1;
            return false;
        }
        let Some(purpose) = self.fx.client_txs.get(&tx).copied() else {
            return false;
        };
        match self.resubmit(now, tx, proxy, purpose, response) {
            Some(new) => {
                self.fx.stats.auth_challenges_answered += 1;
                self.fx.auth_retries.insert(new);
                self.fx.client_txs.remove(&tx);
                self.fx.client_txs.insert(new, purpose);
                true
            }
            None => {
                self.fx.stats.auth_challenges_failed += 1;
                false
            }
        }
    }

    /// The challenged request again, with credentials, CSeq + 1 and a new branch: the new
    /// client transaction. `None` when it cannot be answered (no call, no `auth` on the
    /// trunk the request went to, no usable challenge, ACK/CANCEL).
    fn resubmit(
        &mut self,
        now: Time,
        tx: ClientTxId,
        proxy: bool,
        purpose: ClientPurpose,
        response: &Message,
    ) -> Option<ClientTxId> {
        let seq = purpose.call();
        let call = self.calls.get_mut(&seq)?;
        let peer = self.fx.txn.client_peer(tx)?;
        let bytes = self.fx.txn.client_request(tx)?.to_vec();
        let request = Message::parse_framing(&bytes).ok()?;
        let method = request.method()?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return None;
        }
        // A call that ended (the caller cancelled, the call was torn down) asks nothing more of
        // the trunk but its BYEs; an abandoned leg C is not dialled again either.
        if call.is_ended() && method != Method::Bye {
            return None;
        }
        if call
            .transfer()
            .and_then(|transfer| transfer.fallback.as_ref())
            .is_some_and(|fallback| fallback.client == tx && fallback.abandoned)
        {
            return None;
        }
        // The trunk the request went to, in the call's own configuration.
        let config = call.config.clone();
        let auth = config
            .trunks
            .iter()
            .find(|trunk| trunk.peer == peer)?
            .auth
            .as_ref()?;
        let (challenge_header, credentials_header) = if proxy {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let values: Vec<String> = response
            .headers()
            .filter(|h| h.name.eq_ignore_ascii_case(challenge_header))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect();
        let challenge = digest::choose(values.iter().map(String::as_str), auth.realm.as_deref())?;
        let cseq = request.cseq().ok()?;
        let next = cseq.seq.checked_add(1)?;
        let uri = first_line_uri(&bytes)?;
        let cnonce = format!(
            "{:016x}{:016x}",
            self.fx.rng.next_u64(),
            self.fx.rng.next_u64()
        );
        let value = digest::credentials(
            &challenge,
            &digest::Answer {
                username: &auth.username,
                password: &auth.password,
                method: method.as_str(),
                uri,
                cnonce: &cnonce,
                nc: 1,
            },
        );
        let branch = self.fx.ids.branch();
        let via = crate::core::effects::via(&config, &branch);
        let cseq_value = format!("{next} {}", method.as_str());
        let mut edit = sip::MessageEdit::new(&request);
        edit.remove_header(sip::HeaderName::Via);
        edit.remove_header(sip::HeaderName::CSeq);
        edit.remove_header_named("Authorization");
        edit.remove_header_named("Proxy-Authorization");
        edit.prepend_header("Via", via.as_bytes()).ok()?;
        edit.add_header("CSeq", cseq_value.as_bytes()).ok()?;
        edit.add_header(credentials_header, value.as_bytes()).ok()?;
        let resubmitted = edit.serialize();
        let new = self
            .fx
            .txn
            .send_request(now, peer, method, &branch, resubmitted)
            .ok()?;
        self.fx.pump_transactions();
        // The request's dialog (if it has one of ours) moves its CSeq on.
        let call_id = request.call_id().ok()?;
        let from_tag = request.from().ok().and_then(|f| f.tag().map(str::to_owned));
        for leg in &mut call.legs {
            if leg.dialog.call_id == call_id
                && from_tag.as_deref() == Some(leg.dialog.local_tag.as_str())
                && leg.dialog.local_cseq < next
            {
                leg.dialog.local_cseq = next;
            }
        }
        // The dialog an out-of-dialog REFER's 202 created (its NOTIFYs) moves on the same way.
        if let Some(dialog) = call
            .transfer_mut()
            .and_then(|transfer| transfer.subscription.as_deref_mut())
            && dialog.call_id == call_id
            && from_tag.as_deref() == Some(dialog.local_tag.as_str())
            && dialog.local_cseq < next
        {
            dialog.local_cseq = next;
        }
        // The carrier's NOTIFYs name the REFER that made their subscription by its CSeq
        // (RFC 3515 section 2.4.6, `Event: refer;id=`): the accepted one is the new request.
        if method == Method::Refer
            && let Some(transfer) = call.transfer_mut()
            && let Some((refer_cseq, first)) = transfer.carrier_refer
            && refer_cseq == cseq.seq
        {
            transfer.carrier_refer = Some((next, first));
        }
        // What named the old transaction names the new one: CANCEL of a ringing INVITE.
        if call.invite.client == Some(tx) {
            call.invite.client = Some(new);
        }
        if let Some(fallback) = call
            .transfer_mut()
            .and_then(|transfer| transfer.fallback.as_mut())
            && fallback.client == tx
        {
            fallback.client = new;
        }
        // A relayed request's server transaction names its client transaction (a CANCEL of
        // the relayed re-INVITE goes to it).
        for purpose in self.fx.server_txs.values_mut() {
            if let ServerPurpose::Relayed { client, .. } = purpose
                && *client == tx
            {
                *client = new;
            }
        }
        call.client_txs.retain(|t| *t != tx);
        call.client_txs.push(new);
        Some(new)
    }
}

/// The Request-URI of a request as sent (the digest-uri, RFC 3261 section 22.4).
fn first_line_uri(bytes: &[u8]) -> Option<&str> {
    let line = bytes.split(|&b| b == b'\r' || b == b'\n').next()?;
    std::str::from_utf8(line).ok()?.split(' ').nth(1)
}
