//! Blind transfer flows of issue 5, shared by the tests/sim_transfer_*.rs files and the transfer
//! seed sweep. Like [`super::scenarios`], each flow checks only what must hold on any link
//! profile (loss, duplication, reordering): SIP final codes, who got a BYE, the audit record, the
//! media commands. Checks that need a clean link (every provisional seen) live in the test files.
//!
//! Cast: the carrier (trunk X, leg A) calls the platform (leg B); the platform REFERs the call to
//! [`TARGET`], which the standard config routes to the partner trunk (PCMA only), so a local
//! transfer bridges the customer's PCMU with the partner's PCMA.

use std::sync::Arc;

use super::scenarios::{
    FlowResult, PLATFORM_NUMBER, STEP_MS, establish, platform_takes_invite, resources_released,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, Sim, sdp_with, standard_config};
use crate::config::{Config, ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod};
use crate::core::{MediaCommand, MediaSide};
use crate::media::g711::G711Law;
use crate::transfer::{TransferOutcome, TransferRecord};
use crate::vocab::StatusCode;

/// The number the platform transfers to (routed platform -> partner by the standard config).
pub const TARGET: &str = "+442071234567";
/// The Refer-To the platform sends.
pub const PLATFORM_REFER_TO: &str = "<sip:+442071234567@platform.example>";
/// The Refer-To the carrier must get: E.164 at the carrier trunk's refer domain (its peer).
pub const CARRIER_REFER_TO: &str = "<sip:+442071234567@10.0.0.1>";
pub const PLATFORM_REFERRED_BY: &str = "<sip:agent@platform.example>";
pub const PLATFORM_IDENTITY: &str = "<sip:+15550001111@platform.example>";

/// The standard config with the carrier trunk's transfer settings changed.
pub fn carrier_config(
    method: TransferMethod,
    on_failure: ReferFailurePolicy,
    ringback: RingbackMode,
    tone: RingbackTone,
) -> Arc<Config> {
    let mut config = standard_config();
    let carrier = &mut config.trunks[0];
    carrier.transfer = method;
    carrier.on_refer_failure = on_failure;
    carrier.ringback = ringback;
    carrier.ringback_tone = tone;
    carrier
        .headers
        .insert("X-Carrier-Account".to_string(), "acct-42".to_string());
    Arc::new(config)
}

/// `on_refer_failure = "reject"`.
pub fn reject_mode_config() -> Arc<Config> {
    carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Reject,
        RingbackMode::Auto,
        RingbackTone::Us,
    )
}

/// `transfer = "local"`.
pub fn local_mode_config() -> Arc<Config> {
    carrier_config(
        TransferMethod::Local,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
        RingbackTone::Us,
    )
}

/// `ringback = "local"`, UK cadence.
pub fn ringback_local_config() -> Arc<Config> {
    carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Local,
        RingbackTone::Uk,
    )
}

/// Carrier and platform prefer G.729: the call runs on G.729, so a local transfer to the
/// PCMA-only partner must re-INVITE the customer to G.711.
pub fn g729_config() -> Arc<Config> {
    let mut config = standard_config();
    config.trunks[0].codecs = vec!["G729".into(), "PCMU".into()];
    config.trunks[1].codecs = vec!["G729".into(), "PCMU".into(), "PCMA".into()];
    config.trunks[0]
        .headers
        .insert("X-Carrier-Account".to_string(), "acct-42".to_string());
    Arc::new(config)
}

