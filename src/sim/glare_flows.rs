//! Issue 10 items 6 and 7 and its audit point, as simulated flows (swept by
//! tests/sim_glare_seed_sweep.rs, run on a clean link by tests/sim_glare_clean_link.rs):
//!
//! - **Glare** (RFC 3261 section 14.1): the customer's G.711 re-INVITE that handoff sends after
//!   a local transfer bridged a PCMA partner to a G.729 call meets 491 and is sent again after
//!   the RFC's random wait, at most three times; a permanent failure is in the `call_end`
//!   record (`reinvite_failed`). While its own re-INVITE is pending, handoff answers the
//!   customer's re-INVITE 491 (section 14.2).
//! - **Ringback in a negotiated codec** (RFC 3264 section 5.1): local ringback goes out only in
//!   a G.711 payload type the customer's leg negotiated (its number as the SDP bound it); without
//!   one none is sent, `handoff_ringback_skipped_total` counts it and the record says so.
//! - **Audit**: a record for every REFER handoff receives (refused ones, out of dialog, a
//!   carrier's) and for every INVITE with Replaces, each naming the requester's trunk and
//!   source address.
//!
//! Cast and config as in [`super::transfer_flows`]: the carrier (leg A) calls the platform
//! (leg B); a platform REFER to [`TARGET`] that the carrier refuses is completed locally with
//! the partner (PCMA only).

use std::sync::Arc;

use super::scenarios::{FlowResult, PLATFORM_NUMBER, STEP_MS, establish, platform_takes_invite};
use super::transfer_flows::{
    PLATFORM_IDENTITY, PLATFORM_REFER_TO, PLATFORM_REFERRED_BY, TARGET, Transfer, carrier_config,
    carrier_hangs_up, carrier_notifies, carrier_takes_refer, partner_answers,
    platform_refer_answered,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, RequestId, Sim, sdp_with};
use crate::config::{Config, ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod};
use crate::core::{MediaCommand, MediaSide};
use crate::media::g711::G711Law;
use crate::transfer::{TransferKind, TransferOutcome, TransferRecord, TransferRequestKind};
use crate::vocab::StatusCode;

/// The carrier and platform trunks allow G.729 before G.711 (as [`super::transfer_flows::g729_config`]),
/// `ringback = "local"`: a call can run on G.729 alone, or on G.729 with PCMU.
pub fn g729_config() -> Arc<Config> {
    let base = carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
        RingbackTone::Us,
    );
    let mut config = (*base).clone();
    config.trunks[0].codecs = vec!["G729".into(), "PCMU".into()];
    config.trunks[1].codecs = vec!["G729".into(), "PCMU".into(), "PCMA".into()];
    Arc::new(config)
}

/// The standard transfer config with `ringback = "local"` (US tone).
pub fn ringback_config() -> Arc<Config> {
    carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
        RingbackTone::Us,
    )
}

/// The standard transfer config (REFER, local fallback).
pub fn standard() -> Arc<Config> {
    super::transfer_flows::standard()
}

/// The carrier calls the platform offering `offer`, the platform answers `answer`.
fn call_with(
    sim: &mut Sim,
    offer: Vec<u8>,
    answer: Vec<u8>,
) -> Result<(DialogId, DialogId), String> {
    let caller = sim.ua(CARRIER).invite(PLATFORM_NUMBER, Some(offer));
    let invite = platform_takes_invite(sim)?;
    let Some(callee) = sim.ua_ref(PLATFORM).incoming(invite).dialog else {
        return Err("no dialog".into());
    };
    sim.ua(PLATFORM).answer(invite, 200, Some(answer));
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call not established");
    Ok((caller, callee))
}

/// The platform REFERs the call to [`TARGET`] (as `transfer_flows` does).
fn platform_refers(sim: &mut Sim, caller: DialogId, callee: DialogId) -> Transfer {
    sim.ua(PLATFORM).refer(
        callee,
        PLATFORM_REFER_TO,
        &[
            ("Referred-By", PLATFORM_REFERRED_BY),
            ("P-Asserted-Identity", PLATFORM_IDENTITY),
        ],
    );
    Transfer {
        caller,
        callee,
        notified: Vec::new(),
    }
}

