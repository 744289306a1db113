//! Outbound (dialer) calls: the platform calls a customer out through the carrier, then the agent
//! transfers the call. Roles, not positions: the carrier's leg is now leg B, and everything an
//! inbound call's transfer does must happen the same way (the call-model issue, behaviour 3).
//!
//! Expectations are written from the brief and RFC 3515 / RFC 3892 as literals: the carrier
//! gets the REFER in its own dialog, E.164 at its Refer-To host, its trunk headers, the
//! platform's P-Asserted-Identity and Referred-By; NOTIFYs reach the platform; the carrier's
//! BYE ends the call as `handed_off`.

use super::scenarios::{FlowResult, STEP_MS, resources_released};
use super::transfer_flows::{
    PLATFORM_IDENTITY, PLATFORM_REFERRED_BY, Transfer, carrier_hangs_up, carrier_notifies,
    local_transfer_bridges, partner_answers, platform_refer_answered,
};
use super::{CARRIER, PARTNER, PLATFORM, Sim, offer_sdp};
use crate::media::g711::G711Law;
use crate::transfer::TransferOutcome;
use crate::vocab::StatusCode;

/// The customer's number the dialer calls (routed platform -> carrier).
pub const CUSTOMER_NUMBER: &str = "+15557654321";
/// The agent's Refer-To: the target in the US international dialling form, not E.164.
pub const DIALER_REFER_TO: &str = "<sip:011442071234567@platform.example>";
/// What the carrier must get: E.164 at its own host (the standard carrier has no refer_domain).
pub const CARRIER_REFER_TO: &str = "<sip:+442071234567@10.0.0.1>";

/// The platform calls the customer out through the carrier; the carrier answers. Returns the
/// transfer cast: `caller` is the carrier's dialog (the customer), `callee` the platform's.
pub fn dialer_call(sim: &mut Sim) -> Result<Transfer, String> {
    let platform = sim
        .ua(PLATFORM)
        .invite(CUSTOMER_NUMBER, Some(offer_sdp("10.0.0.2", 5000)));
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
    sim.ua(CARRIER)
        .answer(invite, 200, Some(offer_sdp("10.0.0.1", 4000)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(platform).is_confirmed()
                && s.ua_ref(CARRIER).dialog(carrier).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "dialer call not established end to end");
    Ok(Transfer {
        caller: carrier,
        callee: platform,
        notified: Vec::new(),
    })
}

/// The agent REFERs the dialer call to the target.
pub fn agent_refers(sim: &mut Sim, t: &Transfer) {
    sim.ua(PLATFORM).refer(
        t.callee,
        DIALER_REFER_TO,
        &[
            ("Referred-By", PLATFORM_REFERRED_BY),
            ("P-Asserted-Identity", PLATFORM_IDENTITY),
        ],
    );
}

/// The carrier's REFER, checked, answered `status`; the platform then hears 202 (the fallback
/// or the carrier took it on).
fn carrier_answers_refer(sim: &mut Sim, t: &Transfer, status: u16) -> FlowResult {
    let id = carrier_takes_refer(sim, t)?;
    sim.ua(CARRIER).answer(id, status, None);
    platform_refer_answered(sim, t, 202)
}

/// The carrier's REFER on the dialer call, checked and taken (not answered).
fn carrier_takes_refer(sim: &mut Sim, t: &Transfer) -> Result<super::RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no REFER on the dialer call"
    );
    let Some(id) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let refer = sim.ua_ref(CARRIER).incoming(id).clone();
    let header = |name: &str| refer.header(name).unwrap_or_default();
    ensure!(
        sim,
        refer.dialog == Some(t.caller),
        "REFER not in the carrier's own dialog"
    );
    ensure!(
        sim,
        header("Refer-To") == CARRIER_REFER_TO,
        "Refer-To {:?}",
        header("Refer-To")
    );
    ensure!(
        sim,
        header("Referred-By") == PLATFORM_REFERRED_BY
            && header("P-Asserted-Identity") == PLATFORM_IDENTITY,
        "Referred-By {:?} / P-Asserted-Identity {:?}",
        header("Referred-By"),
        header("P-Asserted-Identity")
    );
    ensure!(
        sim,
        header("X-Carrier-Account") == "acct-42",
        "trunk header missing on the REFER"
    );
    Ok(id)
}