/// The status line of a message/sipfrag body.
pub fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(body);
    text.trim_start()
        .strip_prefix("SIP/2.0 ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Sipfrag statuses of the NOTIFYs the platform received (a clean link delivers each once).
pub fn platform_notify_statuses(sim: &Sim) -> Vec<u16> {
    sim.ua_ref(PLATFORM)
        .received
        .iter()
        .filter(|bytes| bytes.starts_with(b"NOTIFY "))
        .filter_map(|bytes| {
            let text = String::from_utf8_lossy(bytes);
            let body = text.split("\r\n\r\n").nth(1)?.to_string();
            sipfrag_status(body.as_bytes())
        })
        .collect()
}

/// Runs `flow` on a clean-link simulation with `config`; a flow error fails the test with its
/// text.
pub fn run_flow(config: Arc<Config>, flow: impl FnOnce(&mut Sim) -> Result<(), String>) -> Sim {
    let mut sim = Sim::new(super::SimOptions::default().config(config));
    if let Err(error) = flow(&mut sim) {
        panic!("{error}");
    }
    sim
}

/// Where the first media command matching `wanted` stands among those the core emitted.
pub fn media_command_position(sim: &Sim, wanted: impl Fn(&MediaCommand) -> bool) -> Option<usize> {
    sim.media.iter().position(|(_, c)| wanted(c))
}

/// A call being transferred: the dialogs and what the platform has been NOTIFYed so far.
pub struct Transfer {
    /// The carrier's dialog (leg A).
    pub caller: DialogId,
    /// The platform's dialog (leg B).
    pub callee: DialogId,
    /// Sipfrag statuses the platform received, in arrival order.
    pub notified: Vec<u16>,
}

impl Transfer {
    /// Answer every NOTIFY the platform holds, remembering their sipfrag statuses.
    pub(crate) fn read_notifies(&mut self, sim: &mut Sim) -> FlowResult {
        while let Some(id) = sim.ua(PLATFORM).take_request("NOTIFY") {
            let incoming = sim.ua_ref(PLATFORM).incoming(id).clone();
            ensure!(
                sim,
                incoming.dialog == Some(self.callee),
                "NOTIFY outside the platform's dialog"
            );
            ensure!(
                sim,
                incoming.header("Event").as_deref() == Some("refer"),
                "NOTIFY without Event: refer"
            );
            let status = sipfrag_status(&incoming.body());
            ensure!(sim, status.is_some(), "NOTIFY without a sipfrag body");
            sim.ua(PLATFORM).answer(id, 200, None);
            self.notified.extend(status);
        }
        Ok(())
    }

    /// Run until the platform got a NOTIFY with `status`.
    pub fn await_notify(&mut self, sim: &mut Sim, status: u16) -> FlowResult {
        loop {
            self.read_notifies(sim)?;
            if self.notified.contains(&status) {
                return Ok(());
            }
            ensure!(
                sim,
                sim.run_until(|s| s.ua_ref(PLATFORM).has_request("NOTIFY"), STEP_MS),
                "platform got no NOTIFY {status} (saw {:?})",
                self.notified
            );
        }
    }
}

/// Set up the call and have the platform REFER it to [`TARGET`].
pub fn call_and_refer(sim: &mut Sim, refer_sub: bool) -> Result<Transfer, String> {
    let (caller, callee) = establish(sim)?;
    Ok(platform_refers(sim, caller, callee, refer_sub))
}

/// The platform REFERs its established call (`caller` at the carrier, `callee` its own leg)
/// to [`TARGET`].
fn platform_refers(sim: &mut Sim, caller: DialogId, callee: DialogId, refer_sub: bool) -> Transfer {
    let mut extra = vec![
        ("Referred-By", PLATFORM_REFERRED_BY),
        ("P-Asserted-Identity", PLATFORM_IDENTITY),
    ];
    if !refer_sub {
        extra.push(("Refer-Sub", "false"));
    }
    sim.ua(PLATFORM).refer(callee, PLATFORM_REFER_TO, &extra);
    Transfer {
        caller,
        callee,
        notified: Vec::new(),
    }
}

/// The carrier's REFER: checks what it carries and that the platform has no answer yet.
pub fn carrier_takes_refer(sim: &mut Sim, t: &Transfer) -> Result<super::RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no REFER"
    );
    let Some(id) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let refer = sim.ua_ref(CARRIER).incoming(id).clone();
    ensure!(
        sim,
        refer.dialog == Some(t.caller),
        "REFER not in the carrier's dialog"
    );
    let header = |name: &str| refer.header(name).unwrap_or_default();
    ensure!(
        sim,
        header("Refer-To") == CARRIER_REFER_TO,
        "Refer-To {:?}",
        header("Refer-To")
    );
    ensure!(
        sim,
        header("From").contains(PLATFORM_NUMBER),
        "REFER From is not the dialled DID: {}",
        header("From")
    );
    ensure!(
        sim,
        header("Referred-By") == PLATFORM_REFERRED_BY,
        "Referred-By {:?}",
        header("Referred-By")
    );
    ensure!(
        sim,
        header("P-Asserted-Identity") == PLATFORM_IDENTITY,
        "P-Asserted-Identity {:?}",
        header("P-Asserted-Identity")
    );
    ensure!(
        sim,
        header("X-Carrier-Account") == "acct-42",
        "trunk header missing on REFER"
    );
    ensure!(
        sim,
        sim.ua_ref(PLATFORM)
            .final_status(t.callee, "REFER")
            .is_none(),
        "platform's REFER answered before the carrier answered"
    );
    Ok(id)
}

/// Run until the platform's REFER got final `status`.
pub fn platform_refer_answered(sim: &mut Sim, t: &Transfer, status: u16) -> FlowResult {
    let callee = t.callee;
    let done = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "REFER").is_some(),
        STEP_MS,
    );
    let got = sim.ua_ref(PLATFORM).final_status(callee, "REFER");
    ensure!(
        sim,
        done && got == Some(status),
        "platform's REFER got {got:?}, expected {status}"
    );
    Ok(())
}

/// The carrier NOTIFYs `status` (sipfrag) and waits for its 200.
pub fn carrier_notifies(sim: &mut Sim, t: &Transfer, status: u16, terminated: bool) -> FlowResult {
    let before = sim
        .ua_ref(CARRIER)
        .statuses(t.caller, "NOTIFY")
        .iter()
        .filter(|s| **s == 200)
        .count();
    sim.ua(CARRIER).notify_sipfrag(t.caller, status, terminated);
    let caller = t.caller;
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .statuses(caller, "NOTIFY")
                .iter()
                .filter(|s| **s == 200)
                .count()
                > before
        },
        STEP_MS,
    );
    ensure!(sim, answered, "carrier's NOTIFY {status} not answered 200");
    Ok(())
}