/// A G.729 call (G.711 second), REFERed; the carrier refuses with 403, handoff transfers
/// locally: the partner answers PCMA and the platform hears NOTIFY 200. Returns the transfer
/// and the partner's dialog; handoff's G.711 re-INVITE toward the customer follows.
fn g729_call_transferred_locally(sim: &mut Sim) -> Result<(Transfer, DialogId), String> {
    let (caller, callee) = call_with(
        sim,
        sdp_with("10.0.0.1", 4000, "sendrecv", &[18, 0]),
        sdp_with("10.0.0.2", 5000, "sendrecv", &[18, 0]),
    )?;
    let mut t = platform_refers(sim, caller, callee);
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER).answer(refer, 403, None);
    platform_refer_answered(sim, &t, 202)?;
    let partner = partner_answers(sim, 200)?;
    t.await_notify(sim, 200)?;
    Ok((t, partner))
}

/// The next re-INVITE handoff sends the customer (a new transaction, not a retransmission):
/// checks it is handoff's G.711-only offer.
pub fn customer_takes_reinvite(sim: &mut Sim, within_ms: u64) -> Result<RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("INVITE"), within_ms),
        "the customer got no re-INVITE"
    );
    let Some(id) = sim.ua(CARRIER).take_request("INVITE") else {
        return Err("re-INVITE vanished".into());
    };
    let offer = String::from_utf8_lossy(&sim.ua_ref(CARRIER).incoming(id).body()).into_owned();
    ensure!(
        sim,
        offer.contains("RTP/AVP 0 ") && !offer.contains("G729"),
        "re-INVITE is not handoff's G.711 offer: {offer}"
    );
    Ok(id)
}

/// The customer's answer to handoff's G.711 re-INVITE: PCMU.
fn pcmu_answer() -> Vec<u8> {
    sdp_with("10.0.0.1", 4000, "sendrecv", &[0])
}

/// The relay transcodes the customer's PCMU to the partner's PCMA: the re-INVITE took.
fn customer_on_pcmu(sim: &mut Sim) -> FlowResult {
    let done = sim.run_until(
        |s| {
            s.media.iter().any(|(_, c)| {
                matches!(
                    c,
                    MediaCommand::SetLaws {
                        a: Some(G711Law::Ulaw),
                        b: Some(G711Law::Alaw),
                        ..
                    }
                )
            })
        },
        STEP_MS,
    );
    ensure!(sim, done, "no SetLaws PCMU <-> PCMA after the re-INVITE");
    Ok(())
}

/// The platform leg goes (handoff BYEs it after the grace), the carrier hangs up; the call
/// ends once, its `call_end` saying `reinvite_failed` = `failed`.
fn bridged_call_ends(
    sim: &mut Sim,
    t: &Transfer,
    partner: DialogId,
    failed: Option<u16>,
) -> FlowResult {
    let callee = t.callee;
    let torn = sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS);
    ensure!(sim, torn, "handoff did not end the platform leg");
    carrier_hangs_up(sim, t, PARTNER)?;
    ensure!(
        sim,
        sim.ua_ref(PARTNER).dialog(partner).bye_received,
        "leg C not BYEd"
    );
    let ends = sim.call_ends();
    ensure!(sim, ends.len() == 1, "expected one call_end, got {ends:?}");
    ensure!(
        sim,
        ends[0].reinvite_failed.map(StatusCode::as_u16) == failed,
        "call_end reinvite_failed {:?}, expected {failed:?}",
        ends[0].reinvite_failed
    );
    super::scenarios::resources_released(sim)
}