/// The whole dialer handoff: REFER, 202, NOTIFY 100 and 200 relayed, carrier BYE: handed off.
pub fn dialer_blind_handoff(sim: &mut Sim) -> FlowResult {
    let mut t = dialer_call(sim)?;
    agent_refers(sim, &t);
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    t.await_notify(sim, 100)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    check_record(
        sim,
        TransferOutcome::HandedOff,
        Some(202),
        Some(200),
        None,
        "carrier_bye",
    )?;
    ended_once(sim, "handed_off")
}

/// The carrier refuses the dialer call's REFER with 403: handoff transfers locally (leg C to the
/// partner, PCMA), bridges it to the customer, tells the platform 200; the customer hangs up.
pub fn dialer_refer_rejected_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = dialer_call(sim)?;
    agent_refers(sim, &t);
    carrier_answers_refer(sim, &t, 403)?;
    // The customer is at position B on a dialer call: its PCMU is the b side's law.
    let partner = local_transfer_bridges(sim, &mut t, (G711Law::Alaw, G711Law::Ulaw))?;
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(403),
        None,
        Some(200),
        "refer_rejected",
    )?;
    carrier_hangs_up(sim, &t, PARTNER)?;
    ensure!(
        sim,
        sim.ua_ref(PARTNER).dialog(partner).bye_received,
        "leg C not BYEd"
    );
    ended_once(sim, "bye_from_b")
}

/// The one transfer record: the dialer call's carrier trunk, the agent's target as sent and in
/// E.164, and the given outcome, codes and reason.
fn check_record(
    sim: &Sim,
    outcome: TransferOutcome,
    refer_status: Option<u16>,
    notify_status: Option<u16>,
    fallback_status: Option<u16>,
    reason: &str,
) -> FlowResult {
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1,
        "expected one record, got {records:?}"
    );
    let r = &records[0];
    ensure!(
        sim,
        r.trunk == "carrier"
            && r.kind == crate::transfer::TransferKind::Blind
            && r.target == "sip:011442071234567@platform.example"
            && r.target_e164.as_deref() == Some("+442071234567"),
        "record {r:?}"
    );
    ensure!(
        sim,
        r.outcome == outcome
            && r.refer_status.map(StatusCode::as_u16) == refer_status
            && r.notify_status.map(StatusCode::as_u16) == notify_status
            && r.fallback_status.map(StatusCode::as_u16) == fallback_status
            && r.reason == reason,
        "record {r:?}"
    );
    Ok(())
}

/// `on_refer_failure = "reject"` on a dialer call: the platform gets the carrier's 603, nothing
/// else happens, and the call goes on with the agent.
pub fn dialer_reject_mode(sim: &mut Sim) -> FlowResult {
    let t = dialer_call(sim)?;
    agent_refers(sim, &t);
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER).answer(refer, 603, None);
    platform_refer_answered(sim, &t, 603)?;
    check_record(
        sim,
        TransferOutcome::Failed,
        Some(603),
        None,
        None,
        "refer_rejected",
    )?;
    ensure!(
        sim,
        !sim.ua_ref(PARTNER).has_request("INVITE") && sim.calls_active() == 1,
        "reject mode did more than relay the code"
    );
    back_with_the_agent(sim, &t)
}

/// `transfer = "local"` on a dialer call: no REFER reaches the carrier; handoff calls the target
/// itself and bridges it to the customer.
pub fn dialer_local_mode(sim: &mut Sim) -> FlowResult {
    let mut t = dialer_call(sim)?;
    agent_refers(sim, &t);
    let partner = partner_answers(sim, 200)?;
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0,
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    t.await_notify(sim, 200)?;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER"),
        "local mode sent the carrier a REFER"
    );
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        None,
        None,
        Some(200),
        "local_method",
    )?;
    sim.ua(PLATFORM).bye(t.callee);
    carrier_hangs_up(sim, &t, PARTNER)?;
    ended_once(sim, "bye_from_b")
}