/// The one transfer record, checked for what every flow shares.
pub fn the_record(sim: &Sim) -> Result<TransferRecord, String> {
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1,
        "expected one transfer record, got {records:?}"
    );
    let record = records[0].clone();
    ensure!(
        sim,
        record.record_type == "transfer" && record.trunk == "carrier",
        "record {record:?}"
    );
    ensure!(
        sim,
        record.target_e164.as_deref() == Some(TARGET) && record.target.contains(TARGET),
        "record target {:?} / {:?}",
        record.target,
        record.target_e164
    );
    ensure!(
        sim,
        record.kind == crate::transfer::TransferKind::Blind,
        "record kind {:?}",
        record.kind
    );
    let conversation = sim.events.iter().find_map(|(_, e)| match e {
        crate::core::Event::CallStarted { conversation, .. } => Some(conversation.clone()),
        _ => None,
    });
    ensure!(
        sim,
        conversation.as_deref() == Some(record.conversation.as_str()),
        "record conversation {} is not the call's",
        record.conversation
    );
    Ok(record)
}

pub(crate) fn check_record(
    sim: &Sim,
    outcome: TransferOutcome,
    refer_status: Option<u16>,
    notify_status: Option<u16>,
    fallback_status: Option<u16>,
    reason: &str,
) -> Result<TransferRecord, String> {
    let record = the_record(sim)?;
    ensure!(
        sim,
        record.outcome == outcome
            && record.refer_status.map(StatusCode::as_u16) == refer_status
            && record.notify_status.map(StatusCode::as_u16) == notify_status
            && record.fallback_status.map(StatusCode::as_u16) == fallback_status
            && record.reason == reason,
        "record {record:?}, expected {outcome:?} refer {refer_status:?} notify {notify_status:?} \
         fallback {fallback_status:?} reason {reason}"
    );
    let count = sim.metrics().transfers_with_outcome(outcome);
    ensure!(
        sim,
        count == 1,
        "metrics count {count} transfers {outcome:?}"
    );
    Ok(record)
}

/// The carrier takes the REFER and answers it with `status`; the platform's REFER gets 202.
pub(crate) fn carrier_answers_refer(sim: &mut Sim, t: &Transfer, status: u16) -> FlowResult {
    let refer = carrier_takes_refer(sim, t)?;
    sim.ua(CARRIER).answer(refer, status, None);
    platform_refer_answered(sim, t, 202)
}

/// The record of a transfer the carrier accepted and completed: released with its BYE, or (a
/// lossy link may hold that BYE back past `handoff_bye_after_ms`, issue 10) by handoff's.
pub(crate) fn check_handed_off(sim: &Sim) -> Result<TransferRecord, String> {
    let record = the_record(sim)?;
    let reason = match record.ended_by {
        Some(crate::transfer::LegEnder::Handoff) => "handoff_bye",
        _ => "carrier_bye",
    };
    check_record(
        sim,
        TransferOutcome::HandedOff,
        Some(202),
        Some(200),
        None,
        reason,
    )
}

/// The record of a REFER the carrier rejected with `code`, completed by the local fallback.
fn check_refer_rejected_fallback(sim: &Sim, code: u16) -> Result<TransferRecord, String> {
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(code),
        None,
        Some(200),
        "refer_rejected",
    )
}

/// The record of a fallback (after a carrier 403) that the customer's hang-up cancelled.
fn check_customer_hung_up(sim: &Sim) -> Result<TransferRecord, String> {
    check_record(
        sim,
        TransferOutcome::Cancelled,
        Some(403),
        None,
        None,
        "customer_hung_up",
    )
}

/// The call ended once with `reason`, all ports free.
pub(crate) fn ended_once(sim: &Sim, reason: &str) -> FlowResult {
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].end_reason == reason,
        "expected one CallEnded {reason}, got {ends:?}"
    );
    resources_released(sim)?;
    let sessions = sim.metrics().trunk_sessions_in_use;
    ensure!(
        sim,
        sessions.values().all(|n| *n == 0),
        "trunk sessions still counted in use: {sessions:?}"
    );
    Ok(())
}

/// The carrier hangs up; the party bridged to it (`peer`, `peer_dialog`) gets the BYE.
pub fn carrier_hangs_up(sim: &mut Sim, t: &Transfer, peer: usize) -> FlowResult {
    sim.ua(CARRIER).bye(t.caller);
    let caller = t.caller;
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(peer).dialogs().iter().any(|d| d.bye_received)
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier's BYE not answered or not relayed");
    Ok(())
}

// ---------------------------------------------------------------------------- flows

/// REFER accepted by the carrier, NOTIFY 100 and 200 relayed, carrier BYE: handed off.
pub fn blind_handoff(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    t.await_notify(sim, 100)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    ensure!(
        sim,
        sim.calls_active() == 1,
        "call ended before the carrier released it"
    );
    sim.ua(CARRIER).bye(t.caller);
    let (caller, callee) = (t.caller, t.callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier BYE not answered, or platform not BYEd");
    check_handed_off(sim)?;
    ensure!(
        sim,
        sim.metrics().total_sessions_saved() == 2,
        "sessions saved {}",
        sim.metrics().total_sessions_saved()
    );
    ensure!(
        sim,
        sim.metrics().refer_success_rate() == Some(1.0),
        "REFER success rate {:?}",
        sim.metrics().refer_success_rate()
    );
    ended_once(sim, "handed_off")
}

/// Run until the partner got leg C's INVITE; takes it and returns it with its dialog.
pub(crate) fn partner_takes_invite(sim: &mut Sim) -> Result<(super::RequestId, DialogId), String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PARTNER).has_request("INVITE"), STEP_MS),
        "partner got no INVITE"
    );
    let Some(invite) = sim.ua(PARTNER).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let Some(partner) = sim.ua_ref(PARTNER).incoming(invite).dialog else {
        return Err("no dialog".into());
    };
    Ok((invite, partner))
}