/// RFC 3261 sections 14.1 and 14.2, both ways: handoff's G.711 re-INVITE and the customer's own
/// re-INVITE cross. handoff answers the customer's 491 (its own is pending on the dialog); the
/// customer answers handoff's 491; handoff sends its re-INVITE again (the carrier chose the
/// Call-ID, so after 0-2 s) and the customer takes it.
///
/// With `max_ms`, the retry must reach the customer at most that long after its 491 left (on a
/// clean link: 2 s plus the link's delays; a lossy link may delay the 491 itself by
/// retransmissions, so the sweep passes `None`).
pub fn reinvite_glare_retried_within(sim: &mut Sim, max_ms: Option<u64>) -> FlowResult {
    let (t, partner) = g729_call_transferred_locally(sim)?;
    let first = customer_takes_reinvite(sim, STEP_MS)?;
    // The customer's own re-INVITE, sent while handoff's is pending.
    let before = sim.ua_ref(CARRIER).statuses(t.caller, "INVITE").len();
    sim.ua(CARRIER)
        .reinvite(t.caller, sdp_with("10.0.0.1", 4000, "sendonly", &[18, 0]));
    let caller = t.caller;
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).statuses(caller, "INVITE")[before..]
                .iter()
                .any(|st| *st >= 200)
        },
        STEP_MS,
    );
    let got = sim.ua_ref(CARRIER).statuses(caller, "INVITE")[before..].to_vec();
    ensure!(
        sim,
        answered && got.contains(&491) && !got.iter().any(|s| *s >= 200 && *s != 491),
        "the customer's re-INVITE during handoff's got {got:?}, expected 491 (RFC 3261 14.2)"
    );
    sim.ua(CARRIER).answer(first, 491, None);
    let refused_at = sim.now;
    let retry = customer_takes_reinvite(sim, STEP_MS)?;
    ensure!(sim, retry != first, "the retry is the first re-INVITE");
    let waited = sim.now.millis_since(refused_at);
    ensure!(
        sim,
        max_ms.is_none_or(|max| waited <= max),
        "the carrier owns the Call-ID, yet handoff retried after {waited} ms (RFC 3261 14.1: 0-2 s)"
    );
    sim.ua(CARRIER).answer(retry, 200, Some(pcmu_answer()));
    customer_on_pcmu(sim)?;
    bridged_call_ends(sim, &t, partner, None)
}

/// The customer answers 491 four times: handoff sends its re-INVITE once and retries it three
/// times, then gives up; the call stays up (RFC 3261 14.1: the session unchanged) and its
/// `call_end` says `reinvite_failed: 491`.
pub fn reinvite_glare_exhausted(sim: &mut Sim) -> FlowResult {
    let (t, partner) = g729_call_transferred_locally(sim)?;
    for _ in 0..4 {
        let id = customer_takes_reinvite(sim, STEP_MS)?;
        sim.ua(CARRIER).answer(id, 491, None);
    }
    // No fifth: wait longer than the longest glare timer (4 s) and any retransmission.
    sim.run_for(10_000);
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("INVITE"),
        "handoff re-INVITEd a fifth time"
    );
    ensure!(sim, sim.calls_active() == 1, "the call ended");
    bridged_call_ends(sim, &t, partner, Some(491))
}

/// A permanent failure (488) is not retried: `reinvite_failed: 488`.
pub fn reinvite_rejected_for_good(sim: &mut Sim) -> FlowResult {
    let (t, partner) = g729_call_transferred_locally(sim)?;
    let id = customer_takes_reinvite(sim, STEP_MS)?;
    sim.ua(CARRIER).answer(id, 488, None);
    sim.run_for(10_000);
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("INVITE"),
        "handoff re-INVITEd after a 488"
    );
    bridged_call_ends(sim, &t, partner, Some(488))
}

/// RFC 3261 14.2's transient answer: 500 with `Retry-After: 1`; handoff sends the re-INVITE
/// again after it and the customer takes it.
pub fn reinvite_500_retry_after(sim: &mut Sim) -> FlowResult {
    let (t, partner) = g729_call_transferred_locally(sim)?;
    let first = customer_takes_reinvite(sim, STEP_MS)?;
    sim.ua(CARRIER)
        .answer_with(first, 500, None, &[("Retry-After", "1")]);
    let retry = customer_takes_reinvite(sim, STEP_MS)?;
    sim.ua(CARRIER).answer(retry, 200, Some(pcmu_answer()));
    customer_on_pcmu(sim)?;
    bridged_call_ends(sim, &t, partner, None)
}