/// The carrier refuses, the target is busy: the platform hears 486 by NOTIFY and keeps its
/// customer.
pub fn dialer_fallback_target_busy(sim: &mut Sim) -> FlowResult {
    let mut t = dialer_call(sim)?;
    agent_refers(sim, &t);
    carrier_answers_refer(sim, &t, 403)?;
    partner_answers(sim, 486)?;
    t.await_notify(sim, 486)?;
    check_record(
        sim,
        TransferOutcome::Failed,
        Some(403),
        None,
        Some(486),
        "fallback_failed",
    )?;
    back_with_the_agent(sim, &t)
}

/// The customer is still with the agent: the platform's BYE ends the call.
fn back_with_the_agent(sim: &mut Sim, t: &Transfer) -> FlowResult {
    ensure!(
        sim,
        sim.calls_active() == 1 && !sim.ua_ref(CARRIER).dialog(t.caller).bye_received,
        "the customer lost the agent"
    );
    sim.ua(PLATFORM).bye(t.callee);
    let caller = t.caller;
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS),
        "the platform's BYE did not reach the customer"
    );
    ended_once(sim, "bye_from_a")
}

fn ended_once(sim: &Sim, reason: &str) -> FlowResult {
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].end_reason == reason,
        "expected one CallEnded {reason}, got {ends:?}"
    );
    resources_released(sim)
}

/// The carrier leg sends REFER: by default (`carrier_refer = "reject"`) it gets 403, the
/// platform sees nothing, the call stays up and the refusal is on record.
pub fn carrier_refer_rejected(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = super::scenarios::establish(sim)?;
    sim.ua(CARRIER)
        .refer(caller, "<sip:+19005550199@carrier.example>", &[]);
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(caller, "REFER").is_some(),
            STEP_MS
        ),
        "carrier's REFER unanswered"
    );
    let got = sim.ua_ref(CARRIER).final_status(caller, "REFER");
    ensure!(sim, got == Some(403), "carrier's REFER got {got:?}");
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("REFER") && !sim.ua_ref(PARTNER).has_request("INVITE"),
        "a carrier's REFER was acted on"
    );
    ensure!(sim, sim.calls_active() == 1, "the call ended");
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1
            && records[0].kind == crate::transfer::TransferKind::CarrierInitiated
            && records[0].outcome == TransferOutcome::Failed
            && records[0].refer_status == Some(StatusCode::FORBIDDEN)
            && records[0].trunk == "carrier",
        "records {records:?}"
    );
    sim.ua(PLATFORM).bye(callee);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS),
        "BYE not relayed"
    );
    ended_once(sim, "bye_from_b")
}

/// With `carrier_refer = "relay"` the carrier's REFER reaches the platform, its Refer-To in the
/// platform trunk's domain as E.164, and the attempt is on record as carrier-initiated.
pub fn carrier_refer_relayed(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = super::scenarios::establish(sim)?;
    sim.ua(CARRIER)
        .refer(caller, "<sip:5559876543@carrier.example>", &[]);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).has_request("REFER"), STEP_MS),
        "platform got no relayed REFER"
    );
    let Some(id) = sim.ua(PLATFORM).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let refer = sim.ua_ref(PLATFORM).incoming(id).clone();
    ensure!(
        sim,
        refer.dialog == Some(callee),
        "relayed REFER not in the platform's dialog"
    );
    let refer_to = refer.header("Refer-To").unwrap_or_default();
    ensure!(
        sim,
        refer_to == "<sip:+15559876543@10.0.0.2>",
        "relayed Refer-To {refer_to:?}"
    );
    sim.ua(PLATFORM).answer(id, 202, None);
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(caller, "REFER") == Some(202),
            STEP_MS
        ),
        "carrier did not get the platform's 202"
    );
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1
            && records[0].kind == crate::transfer::TransferKind::CarrierInitiated
            && records[0].outcome == TransferOutcome::Relayed,
        "records {records:?}"
    );
    sim.ua(PLATFORM).bye(callee);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS),
        "BYE not relayed"
    );
    ended_once(sim, "bye_from_b")
}