/// The partner's INVITE (leg C): checks its G.711 offer (PCMA: the partner trunk's codec) and
/// the platform's identity routing; answers 180 then `status`.
pub(crate) fn partner_answers(sim: &mut Sim, status: u16) -> Result<DialogId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PARTNER).has_request("INVITE"), STEP_MS),
        "partner got no INVITE (leg C)"
    );
    let Some(invite) = sim.ua(PARTNER).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let incoming = sim.ua_ref(PARTNER).incoming(invite).clone();
    let offer = String::from_utf8_lossy(&incoming.body()).into_owned();
    ensure!(
        sim,
        offer.contains("PCMA/8000") && !offer.contains("PCMU") && !offer.contains("G729"),
        "leg C offer is not the partner trunk's G.711: {offer}"
    );
    ensure!(
        sim,
        incoming.header("To").is_some_and(|to| to.contains(TARGET)),
        "leg C not addressed to the target: {:?}",
        incoming.header("To")
    );
    let Some(dialog) = incoming.dialog else {
        return Err("INVITE made no dialog".into());
    };
    if status == 200 {
        // A failure goes out alone: the sim UA does not retransmit non-2xx finals, so a lost one
        // after a provisional would leave the INVITE hanging until Timer C.
        sim.ua(PARTNER).answer(invite, 180, None);
    }
    let sdp = (status == 200).then(|| sdp_with("10.0.0.3", 6000, "sendrecv", &[8]));
    sim.ua(PARTNER).answer(invite, status, sdp);
    Ok(dialog)
}

/// After the platform got 202 (fallback decided): leg C answers, A and C are bridged, the
/// platform is told 200 and hangs up; then the carrier ends the call.
pub fn local_transfer_succeeds(sim: &mut Sim, t: &mut Transfer) -> Result<DialogId, String> {
    // Inbound: the customer (PCMU) is at position A, leg C (PCMA) takes B.
    local_transfer_bridges(sim, t, (G711Law::Ulaw, G711Law::Alaw))
}

/// [`local_transfer_succeeds`] with the relay's laws `(a, b)` the bridge must set (they follow
/// the customer's position: A on inbound calls, B on dialer calls).
pub(crate) fn local_transfer_bridges(
    sim: &mut Sim,
    t: &mut Transfer,
    laws: (G711Law, G711Law),
) -> Result<DialogId, String> {
    let partner = partner_answers(sim, 200)?;
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0,
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    t.await_notify(sim, 200)?;
    ensure!(
        sim,
        sim.media.iter().any(|(_, c)| matches!(
            c,
            MediaCommand::SetLaws { a: Some(a), b: Some(b), .. } if (*a, *b) == laws
        )),
        "no SetLaws {laws:?}"
    );
    // The platform leaves; the customer stays, now with the partner.
    sim.ua(PLATFORM).bye(t.callee);
    let callee = t.callee;
    let gone = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE").is_some(),
        STEP_MS,
    );
    ensure!(sim, gone, "platform's BYE unanswered");
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(t.caller).bye_received,
        "the customer got a BYE"
    );
    ensure!(
        sim,
        sim.calls_active() == 1,
        "A <-> C call not up ({} calls)",
        sim.calls_active()
    );
    Ok(partner)
}

fn bridged_call_ends(sim: &mut Sim, t: &Transfer, partner: DialogId) -> FlowResult {
    carrier_hangs_up(sim, t, PARTNER)?;
    ensure!(
        sim,
        sim.ua_ref(PARTNER).dialog(partner).bye_received,
        "leg C not BYEd"
    );
    ended_once(sim, "bye_from_a")
}

/// The carrier rejects the REFER with `code`: handoff answers 202 and transfers locally.
pub fn refer_rejected_fallback(sim: &mut Sim, code: u16) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, code)?;
    let partner = local_transfer_succeeds(sim, &mut t)?;
    check_refer_rejected_fallback(sim, code)?;
    bridged_call_ends(sim, &t, partner)
}

/// The carrier never answers the REFER: after refer_timeout_ms, local transfer.
pub fn refer_timeout_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let asked = sim.now;
    let _ignored = carrier_takes_refer(sim, &t)?;
    platform_refer_answered(sim, &t, 202)?;
    let waited = sim.now.millis_since(asked);
    ensure!(
        sim,
        waited >= sim.config.sbc.refer_timeout_ms,
        "202 after {waited} ms, before the REFER timeout"
    );
    let partner = local_transfer_succeeds(sim, &mut t)?;
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        None,
        None,
        Some(200),
        "timeout",
    )?;
    bridged_call_ends(sim, &t, partner)
}