/// RFC 3261 14.1 for the Call-ID's owner: on a dialer call the customer's leg is the one handoff
/// placed (its Call-ID is handoff's), so after the customer's 491 handoff waits 2.1 to 4 s
/// before it sends its re-INVITE again (never sooner: the other side, 0-2 s, goes first).
pub fn dialer_reinvite_glare_owner_waits(sim: &mut Sim) -> FlowResult {
    let platform = sim.ua(PLATFORM).invite(
        super::dialer_flows::CUSTOMER_NUMBER,
        Some(sdp_with("10.0.0.2", 5000, "sendrecv", &[18, 0])),
    );
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("INVITE"), STEP_MS),
        "carrier got no INVITE from the dialer"
    );
    let Some(invite) = sim.ua(CARRIER).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let Some(carrier) = sim.ua_ref(CARRIER).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    sim.ua(CARRIER).answer(
        invite,
        200,
        Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[18, 0])),
    );
    let up = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(platform).is_confirmed()
                && s.ua_ref(CARRIER).dialog(carrier).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "dialer call not established");
    let mut t = Transfer {
        caller: carrier,
        callee: platform,
        notified: Vec::new(),
    };
    super::dialer_flows::agent_refers(sim, &t);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no REFER"
    );
    let Some(refer) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    sim.ua(CARRIER).answer(refer, 403, None);
    platform_refer_answered(sim, &t, 202)?;
    let partner = partner_answers(sim, 200)?;
    t.await_notify(sim, 200)?;
    let first = customer_takes_reinvite(sim, STEP_MS)?;
    sim.ua(CARRIER).answer(first, 491, None);
    let refused_at = sim.now;
    let retry = customer_takes_reinvite(sim, STEP_MS)?;
    let waited = sim.now.millis_since(refused_at);
    ensure!(
        sim,
        waited >= 2_100,
        "handoff owns the Call-ID but retried after {waited} ms (RFC 3261 14.1: 2.1-4 s)"
    );
    sim.ua(CARRIER).answer(retry, 200, Some(pcmu_answer()));
    let bridged = sim.run_until(
        |s| {
            s.media.iter().any(|(_, c)| {
                matches!(
                    c,
                    MediaCommand::SetLaws {
                        a: Some(G711Law::Alaw),
                        b: Some(G711Law::Ulaw),
                        ..
                    }
                )
            })
        },
        STEP_MS,
    );
    ensure!(sim, bridged, "no SetLaws PCMA <-> PCMU after the retry");
    bridged_call_ends(sim, &t, partner, None)
}

/// The next re-INVITE handoff sends the carrier in `dialog`: its G.711 sendrecv offer.
fn carrier_takes_reinvite_in(sim: &mut Sim, dialog: DialogId) -> Result<RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("INVITE"), STEP_MS),
        "the carrier got no re-INVITE in {dialog:?}"
    );
    let Some(id) = sim.ua(CARRIER).take_request("INVITE") else {
        return Err("re-INVITE vanished".into());
    };
    let incoming = sim.ua_ref(CARRIER).incoming(id).clone();
    let offer = String::from_utf8_lossy(&incoming.body()).into_owned();
    ensure!(
        sim,
        incoming.dialog == Some(dialog) && offer.contains("a=sendrecv") && !offer.contains("G729"),
        "re-INVITE in {:?} (expected {dialog:?}): {offer}",
        incoming.dialog
    );
    Ok(id)
}