/// A carrier's REFER that its trunk relays is held to the rules a platform REFER meets (RFC 3515
/// section 2.4.2: 400 for a Refer-To the recipient cannot use; RFC 3261 section 19.1.5: headers in
/// a URI that would inject): one whose Refer-To carries `?Via=` or `?Call-ID=`, or names two
/// targets, gets 400 from handoff, a `method=BYE` one 403, and none of them reaches the platform.
/// Each is on record, refused, with handoff's answer.
pub fn carrier_refer_relay_refuses_bad_refer_to(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = super::scenarios::establish(sim)?;
    let cases: [(&str, u16); 4] = [
        (
            "<sip:5559876543@carrier.example?Via=SIP%2F2.0%2FUDP%20evil.example>",
            400,
        ),
        ("<sip:5559876543@carrier.example?Call-ID=hijack>", 400),
        (
            "<sip:5559876543@carrier.example>, <sip:5551112222@carrier.example>",
            400,
        ),
        ("<sip:5559876543@carrier.example;method=BYE>", 403),
    ];
    for (n, (refer_to, status)) in cases.iter().enumerate() {
        sim.ua(CARRIER).refer(caller, refer_to, &[]);
        ensure!(
            sim,
            sim.run_until(|s| refer_finals(s, caller).len() > n, STEP_MS),
            "no answer to REFER {refer_to}"
        );
        let got = refer_finals(sim, caller);
        ensure!(
            sim,
            got.get(n) == Some(status),
            "REFER {refer_to}: answers {got:?}, wanted {status}"
        );
    }
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("REFER"),
        "a refused REFER reached the platform"
    );
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == cases.len()
            && records.iter().zip(&cases).all(|(r, (_, status))| {
                r.kind == crate::transfer::TransferKind::CarrierInitiated
                    && r.outcome == TransferOutcome::Refused
                    && r.answer_status.map(|s| s.as_u16()) == Some(*status)
                    && r.requester_trunk.as_deref() == Some("carrier")
            }),
        "records {records:?}"
    );
    sim.ua(PLATFORM).bye(callee);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS),
        "BYE not relayed"
    );
    ended_once(sim, "bye_from_b")
}

/// The final statuses the carrier got for its REFERs in `dialog`, in order.
fn refer_finals(sim: &Sim, dialog: super::DialogId) -> Vec<u16> {
    let statuses = sim.ua_ref(CARRIER).statuses(dialog, "REFER");
    statuses.into_iter().filter(|s| *s >= 200).collect()
}

/// The standard transfer config with the carrier trunk relaying REFERs.
pub fn relay_config() -> std::sync::Arc<crate::config::Config> {
    let mut config = (*super::transfer_flows::standard()).clone();
    config.trunks[0].carrier_refer = crate::config::CarrierReferPolicy::Relay;
    std::sync::Arc::new(config)
}

pub type NamedFlow = super::SweptFlow;

/// Every role flow, for the seed sweep.
pub const FLOWS: &[NamedFlow] = &[
    (
        "dialer_blind_handoff",
        super::transfer_flows::standard,
        dialer_blind_handoff,
    ),
    (
        "dialer_refer_rejected_fallback",
        super::transfer_flows::standard,
        dialer_refer_rejected_fallback,
    ),
    (
        "carrier_refer_rejected",
        super::transfer_flows::standard,
        carrier_refer_rejected,
    ),
    ("carrier_refer_relayed", relay_config, carrier_refer_relayed),
    (
        "carrier_refer_relay_refuses_bad_refer_to",
        relay_config,
        carrier_refer_relay_refuses_bad_refer_to,
    ),
    (
        "dialer_reject_mode",
        super::transfer_flows::reject_mode_config,
        dialer_reject_mode,
    ),
    (
        "dialer_local_mode",
        super::transfer_flows::local_mode_config,
        dialer_local_mode,
    ),
    (
        "dialer_fallback_target_busy",
        super::transfer_flows::standard,
        dialer_fallback_target_busy,
    ),
];