/// The carrier accepts, then NOTIFYs 486: local transfer.
pub fn sipfrag_failure_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 486, true)?;
    let partner = local_transfer_succeeds(sim, &mut t)?;
    ensure!(
        sim,
        !t.notified.contains(&486),
        "the carrier's 486 reached the platform although the fallback worked"
    );
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(202),
        Some(486),
        Some(200),
        "sipfrag_failure",
    )?;
    bridged_call_ends(sim, &t, partner)
}

/// REFER 403, then the target is busy: the platform hears 486, the customer stays with it.
pub fn fallback_target_busy(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
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
    ensure!(
        sim,
        sim.calls_active() == 1 && !sim.ua_ref(CARRIER).dialog(t.caller).bye_received,
        "the customer lost the platform"
    );
    ensure!(
        sim,
        sim.media_ports_in_use() == 2,
        "leg C's port not freed ({} held)",
        sim.media_ports_in_use()
    );
    // Back with the agent: the call works as before.
    sim.ua(PLATFORM).bye(t.callee);
    let caller = t.caller;
    let done = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(sim, done, "platform's BYE not relayed to the customer");
    ended_once(sim, "bye_from_b")
}

/// on_refer_failure = "reject": the platform gets the carrier's 603, nothing else changes.
pub fn reject_mode(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
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
    sim.run_for(1_000);
    ensure!(
        sim,
        !sim.ua_ref(PARTNER).has_request("INVITE") && sim.calls_active() == 1,
        "reject mode did something beyond relaying the code"
    );
    sim.ua(PLATFORM).bye(t.callee);
    let caller = t.caller;
    let done = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(sim, done, "platform's BYE not relayed");
    ended_once(sim, "bye_from_b")
}

/// transfer = "local": no REFER to the carrier, straight to the local transfer.
pub fn local_mode(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    platform_refer_answered(sim, &t, 202)?;
    let partner = local_transfer_succeeds(sim, &mut t)?;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER"),
        "a REFER reached a carrier set to transfer = local"
    );
    let record = check_record(
        sim,
        TransferOutcome::FallbackLocal,
        None,
        None,
        Some(200),
        "local_method",
    )?;
    ensure!(
        sim,
        record.method == TransferMethod::Local,
        "record method {:?}",
        record.method
    );
    bridged_call_ends(sim, &t, partner)
}

/// The platform hangs up right after the 202: leg A stays until the carrier's BYE.
pub fn early_transferor_bye(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    sim.ua(PLATFORM).bye(t.callee);
    let callee = t.callee;
    let gone = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE") == Some(200),
        STEP_MS,
    );
    ensure!(sim, gone, "platform's early BYE not answered 200");
    sim.run_for(300);
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(t.caller).bye_received && sim.calls_active() == 1,
        "the platform's BYE killed leg A before the carrier's BYE"
    );
    carrier_notifies(sim, &t, 200, true)?;
    sim.ua(CARRIER).bye(t.caller);
    let caller = t.caller;
    let done = sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200),
        STEP_MS,
    );
    ensure!(sim, done, "carrier's BYE unanswered");
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("NOTIFY"),
        "NOTIFY sent to a platform that hung up"
    );
    check_handed_off(sim)?;
    ended_once(sim, "handed_off")
}

/// The call runs on G.729 (config [`g729_config`]); REFER 403; the partner answers PCMA: the
/// customer is re-INVITEd with a G.711-only offer and the relay transcodes PCMU <-> PCMA.
pub fn pcmu_pcma_bridging(sim: &mut Sim) -> FlowResult {
    let caller = sim.ua(CARRIER).invite(
        PLATFORM_NUMBER,
        Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[18, 0])),
    );
    let invite = platform_takes_invite(sim)?;
    let Some(callee) = sim.ua_ref(PLATFORM).incoming(invite).dialog else {
        return Err("no dialog".into());
    };
    sim.ua(PLATFORM).answer(
        invite,
        200,
        Some(sdp_with("10.0.0.2", 5000, "sendrecv", &[18, 0])),
    );
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "G.729 call not established");
    // The customer answers the G.711 re-INVITE with PCMU.
    sim.ua(CARRIER).auto_answer_sdp = Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[0]));
    let mut t = platform_refers(sim, caller, callee, true);
    carrier_answers_refer(sim, &t, 403)?;
    let partner = partner_answers(sim, 200)?;
    t.await_notify(sim, 200)?;
    let relayed = sim.run_until(
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
    ensure!(sim, relayed, "no SetLaws PCMU <-> PCMA after the re-INVITE");
    let reinvite = sim
        .ua_ref(CARRIER)
        .received
        .iter()
        .filter_map(|bytes| sipwire::Message::parse(bytes).ok().map(|m| (bytes, m)))
        .find(|(_, m)| m.method() == Some("INVITE"))
        .map(|(bytes, _)| String::from_utf8_lossy(bytes).into_owned());
    let Some(reinvite) = reinvite else {
        return Err(format!(
            "t={} ms: the customer got no re-INVITE",
            sim.now.as_millis()
        ));
    };
    ensure!(
        sim,
        reinvite.contains("m=audio")
            && reinvite.contains("RTP/AVP 0 101")
            && !reinvite.contains("G729")
            && reinvite.contains("a=sendrecv"),
        "re-INVITE offer is not G.711-only sendrecv: {reinvite}"
    );
    // The platform leaves after the grace period's BYE from handoff.
    let callee = t.callee;
    let torn = sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS);
    ensure!(
        sim,
        torn,
        "handoff did not end the platform leg after the grace"
    );
    check_refer_rejected_fallback(sim, 403)?;
    bridged_call_ends(sim, &t, partner)
}