/// A local attended join (`transfer = "local"`): handoff's G.711 re-INVITE toward A2, the
/// moved leg, meets 491; handoff placed call 2 (its Call-ID is handoff's), so it sends the
/// re-INVITE again after 2.1-4 s (RFC 3261 14.1), and the join completes: A1 and A2 joined,
/// B1 and B2 released, the record `fallback_local`.
pub fn attended_join_reinvite_glare(sim: &mut Sim) -> FlowResult {
    use super::attended_flows::{platform_replaces, two_calls};
    let shards = sim.shards().len() as u16;
    let calls = two_calls(
        sim,
        crate::vocab::ShardId(0),
        crate::vocab::ShardId(shards.saturating_sub(1)),
    )?;
    let refer_to = format!(
        "<sip:partner@10.0.0.2?Replaces={}>",
        platform_replaces(sim, &calls).render_escaped()
    );
    sim.ua(PLATFORM)
        .request(calls.b1, "REFER", None, &[("Refer-To", &refer_to)]);
    let first = carrier_takes_reinvite_in(sim, calls.a2)?;
    sim.ua(CARRIER).answer(first, 491, None);
    let refused_at = sim.now;
    let retry = carrier_takes_reinvite_in(sim, calls.a2)?;
    let waited = sim.now.millis_since(refused_at);
    ensure!(
        sim,
        waited >= 2_100,
        "handoff owns call 2's Call-ID but retried after {waited} ms (RFC 3261 14.1: 2.1-4 s)"
    );
    sim.ua(CARRIER).answer(
        retry,
        200,
        Some(sdp_with("10.0.0.1", 6200, "sendrecv", &[8])),
    );
    let customer = carrier_takes_reinvite_in(sim, calls.a1)?;
    sim.ua(CARRIER).answer(
        customer,
        200,
        Some(sdp_with("10.0.0.1", 6100, "sendrecv", &[0])),
    );
    let released = sim.run_until(
        |s| {
            let platform = s.ua_ref(PLATFORM);
            platform.final_status(calls.b1, "REFER") == Some(202)
                && platform.dialog(calls.b1).bye_received
                && platform.dialog(calls.b2).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        released,
        "the join did not complete (202, B1 and B2 released)"
    );
    let record = record_with(sim, TransferOutcome::FallbackLocal)?;
    ensure!(
        sim,
        record.kind == TransferKind::Attended,
        "record {record:?}"
    );
    // The customer hangs up: A2 gets BYE, both calls end, neither with reinvite_failed.
    sim.ua(CARRIER).bye(calls.a1);
    let ended = sim.run_until(
        |s| s.ua_ref(CARRIER).dialog(calls.a2).bye_received && s.calls_active() == 0,
        STEP_MS,
    );
    ensure!(sim, ended, "A2 not BYEd after the customer's BYE");
    ensure!(
        sim,
        sim.call_ends().iter().all(|e| e.reinvite_failed.is_none()),
        "call_end {:?}",
        sim.call_ends()
    );
    super::scenarios::resources_released(sim)
}

/// The one record of the flow, or the one with `outcome`.
fn record_with(sim: &Sim, outcome: TransferOutcome) -> Result<TransferRecord, String> {
    let records: Vec<TransferRecord> = sim
        .transfers()
        .into_iter()
        .filter(|r| r.outcome == outcome)
        .collect();
    ensure!(
        sim,
        records.len() == 1,
        "expected one {outcome:?} record, got {:?}",
        sim.transfers()
    );
    Ok(records[0].clone())
}

/// The carrier accepts the REFER, reports 200 and releases the customer: handed off.
fn carrier_hands_off(sim: &mut Sim, t: &mut Transfer) -> FlowResult {
    let refer = carrier_takes_refer(sim, t)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    platform_refer_answered(sim, t, 202)?;
    carrier_notifies(sim, t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, t, PLATFORM)?;
    let record = record_with(sim, TransferOutcome::HandedOff)?;
    ensure!(
        sim,
        record.requester_trunk.as_deref() == Some("platform")
            && record.source == Some(sim.ua_ref(PLATFORM).addr),
        "handed-off record's requester {:?} {:?}",
        record.requester_trunk,
        record.source
    );
    super::scenarios::resources_released(sim)
}

/// RFC 3264 section 5.1: the call runs on G.729 alone; ringback = "local" has no G.711 to play
/// in, so none is sent (no StartRingback), `ringback_skipped` counts it and the record says so.
pub fn ringback_skipped_without_g711(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = call_with(
        sim,
        sdp_with("10.0.0.1", 4000, "sendrecv", &[18]),
        sdp_with("10.0.0.2", 5000, "sendrecv", &[18]),
    )?;
    let mut t = platform_refers(sim, caller, callee);
    carrier_hands_off(sim, &mut t)?;
    ensure!(
        sim,
        !sim.media
            .iter()
            .any(|(_, c)| matches!(c, MediaCommand::StartRingback { .. })),
        "ringback started in a call with no G.711: {:?}",
        sim.media
    );
    let skipped = sim.metrics().ringback_skipped.get("carrier").copied();
    ensure!(
        sim,
        skipped == Some(1),
        "ringback_skipped{{carrier}} = {skipped:?}"
    );
    let record = record_with(sim, TransferOutcome::HandedOff)?;
    ensure!(
        sim,
        record.ringback_skipped,
        "record without ringback_skipped"
    );
    Ok(())
}

/// RFC 3264: the customer's leg bound PCMU to the dynamic payload type 96: ringback goes out
/// in PCMU with payload type 96, not 0.
pub fn ringback_in_negotiated_payload_type(sim: &mut Sim) -> FlowResult {
    let sdp = |ip: &str, port: u16| {
        sipwire::agent::AudioSdp {
            origin: "ua 1000 1",
            ip,
            port,
            formats: &[(96, "PCMU/8000")],
            events: "0-16",
            direction: "sendrecv",
        }
        .text()
        .into_bytes()
    };
    let (caller, callee) = call_with(sim, sdp("10.0.0.1", 4000), sdp("10.0.0.2", 5000))?;
    let mut t = platform_refers(sim, caller, callee);
    let started = sim.run_until(
        |s| {
            s.media.iter().any(|(_, c)| {
                matches!(
                    c,
                    MediaCommand::StartRingback {
                        toward: MediaSide::A,
                        ..
                    }
                )
            })
        },
        STEP_MS,
    );
    ensure!(sim, started, "no ringback toward the customer");
    let start = sim.media.iter().find_map(|(_, c)| match c {
        MediaCommand::StartRingback {
            law, payload_type, ..
        } => Some((*law, *payload_type)),
        _ => None,
    });
    ensure!(
        sim,
        start == Some((G711Law::Ulaw, 96)),
        "ringback as {start:?}, expected PCMU in payload type 96"
    );
    carrier_hands_off(sim, &mut t)?;
    let skipped = sim.metrics().ringback_skipped.get("carrier").copied();
    ensure!(
        sim,
        skipped.unwrap_or(0) == 0,
        "ringback_skipped {skipped:?}"
    );
    Ok(())
}

/// Checks the one `refused` record: what handoff answered, who asked, from where.
fn check_refused(
    sim: &Sim,
    requester: usize,
    requester_trunk: &str,
    status: Option<u16>,
    request: Option<TransferRequestKind>,
) -> Result<TransferRecord, String> {
    let record = record_with(sim, TransferOutcome::Refused)?;
    let answered = record.answer_status.map(StatusCode::as_u16);
    ensure!(
        sim,
        record.requester_trunk.as_deref() == Some(requester_trunk)
            && record.source == Some(sim.ua_ref(requester).addr)
            && record.request == request
            && record.reason == "request_refused"
            && record.refer_status.is_none()
            && match status {
                Some(status) => answered == Some(status),
                None => answered.is_some_and(|s| s >= 400),
            },
        "refused record {record:?}, expected {requester_trunk} {status:?} {request:?}"
    );
    Ok(record)
}

/// The platform REFERs without a Refer-To: 400 (RFC 3515 section 2.4.1), and a record.
pub fn refer_without_refer_to_refused(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(PLATFORM).request(callee, "REFER", None, &[]);
    let answered = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "REFER").is_some(),
        STEP_MS,
    );
    let got = sim.ua_ref(PLATFORM).final_status(callee, "REFER");
    ensure!(sim, answered && got == Some(400), "REFER got {got:?}");
    let record = check_refused(sim, PLATFORM, "platform", Some(400), None)?;
    ensure!(
        sim,
        record.trunk == "carrier" && record.kind == TransferKind::Blind,
        "record {record:?}"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER") && sim.calls_active() == 1,
        "the refused REFER touched the call"
    );
    sim.ua(CARRIER).bye(caller);
    let ended = sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS);
    ensure!(sim, ended, "BYE not relayed");
    super::scenarios::resources_released(sim)
}

