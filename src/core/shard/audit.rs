//! Audit records of requests that never became a transfer attempt (issue 10, "Audit"): a
//! REFER handoff refused itself, and an INVITE with Replaces, taken or refused. Also the
//! glare timer's entry point (`retry_reinvite`, see core/glare.rs).
//!
//! The transfer code writes the records of the REFERs it takes (an attempt, a hook's refusal,
//! a carrier's REFER refused or relayed). Every other failure answer to a REFER goes through
//! `Effects::respond`, which queues it (`Effects::refused_refers`); the shard, which knows the
//! calls, writes its record here before its outputs are drained. A request from a source that
//! is no trunk gets no record (strangers get silence, and must not fill the audit).

use std::net::SocketAddr;

use crate::config::{TransferMethod, TrunkRole};
use crate::core::call::{Call, ReinviteOrigin};
use crate::core::dialog::Side;
use crate::core::effects::RefusedRefer;
use crate::core::routing;
use crate::core::{Event, Time};
use crate::transfer::{
    TransferKind, TransferOutcome, TransferReason, TransferRecord, TransferRequestKind,
};
use crate::vocab::StatusCode;

use super::ShardCore;

/// Blind or attended, by whether the Refer-To carries a Replaces (RFC 3891 section 5).
fn kind_of(target: &str) -> TransferKind {
    if target.to_ascii_lowercase().contains("replaces=") {
        TransferKind::Attended
    } else {
        TransferKind::Blind
    }
}

/// The requester's and the carrier's trunk names, the record's kind and method, for a request
/// on `call` whose dialog has Call-ID `call_id`.
struct Parties {
    conversation: String,
    carrier_trunk: String,
    requester_trunk: String,
    kind: TransferKind,
    method: TransferMethod,
}

fn parties(call: &Call, call_id: &str, target: &str) -> Option<Parties> {
    let trunk_name = |index: usize| {
        call.config
            .trunks
            .get(index)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let (index, requester) = call
        .legs
        .iter()
        .enumerate()
        .find(|(_, leg)| leg.dialog.call_id == call_id)?;
    let position = call.position_of(crate::vocab::LegId(u16::try_from(index).ok()?));
    let bridged = position.map(|side: Side| call.leg(side.other()));
    let (kind, carrier) = if requester.role == TrunkRole::Carrier {
        (TransferKind::CarrierInitiated, requester)
    } else {
        (kind_of(target), bridged.unwrap_or(requester))
    };
    let method = match kind {
        TransferKind::CarrierInitiated => TransferMethod::Refer,
        _ => call
            .config
            .trunks
            .get(carrier.trunk)
            .map_or(TransferMethod::Refer, |t| t.transfer),
    };
    Some(Parties {
        conversation: call.conversation.clone(),
        carrier_trunk: trunk_name(carrier.trunk),
        requester_trunk: trunk_name(requester.trunk),
        kind,
        method,
    })
}

impl ShardCore {
    /// Writes a `refused` record for every REFER handoff answered with a failure of its own
    /// since the last call (see the module docs).
    pub(in crate::core) fn audit_refused_requests(&mut self) {
        if self.fx.refused_refers.is_empty() {
            return;
        }
        for refused in std::mem::take(&mut self.fx.refused_refers) {
            let Some(record) = self.refused_record(&refused) else {
                continue;
            };
            self.fx.metrics.record_transfer(&record);
            self.fx.event(Event::Transfer(Box::new(record)));
        }
    }

    fn refused_record(&self, refused: &RefusedRefer) -> Option<TransferRecord> {
        let call = self
            .fx
            .call_ids
            .get(&refused.call_id)
            .and_then(|seq| self.calls.get(seq));
        let found = call.and_then(|call| parties(call, &refused.call_id, &refused.target));
        let parties = match found {
            Some(parties) => parties,
            None => {
                // No call of ours: only a trunk's request is on record.
                let source = refused.source?;
                let trunk = self
                    .fx
                    .config
                    .trunks
                    .get(routing::source_trunk(&self.fx.config, source).ok()?)?;
                Parties {
                    conversation: String::new(),
                    carrier_trunk: trunk.name.clone(),
                    requester_trunk: trunk.name.clone(),
                    kind: if trunk.role == TrunkRole::Carrier {
                        TransferKind::CarrierInitiated
                    } else {
                        kind_of(&refused.target)
                    },
                    method: TransferMethod::Refer,
                }
            }
        };
        let mut record = TransferRecord::immediate(
            self.fx.wall_clock.rfc3339_at(refused.at),
            parties.conversation,
            parties.carrier_trunk,
            refused.source,
            parties.kind,
            parties.method,
            refused.target.clone(),
            TransferOutcome::Refused,
            TransferReason::RequestRefused,
        );
        record.requester_trunk = Some(parties.requester_trunk);
        record.answer_status = Some(refused.status);
        record.request = refused
            .out_of_dialog
            .then_some(TransferRequestKind::OutOfDialogRefer);
        Some(record)
    }

    /// The record of an INVITE with Replaces from `from` (RFC 3891 section 3): `replaced` when
    /// it took leg `seq`'s place, else `refused` with handoff's `status`.
    pub(in crate::core) fn audit_replaces(
        &mut self,
        now: Time,
        from: SocketAddr,
        replaces: &str,
        taken: Option<u64>,
        status: Option<StatusCode>,
    ) {
        let trunk_of_source = routing::source_trunk(&self.fx.config, from)
            .ok()
            .and_then(|index| self.fx.config.trunks.get(index))
            .map(|t| t.name.clone());
        let Some(requester_trunk) = trunk_of_source else {
            return;
        };
        let call = taken.and_then(|seq| self.calls.get(&seq));
        let (conversation, trunk) = match call {
            Some(call) => {
                let carrier = [Side::A, Side::B]
                    .into_iter()
                    .find(|side| call.leg(*side).role == TrunkRole::Carrier)
                    .unwrap_or(Side::A);
                (call.conversation.clone(), call.trunk_name(carrier))
            }
            None => (String::new(), requester_trunk.clone()),
        };
        let (outcome, reason) = match status {
            None => (TransferOutcome::Replaced, TransferReason::LegReplaced),
            Some(_) => (TransferOutcome::Refused, TransferReason::RequestRefused),
        };
        let mut record = TransferRecord::immediate(
            self.fx.wall_clock.rfc3339_at(now),
            conversation,
            trunk,
            Some(from),
            TransferKind::Attended,
            TransferMethod::Local,
            replaces.to_string(),
            outcome,
            reason,
        );
        record.requester_trunk = Some(requester_trunk);
        record.request = Some(TransferRequestKind::InviteReplaces);
        record.answer_status = status;
        self.fx.metrics.record_transfer(&record);
        self.fx.event(Event::Transfer(Box::new(record)));
    }

    /// Glare (RFC 3261 section 14.1): handoff's re-INVITE that got 491 goes again, unless the
    /// call ended or another INVITE transaction still runs (glare.rs).
    pub(in crate::core) fn retry_reinvite(&mut self, now: Time, seq: u64) {
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        match call.due_reinvite_retry(&mut self.fx, now) {
            None => {}
            Some(ReinviteOrigin::Customer) => {
                self.with_call(now, seq, |call, fx| call.reinvite_customer(fx, now));
            }
            Some(ReinviteOrigin::Attended(step, media)) => {
                self.attended.retry_g711_reinvite(
                    &mut self.calls,
                    &mut self.fx,
                    now,
                    seq,
                    step,
                    media,
                );
                self.run_follow_ups(now);
            }
        }
    }
}