/// ringback = "local" (UK): ringback toward the customer from the REFER until the carrier's
/// release; in the customer's law.
pub fn ringback_commands(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let refer = carrier_takes_refer(sim, &t)?;
    let started = sim.media.iter().position(|(_, c)| {
        matches!(
            c,
            MediaCommand::StartRingback {
                toward: MediaSide::A,
                tone: RingbackTone::Uk,
                law: G711Law::Ulaw,
                ..
            }
        )
    });
    ensure!(
        sim,
        started.is_some(),
        "no StartRingback toward A (uk, PCMU) while the carrier works: {:?}",
        sim.media
    );
    sim.ua(CARRIER).answer(refer, 202, None);
    platform_refer_answered(sim, &t, 202)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    let position =
        |wanted: fn(&MediaCommand) -> bool| sim.media.iter().position(|(_, c)| wanted(c));
    let stopped = position(|c| matches!(c, MediaCommand::StopRingback { .. }));
    let closed = position(|c| matches!(c, MediaCommand::Close { .. }));
    ensure!(
        sim,
        started < stopped && stopped < closed,
        "ringback order start {started:?} stop {stopped:?} close {closed:?}"
    );
    check_handed_off(sim)?;
    ended_once(sim, "handed_off")
}

/// Refer-Sub: false (RFC 4488): the platform's 202 says so and it gets no NOTIFY; the carrier's
/// NOTIFYs are still answered.
pub fn refer_sub_false(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, false)?;
    carrier_answers_refer(sim, &t, 202)?;
    let accepted = sim
        .ua_ref(PLATFORM)
        .responses
        .iter()
        .find(|r| r.method == "REFER" && r.status == 202);
    let says_no_sub = accepted.is_some_and(|r| {
        String::from_utf8_lossy(&r.bytes)
            .to_ascii_lowercase()
            .contains("refer-sub: false")
    });
    ensure!(sim, says_no_sub, "202 without Refer-Sub: false");
    carrier_notifies(sim, &t, 200, true)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("NOTIFY"),
        "NOTIFY sent despite Refer-Sub: false"
    );
    check_handed_off(sim)?;
    ended_once(sim, "handed_off")
}

/// The carrier's final NOTIFY and its BYE leave together (either may arrive first): both get
/// 200, never 481, and the call is handed off.
pub fn final_notify_racing_bye(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    sim.ua(CARRIER).notify_sipfrag(t.caller, 200, true);
    sim.ua(CARRIER).bye(t.caller);
    let caller = t.caller;
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "NOTIFY").is_some()
                && s.ua_ref(CARRIER).final_status(caller, "BYE").is_some()
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier's NOTIFY or BYE unanswered");
    let statuses = sim.ua_ref(CARRIER).statuses(t.caller, "NOTIFY");
    ensure!(
        sim,
        statuses == vec![200] && sim.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200),
        "NOTIFY answered {statuses:?}"
    );
    let callee = t.callee;
    let torn = sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS);
    ensure!(sim, torn, "platform not BYEd");
    // Answer whatever NOTIFY reached the platform, then let retransmissions die out.
    sim.run_for(2_000);
    while let Some(id) = sim.ua(PLATFORM).take_request("NOTIFY") {
        sim.ua(PLATFORM).answer(id, 200, None);
    }
    sim.run_for(40_000);
    let record = the_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::HandedOff,
        "record {record:?}"
    );
    ensure!(
        sim,
        sim.ua_ref(CARRIER).statuses(t.caller, "NOTIFY") == vec![200],
        "a 481 reached the carrier"
    );
    ended_once(sim, "handed_off")
}

/// The platform put the customer on hold before the transfer; after the local transfer the
/// customer is re-INVITEd back to sendrecv.
pub fn held_customer_fallback(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(CARRIER).auto_answer_sdp = Some(sdp_with("10.0.0.1", 4000, "recvonly", &[0, 8]));
    sim.ua(PLATFORM)
        .reinvite(callee, sdp_with("10.0.0.2", 5000, "sendonly", &[0, 8]));
    let held = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "INVITE") == Some(200),
        STEP_MS,
    );
    ensure!(sim, held, "hold re-INVITE not answered");
    let invites_before = count_invites(sim);
    sim.ua(CARRIER).auto_answer_sdp = Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[0]));
    let mut t = platform_refers(sim, caller, callee, true);
    carrier_answers_refer(sim, &t, 403)?;
    let partner = local_transfer_succeeds(sim, &mut t)?;
    let resumed = sim.run_until(|s| count_invites(s) > invites_before, STEP_MS);
    ensure!(sim, resumed, "the held customer got no re-INVITE");
    let reinvite = sim
        .ua_ref(CARRIER)
        .received
        .iter()
        .rev()
        .find(|b| b.starts_with(b"INVITE "))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    ensure!(
        sim,
        reinvite.contains("a=sendrecv") && reinvite.contains("RTP/AVP 0 8 101"),
        "re-INVITE is not G.711 sendrecv: {reinvite}"
    );
    check_refer_rejected_fallback(sim, 403)?;
    bridged_call_ends(sim, &t, partner)
}