/// A second REFER while the first is with the carrier gets 491, on record; the first goes on
/// and is handed off.
pub fn second_refer_refused_while_one_runs(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let mut t = platform_refers(sim, caller, callee);
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(PLATFORM).refer(callee, PLATFORM_REFER_TO, &[]);
    let refused = sim.run_until(
        |s| s.ua_ref(PLATFORM).statuses(callee, "REFER").contains(&491),
        STEP_MS,
    );
    ensure!(sim, refused, "the second REFER got no 491");
    check_refused(sim, PLATFORM, "platform", Some(491), None)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    let accepted = sim.run_until(
        |s| s.ua_ref(PLATFORM).statuses(callee, "REFER").contains(&202),
        STEP_MS,
    );
    ensure!(sim, accepted, "the first REFER got no 202");
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    record_with(sim, TransferOutcome::HandedOff)?;
    super::scenarios::resources_released(sim)
}

/// The bytes of a REFER outside any dialog (no To tag) from the platform, with `branch`.
fn out_of_dialog_refer(sim: &Sim, branch: &str) -> Vec<u8> {
    let ua = sim.ua_ref(PLATFORM).addr;
    format!(
        "REFER sip:{PLATFORM_NUMBER}@{sbc} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {ua};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:agent@platform.example>;tag=ood1\r\n\
         To: <sip:{PLATFORM_NUMBER}@{sbc}>\r\n\
         Call-ID: ood-refer-1@platform.example\r\n\
         CSeq: 1 REFER\r\n\
         Contact: <sip:agent@{ua}>\r\n\
         Refer-To: <sip:{TARGET}@platform.example>\r\n\
         Content-Length: 0\r\n\r\n",
        sbc = sim.sbc,
    )
    .into_bytes()
}