fn count_invites(sim: &Sim) -> usize {
    let mut branches: Vec<String> = sim
        .ua_ref(CARRIER)
        .received
        .iter()
        .filter(|b| b.starts_with(b"INVITE "))
        .filter_map(|b| {
            let m = sipwire::Message::parse(b).ok()?;
            m.via_branch().map(str::to_string)
        })
        .collect();
    branches.sort();
    branches.dedup();
    branches.len()
}

/// Leg C rings (180: ringback, "auto"), then sends early media (183 with SDP): ringback stops and
/// the relay's b side moves to C's port at once (the customer hears the target), then C answers.
pub fn fallback_early_media(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 403)?;
    let (invite, partner) = partner_takes_invite(sim)?;
    let media = sdp_with("10.0.0.3", 6000, "sendrecv", &[8]);
    sim.ua(PARTNER).answer(invite, 180, None);
    sim.run_for(200);
    sim.ua(PARTNER).answer(invite, 183, Some(media.clone()));
    sim.run_for(500);
    sim.ua(PARTNER).answer(invite, 200, Some(media));
    t.await_notify(sim, 200)?;
    let to_partner = sim.media.iter().any(|(_, c)| {
        matches!(c, MediaCommand::Update { b, .. }
            if b.remote_rtp == "10.0.0.3:6000".parse().ok())
    });
    ensure!(sim, to_partner, "media never moved to the partner");
    sim.ua(PLATFORM).bye(t.callee);
    let callee = t.callee;
    let gone = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE").is_some(),
        STEP_MS,
    );
    ensure!(sim, gone, "platform's BYE unanswered");
    check_refer_rejected_fallback(sim, 403)?;
    bridged_call_ends(sim, &t, partner)
}

/// The customer hangs up while leg C rings: C is CANCELled, the platform hears 487 and is BYEd,
/// the record says "cancelled", every port is freed.
pub fn customer_hangs_up_during_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 403)?;
    let (invite, partner) = partner_takes_invite(sim)?;
    sim.ua(PARTNER).answer(invite, 180, None);
    sim.run_for(200);
    sim.ua(CARRIER).bye(t.caller);
    let (caller, callee) = (t.caller, t.callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
                && s.ua_ref(PARTNER).dialog(partner).final_status == Some(487)
        },
        STEP_MS,
    );
    ensure!(
        sim,
        done,
        "customer's BYE: carrier BYE {:?}, platform BYEd {}, leg C {:?}",
        sim.ua_ref(CARRIER).final_status(caller, "BYE"),
        sim.ua_ref(PLATFORM).dialog(callee).bye_received,
        sim.ua_ref(PARTNER).dialog(partner).final_status
    );
    t.read_notifies(sim)?;
    check_customer_hung_up(sim)?;
    sim.run_for(5_000);
    ended_once(sim, "bye_from_a")
}

/// The shard drains while leg C rings: at the deadline both legs are BYEd, leg C is CANCELled,
/// and the running attempt still writes its record ("cancelled").
pub fn drain_during_fallback(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 403)?;
    let (invite, partner) = partner_takes_invite(sim)?;
    sim.ua(PARTNER).answer(invite, 180, None);
    let deadline = sim.now.plus_millis(1_000);
    for shard in 0..sim.shards().len() {
        sim.send_shard_message(
            crate::core::ShardId(shard as u16),
            crate::core::ShardMessage::Drain { deadline },
        );
    }
    let (caller, callee) = (t.caller, t.callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).bye_received
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
                && s.ua_ref(PARTNER).dialog(partner).final_status == Some(487)
        },
        STEP_MS,
    );
    ensure!(sim, done, "drain did not end legs A, B and C");
    sim.run_for(5_000);
    check_customer_hung_up(sim)?;
    ended_once(sim, "drain")
}

/// Whether leg C's INVITE ever reached the partner (the target's trunk).
pub(crate) fn partner_invited(sim: &Sim) -> bool {
    sim.ua_ref(PARTNER)
        .received
        .iter()
        .any(|b| b.starts_with(b"INVITE "))
}

/// The carrier BYEs the customer's leg; the platform leg is BYEd too.
pub(crate) fn carrier_releases(sim: &mut Sim, t: &Transfer) -> FlowResult {
    sim.ua(CARRIER).bye(t.caller);
    let (caller, callee) = (t.caller, t.callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier BYE not answered, or platform not BYEd");
    Ok(())
}

/// The target rings 30 s at the carrier: NOTIFY 100, then 30 s of silence (far past
/// refer_timeout_ms), then NOTIFY 200 and the carrier's BYE. After its 2xx the carrier owns the
/// transfer until its final NOTIFY (RFC 3515 section 2.4.4: "The lifetime of the state being
/// subscribed to is determined by the progress of the referenced request"): handoff relays both
/// NOTIFYs, never INVITEs the target itself, and the call is handed off.
pub fn slow_carrier_notifies(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    t.await_notify(sim, 100)?;
    let quiet_from = sim.now;
    sim.run_for(30_000);
    t.read_notifies(sim)?;
    ensure!(
        sim,
        sim.now.millis_since(quiet_from) > 3 * sim.config.sbc.refer_timeout_ms,
        "the gap is not longer than refer_timeout_ms"
    );
    ensure!(
        sim,
        !partner_invited(sim),
        "handoff INVITEd the target while the carrier was connecting it"
    );
    ensure!(
        sim,
        t.notified.iter().all(|s| *s == 100),
        "the platform heard {:?} during the carrier's silence",
        t.notified
    );
    ensure!(
        sim,
        sim.transfers().is_empty() && sim.calls_active() == 1,
        "the transfer ended during the carrier's silence: {:?}",
        sim.transfers()
    );
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_releases(sim, &t)?;
    ensure!(sim, !partner_invited(sim), "handoff INVITEd the target");
    check_handed_off(sim)?;
    ended_once(sim, "handed_off")
}

/// The carrier's 202 comes after refer_timeout_ms: handoff has answered the platform 202 and
/// INVITEd the target (leg C). An accepting carrier goes on to call the target (RFC 3515
/// section 2.4.2: "If a REFER request is accepted (that is, a 2xx class response is returned),
/// the recipient MUST create a subscription and send notifications of the status of the
/// refer"), so leg C is CANCELled (the relay leaves its early media); the carrier's NOTIFY 200
/// reaches the platform (never a 408) and its BYE hands the call off.
pub fn late_refer_accept_during_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let refer = carrier_takes_refer(sim, &t)?;
    platform_refer_answered(sim, &t, 202)?;
    let (invite, partner) = partner_takes_invite(sim)?;
    sim.ua(PARTNER).answer(invite, 180, None);
    sim.run_for(200);
    t.read_notifies(sim)?;
    let early = sdp_with("10.0.0.3", 6000, "sendrecv", &[8]);
    sim.ua(PARTNER).answer(invite, 183, Some(early));
    sim.run_for(200);
    t.read_notifies(sim)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    let cancelled = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).final_status == Some(487),
        STEP_MS,
    );
    ensure!(
        sim,
        cancelled,
        "leg C not CANCELled after the carrier's 202"
    );
    let partner_rtp = "10.0.0.3:6000".parse().ok();
    let last_update = sim.media.iter().rev().find_map(|(_, c)| match c {
        MediaCommand::Update { b, .. } => Some(b.remote_rtp),
        _ => None,
    });
    ensure!(
        sim,
        last_update.is_none_or(|rtp| rtp != partner_rtp),
        "the relay still points at leg C's early media: {last_update:?}"
    );
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_releases(sim, &t)?;
    t.read_notifies(sim)?;
    ensure!(
        sim,
        !t.notified.contains(&408),
        "the platform heard 408: {:?}",
        t.notified
    );
    ensure!(
        sim,
        !sim.ua_ref(PARTNER).dialog(partner).bye_received,
        "leg C was answered"
    );
    sim.run_for(5_000);
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

/// Every flow with the config it needs, for the seed sweep: (name, config, flow). Every `pub fn`
/// flow of this module is here (`tests/sim_transfer_seed_sweep.rs` checks the count).
pub type NamedFlow = (
    &'static str,
    fn() -> Arc<Config>,
    fn(&mut Sim) -> FlowResult,
);

/// The standard config plus a carrier trunk header (REFER headers are checked).
pub fn standard() -> Arc<Config> {
    carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
        RingbackTone::Us,
    )
}

pub const FLOWS: &[NamedFlow] = &[
    ("blind_handoff", standard, blind_handoff),
    ("refer_403_fallback", standard, |s| {
        refer_rejected_fallback(s, 403)
    }),
    ("refer_603_fallback", standard, |s| {
        refer_rejected_fallback(s, 603)
    }),
    ("refer_481_fallback", standard, |s| {
        refer_rejected_fallback(s, 481)
    }),
    ("refer_timeout_fallback", standard, refer_timeout_fallback),
    (
        "sipfrag_failure_fallback",
        standard,
        sipfrag_failure_fallback,
    ),
    ("fallback_target_busy", standard, fallback_target_busy),
    ("reject_mode", reject_mode_config, reject_mode),
    ("local_mode", local_mode_config, local_mode),
    ("early_transferor_bye", standard, early_transferor_bye),
    ("pcmu_pcma_bridging", g729_config, pcmu_pcma_bridging),
    (
        "ringback_commands",
        ringback_local_config,
        ringback_commands,
    ),
    ("refer_sub_false", standard, refer_sub_false),
    ("final_notify_racing_bye", standard, final_notify_racing_bye),
    ("held_customer_fallback", standard, held_customer_fallback),
    ("fallback_early_media", standard, fallback_early_media),
    (
        "customer_hangs_up_during_fallback",
        standard,
        customer_hangs_up_during_fallback,
    ),
    ("drain_during_fallback", standard, drain_during_fallback),
    ("slow_carrier_notifies", standard, slow_carrier_notifies),
    (
        "late_refer_accept_during_fallback",
        standard,
        late_refer_accept_during_fallback,
    ),
];