/// A REFER outside any dialog naming no dialog of ours (no Target-Dialog): refused, on record
/// as `out_of_dialog_refer` with the platform trunk and source. Retransmissions (the same
/// branch, RFC 3261 17.2.3) make no second record.
pub fn out_of_dialog_refer_refused(sim: &mut Sim) -> FlowResult {
    let bytes = out_of_dialog_refer(sim, "z9hG4bKood1refer");
    for _ in 0..12 {
        sim.ua(PLATFORM).send_raw(bytes.clone());
        sim.run_for(600);
    }
    sim.run_for(2_000);
    let record = check_refused(
        sim,
        PLATFORM,
        "platform",
        None,
        Some(TransferRequestKind::OutOfDialogRefer),
    )?;
    ensure!(
        sim,
        record.target.contains(TARGET) && record.conversation.is_empty(),
        "record {record:?}"
    );
    Ok(())
}

/// An INVITE with Replaces naming no dialog of ours: 481 (RFC 3891 section 3), on record as
/// `invite_replaces`.
pub fn invite_replaces_refused(sim: &mut Sim) -> FlowResult {
    let new = sim.ua(PLATFORM).invite_with(
        "pickup",
        Some(sdp_with("10.0.0.2", 5600, "sendrecv", &[0])),
        &[
            ("Require", "replaces"),
            (
                "Replaces",
                "nosuch@10.0.0.1;to-tag=hf0000aaaaaaaaaaaaaaaa;from-tag=x1",
            ),
        ],
    );
    let answered = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(new, "INVITE").is_some(),
        STEP_MS,
    );
    let got = sim.ua_ref(PLATFORM).final_status(new, "INVITE");
    ensure!(
        sim,
        answered && got == Some(481),
        "INVITE/Replaces got {got:?}"
    );
    let record = check_refused(
        sim,
        PLATFORM,
        "platform",
        Some(481),
        Some(TransferRequestKind::InviteReplaces),
    )?;
    ensure!(
        sim,
        record.kind == TransferKind::Attended && record.target.contains("nosuch@10.0.0.1"),
        "record {record:?}"
    );
    Ok(())
}

/// An INVITE with Replaces that takes the platform leg's place (call pickup): one `replaced`
/// record for the call's conversation, naming the platform trunk and source.
pub fn invite_replaces_taken(sim: &mut Sim) -> FlowResult {
    super::replaces_flows::platform_replaces_its_leg(sim)?;
    let record = record_with(sim, TransferOutcome::Replaced)?;
    let conversation = sim.call_ends().first().map(|e| e.conversation.clone());
    ensure!(
        sim,
        record.request == Some(TransferRequestKind::InviteReplaces)
            && record.requester_trunk.as_deref() == Some("platform")
            && record.source == Some(sim.ua_ref(PLATFORM).addr)
            && Some(record.conversation.clone()) == conversation
            && record.trunk == "carrier",
        "record {record:?}, call {conversation:?}"
    );
    ensure!(
        sim,
        sim.transfers().len() == 1,
        "records {:?}",
        sim.transfers()
    );
    Ok(())
}

/// A REFER from the carrier (default `carrier_refer = "reject"`): 403 and a
/// `carrier_initiated` record naming the carrier trunk as requester, with its source.
pub fn carrier_refer_audited(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(CARRIER)
        .refer(caller, "<sip:+15559876543@10.0.0.1>", &[]);
    let answered = sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "REFER").is_some(),
        STEP_MS,
    );
    let got = sim.ua_ref(CARRIER).final_status(caller, "REFER");
    ensure!(
        sim,
        answered && got == Some(403),
        "carrier REFER got {got:?}"
    );
    let records = sim.transfers();
    ensure!(sim, records.len() == 1, "records {records:?}");
    let record = &records[0];
    ensure!(
        sim,
        record.kind == TransferKind::CarrierInitiated
            && record.requester_trunk.as_deref() == Some("carrier")
            && record.source == Some(sim.ua_ref(CARRIER).addr),
        "record {record:?}"
    );
    sim.ua(PLATFORM).bye(callee);
    let ended = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(sim, ended, "BYE not relayed");
    super::scenarios::resources_released(sim)
}

pub type NamedFlow = (
    &'static str,
    fn() -> Arc<Config>,
    fn(&mut Sim) -> FlowResult,
);

pub const FLOWS: &[NamedFlow] = &[
    ("reinvite_glare_retried", g729_config, |s| {
        reinvite_glare_retried_within(s, None)
    }),
    (
        "reinvite_glare_exhausted",
        g729_config,
        reinvite_glare_exhausted,
    ),
    (
        "reinvite_rejected_for_good",
        g729_config,
        reinvite_rejected_for_good,
    ),
    (
        "reinvite_500_retry_after",
        g729_config,
        reinvite_500_retry_after,
    ),
    (
        "attended_join_reinvite_glare",
        super::attended_flows::local_mode_config,
        attended_join_reinvite_glare,
    ),
    (
        "dialer_reinvite_glare_owner_waits",
        g729_config,
        dialer_reinvite_glare_owner_waits,
    ),
    (
        "ringback_skipped_without_g711",
        g729_config,
        ringback_skipped_without_g711,
    ),
    (
        "ringback_in_negotiated_payload_type",
        ringback_config,
        ringback_in_negotiated_payload_type,
    ),
    (
        "refer_without_refer_to_refused",
        standard,
        refer_without_refer_to_refused,
    ),
    (
        "second_refer_refused_while_one_runs",
        standard,
        second_refer_refused_while_one_runs,
    ),
    (
        "out_of_dialog_refer_refused",
        standard,
        out_of_dialog_refer_refused,
    ),
    ("invite_replaces_refused", standard, invite_replaces_refused),
    ("invite_replaces_taken", standard, invite_replaces_taken),
    ("carrier_refer_audited", standard, carrier_refer_audited),
];
