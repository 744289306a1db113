//! Carrier timing and the refer subscription (issue 10, items 1, 5 and 10), shared by the
//! tests/sim_timing_*.rs files and the timing seed sweep (`tests/sim_timing_seed_sweep.rs`).
//! Like [`super::transfer_flows`], each flow checks only what holds on any link profile (loss,
//! duplication, reordering): final codes, who got a BYE, the audit record.
//!
//! What the flows derive from:
//! - RFC 3515 section 2.4.4: "The lifetime of the state being subscribed to is determined by
//!   the progress of the referenced request"; "The creation of a subscription as defined by [2]
//!   always results in an immediate NOTIFY"; "If a SUBSCRIBE request for event refer is received
//!   for a subscription that does not already exist, it MUST be rejected with a 403."
//! - RFC 3515 section 2.4.6: "for the second and subsequent REFER requests a UA receives in a
//!   given dialog, it MUST include an id parameter[2] in the Event header field of each NOTIFY
//!   containing the sequence number (the number from the CSeq header field value) of the REFER".
//! - RFC 6665 section 4.1.3: a NOTIFY with `Subscription-State: terminated` ends the
//!   subscription.
//! - RFC 5589 section 6.1: after the final NOTIFY 200 the transferor ends its dialog with BYE.
//! - RFC 7647 section 5: "MUST treat any 202 responses received as identical to a 200 response".

use std::sync::Arc;

use super::scenarios::{FlowResult, STEP_MS};
use super::transfer_flows::{
    Transfer, call_and_refer, carrier_answers_refer, carrier_notifies, carrier_releases,
    carrier_takes_refer, check_handed_off, check_record, ended_once, partner_answers,
    partner_invited, platform_refer_answered, reject_mode_config, sipfrag_status, standard,
    the_record,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, Sim};
use crate::config::Config;
use crate::transfer::{LegEnder, TransferOutcome};

/// The carrier trunk's `transfer_timeout_s` in [`short_transfer_timeout`].
pub const SHORT_TRANSFER_TIMEOUT_S: u64 = 20;

/// The standard config with the carrier trunk's `transfer_timeout_s` at
/// [`SHORT_TRANSFER_TIMEOUT_S`] (the `[sbc]` default of 120 stays).
pub fn short_transfer_timeout() -> Arc<Config> {
    let mut config = (*standard()).clone();
    config.trunks[0].transfer_timeout_s = Some(SHORT_TRANSFER_TIMEOUT_S);
    Arc::new(config)
}

/// [`short_transfer_timeout`] with `on_refer_failure = "reject"`.
pub fn short_transfer_timeout_reject() -> Arc<Config> {
    let mut config = (*reject_mode_config()).clone();
    config.trunks[0].transfer_timeout_s = Some(SHORT_TRANSFER_TIMEOUT_S);
    Arc::new(config)
}

/// The platform trunk answers accepted REFERs 200 (`refer_response = 200`).
pub fn refer_response_200() -> Arc<Config> {
    let mut config = (*standard()).clone();
    config.trunks[1].refer_response = crate::vocab::StatusCode::OK;
    Arc::new(config)
}

/// The NOTIFYs the platform holds, answered 200: (Event, Subscription-State, sipfrag status).
fn platform_notifies(sim: &mut Sim, t: &Transfer) -> Result<Vec<(String, String, u16)>, String> {
    let mut seen = Vec::new();
    while let Some(id) = sim.ua(PLATFORM).take_request("NOTIFY") {
        let incoming = sim.ua_ref(PLATFORM).incoming(id).clone();
        ensure!(
            sim,
            incoming.dialog == Some(t.callee),
            "NOTIFY outside the platform's dialog"
        );
        let status = sipfrag_status(&incoming.body());
        sim.ua(PLATFORM).answer(id, 200, None);
        seen.push((
            incoming.header("Event").unwrap_or_default(),
            incoming.header("Subscription-State").unwrap_or_default(),
            status.unwrap_or(0),
        ));
    }
    Ok(seen)
}

/// Runs until the platform got a NOTIFY with `status`; returns every NOTIFY it got meanwhile.
fn await_platform_notify(
    sim: &mut Sim,
    t: &Transfer,
    status: u16,
    seen: &mut Vec<(String, String, u16)>,
) -> FlowResult {
    loop {
        seen.extend(platform_notifies(sim, t)?);
        if seen.iter().any(|(_, _, s)| *s == status) {
            return Ok(());
        }
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(PLATFORM).has_request("NOTIFY"), STEP_MS),
            "platform got no NOTIFY {status} (saw {seen:?})"
        );
    }
}

/// A NOTIFY from the carrier with these Event and Subscription-State values; waits for its
/// final response and returns it.
fn carrier_notify_with(
    sim: &mut Sim,
    dialog: DialogId,
    event: &str,
    state: &str,
    status: u16,
) -> Result<u16, String> {
    let before = sim.ua_ref(CARRIER).statuses(dialog, "NOTIFY").len();
    let body = format!("SIP/2.0 {status} Whatever\r\n").into_bytes();
    sim.ua(CARRIER).request(
        dialog,
        "NOTIFY",
        Some(("message/sipfrag;version=2.0", body)),
        &[("Event", event), ("Subscription-State", state)],
    );
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .statuses(dialog, "NOTIFY")
                .iter()
                .skip(before)
                .any(|s| *s >= 200)
        },
        STEP_MS,
    );
    ensure!(sim, answered, "carrier's NOTIFY {status} not answered");
    let statuses = sim.ua_ref(CARRIER).statuses(dialog, "NOTIFY");
    Ok(statuses
        .iter()
        .skip(before)
        .copied()
        .find(|s| *s >= 200)
        .unwrap_or(0))
}

/// Item 1 (the SIPp scenario's flow): the carrier accepts, NOTIFYs 100 and 180, is silent for
/// 10 s (far past `refer_timeout_ms`), then NOTIFYs 200 and BYEs. handoff never INVITEs the
/// target (the "double dial"), relays all three, and the call is handed off by the carrier.
pub fn slow_target_rings_10_s(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 180, false)?;
    t.await_notify(sim, 180)?;
    sim.run_for(10_000);
    ensure!(
        sim,
        !partner_invited(sim),
        "handoff INVITEd the target while the carrier's target rang"
    );
    ensure!(
        sim,
        sim.transfers().is_empty(),
        "the transfer ended while the carrier worked: {:?}",
        sim.transfers()
    );
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_releases(sim, &t)?;
    ensure!(sim, !partner_invited(sim), "handoff INVITEd the target");
    check_handed_off(sim)?;
    ended_once(sim, "handed_off")
}

/// Item 1: the carrier accepted and NOTIFYed 100, then says nothing for the carrier trunk's
/// `transfer_timeout_s` while the agent is still on the call. The platform gets NOTIFY 408
/// (terminated), the customer stays with the agent (no BYE to the carrier), the target is never
/// dialled, and the record says failed / transfer_timeout.
pub fn transfer_timeout_agent_present(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    let mut seen = Vec::new();
    await_platform_notify(sim, &t, 408, &mut seen)?;
    ensure!(
        sim,
        seen.iter()
            .any(|(_, state, s)| *s == 408 && state.starts_with("terminated")),
        "NOTIFY 408 does not end the subscription: {seen:?}"
    );
    ensure!(sim, !partner_invited(sim), "handoff dialled the target");
    let record = check_record(
        sim,
        TransferOutcome::Failed,
        Some(202),
        Some(100),
        None,
        "transfer_timeout",
    )?;
    ensure!(
        sim,
        record.duration_ms >= SHORT_TRANSFER_TIMEOUT_S * 1_000,
        "timed out after {} ms",
        record.duration_ms
    );
    let caller = t.caller;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(caller).bye_received && sim.calls_active() == 1,
        "the customer was released while the agent was there"
    );
    // The customer and the agent talk on; the agent hangs up in the end.
    sim.ua(PLATFORM).bye(t.callee);
    let done = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(sim, done, "the agent's BYE did not reach the customer");
    sim.run_for(2_000);
    ensure!(sim, sim.calls_active() == 0, "call still up");
    Ok(())
}

/// Item 1: as [`transfer_timeout_agent_present`], but the agent hung up after the 202. With
/// `on_refer_failure = "local"` handoff now dials the target itself so the caller is not left
/// in silence; the record says fallback_local / transfer_timeout.
pub fn transfer_timeout_agent_gone_local(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    sim.ua(PLATFORM).bye(t.callee);
    let callee = t.callee;
    let done = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE").is_some(),
        STEP_MS,
    );
    ensure!(sim, done, "the agent's BYE got no answer");
    ensure!(
        sim,
        !partner_invited(sim),
        "handoff dialled the target before transfer_timeout_s"
    );
    let partner = partner_answers(sim, 200)?;
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0 && !s.transfers().is_empty(),
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(202),
        Some(100),
        Some(200),
        "transfer_timeout",
    )?;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(t.caller).bye_received && sim.calls_active() == 1,
        "the customer is not bridged to the target"
    );
    Ok(())
}

/// Item 1: agent gone, `on_refer_failure = "reject"`: at `transfer_timeout_s` the customer is
/// released (nobody is left on handoff's side), the target is never dialled; failed /
/// transfer_timeout.
pub fn transfer_timeout_agent_gone_reject(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    sim.ua(PLATFORM).bye(t.callee);
    let caller = t.caller;
    let done = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(
        sim,
        done,
        "the customer was not released at transfer_timeout_s"
    );
    ensure!(sim, !partner_invited(sim), "handoff dialled the target");
    check_record(
        sim,
        TransferOutcome::Failed,
        Some(202),
        Some(100),
        None,
        "transfer_timeout",
    )?;
    sim.run_for(2_000);
    ended_once(sim, "transfer_failed")
}

/// Item 5, first bullet: a `transfer = "local"` trunk; handoff accepts the REFER itself, so
/// the platform gets 202 and at once NOTIFY 100 (before the target even rings), with
/// `expires` at least `transfer_timeout_s` (120) on its Subscription-State.
pub fn local_accept_notifies_100(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    platform_refer_answered(sim, &t, 202)?;
    let mut seen = Vec::new();
    await_platform_notify(sim, &t, 100, &mut seen)?;
    let trying = seen.iter().find(|(_, _, s)| *s == 100);
    ensure!(
        sim,
        trying.is_some_and(|(event, state, _)| event == "refer" && state == "active;expires=120"),
        "NOTIFY 100 {trying:?}"
    );
    partner_answers(sim, 200)?;
    await_platform_notify(sim, &t, 200, &mut seen)?;
    Ok(())
}

/// Item 5, first bullet, on a fallback: the carrier refuses (403), handoff answers the
/// platform 202 and NOTIFYs 100 at once, then completes the local transfer.
pub fn fallback_accept_notifies_100(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER).answer(refer, 403, None);
    platform_refer_answered(sim, &t, 202)?;
    let mut seen = Vec::new();
    await_platform_notify(sim, &t, 100, &mut seen)?;
    partner_answers(sim, 200)?;
    await_platform_notify(sim, &t, 200, &mut seen)?;
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(403),
        None,
        Some(200),
        "refer_rejected",
    )?;
    Ok(())
}

/// Item 5, second bullet: a second REFER in the platform's dialog. REFER #1 fails at the
/// carrier (sipfrag 503, reject mode); REFER #2 is relayed as handoff's second REFER in the
/// carrier's dialog. A late NOTIFY of REFER #1 (no id: the first REFER's) gets 481 and drives
/// nothing; the carrier's NOTIFYs naming REFER #2 by id are relayed to the platform with
/// `Event: refer;id=<CSeq of the platform's REFER #2>`.
pub fn second_refer_notifies_carry_id(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 503, true)?;
    let mut seen = Vec::new();
    await_platform_notify(sim, &t, 503, &mut seen)?;
    ensure!(
        sim,
        seen.iter().all(|(event, _, _)| event == "refer"),
        "NOTIFYs of the first REFER carry an id: {seen:?}"
    );
    // REFER #2 from the platform.
    sim.ua(PLATFORM).refer(
        t.callee,
        super::transfer_flows::PLATFORM_REFER_TO,
        &[
            ("Referred-By", super::transfer_flows::PLATFORM_REFERRED_BY),
            (
                "P-Asserted-Identity",
                super::transfer_flows::PLATFORM_IDENTITY,
            ),
        ],
    );
    let platform_cseq = sim.ua_ref(PLATFORM).dialog(t.callee).local_cseq;
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no second REFER"
    );
    let Some(refer) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let carrier_cseq: u32 = sim
        .ua_ref(CARRIER)
        .incoming(refer)
        .header("CSeq")
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    sim.ua(CARRIER).answer(refer, 202, None);
    let callee = t.callee;
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM)
                .statuses(callee, "REFER")
                .iter()
                .filter(|s| **s >= 200)
                .count()
                >= 2
        },
        STEP_MS,
    );
    ensure!(sim, done, "second REFER not answered");
    // The late NOTIFY of REFER #1 (no id) matches no subscription.
    let late = carrier_notify_with(sim, t.caller, "refer", "terminated;reason=noresource", 200)?;
    ensure!(sim, late == 481, "late NOTIFY of REFER #1 got {late}");
    let with_id = format!("refer;id={carrier_cseq}");
    let trying = carrier_notify_with(sim, t.caller, &with_id, "active;expires=60", 100)?;
    ensure!(sim, trying == 200, "NOTIFY id={carrier_cseq} got {trying}");
    let expected = format!("refer;id={platform_cseq}");
    let mut second = Vec::new();
    loop {
        second.extend(platform_notifies(sim, &t)?);
        if second.iter().any(|(event, _, _)| *event == expected) {
            break;
        }
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(PLATFORM).has_request("NOTIFY"), STEP_MS),
            "platform got no NOTIFY naming REFER #2 (saw {second:?})"
        );
    }
    // Late copies of REFER #1's own NOTIFYs (100, 503; no id) may still arrive on a lossy link;
    // nothing of the late NOTIFY 200 reached the platform, and REFER #2's carry its id.
    ensure!(
        sim,
        second
            .iter()
            .all(|(event, _, s)| (*event == expected && *s == 100)
                || (event == "refer" && (*s == 100 || *s == 503))),
        "NOTIFYs of REFER #2: {second:?} (expected Event {expected}, no 200 from REFER #1)"
    );
    let done_status =
        carrier_notify_with(sim, t.caller, &with_id, "terminated;reason=noresource", 200)?;
    ensure!(sim, done_status == 200, "final NOTIFY got {done_status}");
    await_platform_notify(sim, &t, 200, &mut second)?;
    ensure!(
        sim,
        second
            .iter()
            .any(|(event, _, s)| *event == expected && *s == 200),
        "the final NOTIFY does not name REFER #2: {second:?}"
    );
    carrier_releases(sim, &t)?;
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 2
            && records[0].outcome == TransferOutcome::Failed
            && records[1].outcome == TransferOutcome::HandedOff,
        "records {records:?}"
    );
    Ok(())
}

/// Item 5, third bullet: the carrier ends its subscription on its first NOTIFY (`SIP/2.0 100`,
/// `Subscription-State: terminated`, RFC 3515 section 2.4.4 allows it: "agents accepting REFER
/// and not wishing to hold subscription state can terminate the subscription with this initial
/// NOTIFY"). A later NOTIFY drives nothing; the carrier's BYE is the handoff, and the record
/// says `carrier_subscription_ended`.
pub fn carrier_ends_subscription_early(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, true)?;
    t.await_notify(sim, 100)?;
    // A NOTIFY after the subscription ended: nothing to report.
    carrier_notifies(sim, &t, 503, true)?;
    sim.run_for(1_000);
    ensure!(
        sim,
        sim.transfers().is_empty(),
        "a NOTIFY after the subscription ended decided the transfer: {:?}",
        sim.transfers()
    );
    carrier_releases(sim, &t)?;
    let record = check_record(
        sim,
        TransferOutcome::HandedOff,
        Some(202),
        Some(100),
        None,
        "carrier_bye",
    )?;
    ensure!(
        sim,
        record.carrier_subscription_ended,
        "record does not say the subscription ended: {record:?}"
    );
    ended_once(sim, "handed_off")
}

/// Item 5, fifth bullet: a SUBSCRIBE for event refer in the platform's dialog when there is
/// no such subscription gets 403 (RFC 3515 section 2.4.4); during a transfer the platform's
/// refresh gets 200 and a NOTIFY of the current state.
pub fn subscribe_without_subscription_403(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = super::scenarios::establish(sim)?;
    sim.ua(PLATFORM).request(
        callee,
        "SUBSCRIBE",
        None,
        &[("Event", "refer"), ("Expires", "60")],
    );
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM)
                .final_status(callee, "SUBSCRIBE")
                .is_some()
        },
        STEP_MS,
    );
    let got = sim.ua_ref(PLATFORM).final_status(callee, "SUBSCRIBE");
    ensure!(sim, done && got == Some(403), "SUBSCRIBE got {got:?}");
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("SUBSCRIBE"),
        "the SUBSCRIBE was relayed to the carrier"
    );
    // Now a transfer runs: the refresh is accepted and NOTIFYed.
    let t = Transfer {
        caller,
        callee,
        notified: Vec::new(),
    };
    sim.ua(PLATFORM).refer(
        callee,
        super::transfer_flows::PLATFORM_REFER_TO,
        &[
            ("Referred-By", super::transfer_flows::PLATFORM_REFERRED_BY),
            (
                "P-Asserted-Identity",
                super::transfer_flows::PLATFORM_IDENTITY,
            ),
        ],
    );
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    let mut seen = Vec::new();
    await_platform_notify(sim, &t, 100, &mut seen)?;
    sim.ua(PLATFORM).request(
        callee,
        "SUBSCRIBE",
        None,
        &[("Event", "refer"), ("Expires", "60")],
    );
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM)
                .statuses(callee, "SUBSCRIBE")
                .iter()
                .filter(|s| **s >= 200)
                .count()
                >= 2
        },
        STEP_MS,
    );
    let statuses = sim.ua_ref(PLATFORM).statuses(callee, "SUBSCRIBE");
    ensure!(
        sim,
        done && statuses.iter().filter(|s| **s >= 200).nth(1) == Some(&200),
        "refresh SUBSCRIBE got {statuses:?}"
    );
    let before = seen.iter().filter(|(_, _, s)| *s == 100).count();
    loop {
        seen.extend(platform_notifies(sim, &t)?);
        if seen.iter().filter(|(_, _, s)| *s == 100).count() > before {
            break;
        }
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(PLATFORM).has_request("NOTIFY"), STEP_MS),
            "no NOTIFY after the refresh (saw {seen:?})"
        );
    }
    carrier_notifies(sim, &t, 200, true)?;
    await_platform_notify(sim, &t, 200, &mut seen)?;
    carrier_releases(sim, &t)?;
    check_handed_off(sim)?;
    Ok(())
}

/// Item 5, fifth bullet, the other way round: a carrier whose REFERs are relayed to the
/// platform (`carrier_refer = "relay"`) subscribes to the platform's subscription, so its
/// SUBSCRIBE for event refer is relayed like its REFER (the platform is its notifier), never
/// answered 403 by handoff.
pub fn relayed_carrier_subscribe_reaches_platform(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = super::scenarios::establish(sim)?;
    sim.ua(CARRIER)
        .refer(caller, "<sip:5559876543@carrier.example>", &[]);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).has_request("REFER"), STEP_MS),
        "platform got no relayed REFER"
    );
    let Some(refer) = sim.ua(PLATFORM).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    sim.ua(PLATFORM).answer(refer, 202, None);
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(caller, "REFER") == Some(202),
            STEP_MS
        ),
        "carrier did not get the platform's 202"
    );
    sim.ua(CARRIER).request(
        caller,
        "SUBSCRIBE",
        None,
        &[("Event", "refer"), ("Expires", "60")],
    );
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).has_request("SUBSCRIBE"), STEP_MS),
        "the carrier's SUBSCRIBE was not relayed"
    );
    let Some(subscribe) = sim.ua(PLATFORM).take_request("SUBSCRIBE") else {
        return Err("SUBSCRIBE vanished".into());
    };
    ensure!(
        sim,
        sim.ua_ref(PLATFORM).incoming(subscribe).dialog == Some(callee),
        "relayed SUBSCRIBE not in the platform's dialog"
    );
    sim.ua(PLATFORM).answer(subscribe, 200, None);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .final_status(caller, "SUBSCRIBE")
                .is_some()
        },
        STEP_MS,
    );
    let got = sim.ua_ref(CARRIER).final_status(caller, "SUBSCRIBE");
    ensure!(
        sim,
        done && got == Some(200),
        "carrier's SUBSCRIBE got {got:?}"
    );
    Ok(())
}

/// Item 5, last bullet: the platform said `Refer-Sub: false` (RFC 4488) and stays on the call;
/// with `on_refer_failure = "reject"` the carrier's final NOTIFY of a failure (486) must not
/// release the customer: no BYE to the carrier, the customer stays with the agent, failed /
/// sipfrag_failure, and no NOTIFY reaches the platform.
pub fn refer_sub_false_reject_keeps_customer(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, false)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 486, true)?;
    sim.run_for(5_000);
    let caller = t.caller;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(caller).bye_received && sim.calls_active() == 1,
        "the customer was released"
    );
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("NOTIFY"),
        "NOTIFY sent despite Refer-Sub: false"
    );
    check_record(
        sim,
        TransferOutcome::Failed,
        Some(202),
        Some(486),
        None,
        "sipfrag_failure",
    )?;
    sim.ua(PLATFORM).bye(t.callee);
    let done = sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS);
    ensure!(sim, done, "the agent's BYE did not reach the customer");
    Ok(())
}

/// Item 5, last bullet, the agent gone: the platform said `Refer-Sub: false` and hung up after
/// its 202 (it can be told nothing). The carrier's final NOTIFY 486 must not release the
/// customer, though `on_refer_failure = "reject"`: nobody could hear the rejection, so handoff
/// transfers locally instead (fallback_local / sipfrag_failure).
pub fn refer_sub_false_reject_agent_gone(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, false)?;
    carrier_answers_refer(sim, &t, 202)?;
    sim.ua(PLATFORM).bye(t.callee);
    let callee = t.callee;
    let done = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE").is_some(),
        STEP_MS,
    );
    ensure!(sim, done, "the agent's BYE got no answer");
    carrier_notifies(sim, &t, 486, true)?;
    let partner = partner_answers(sim, 200)?;
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0 && !s.transfers().is_empty(),
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    let caller = t.caller;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(caller).bye_received && sim.calls_active() == 1,
        "the customer was released"
    );
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(202),
        Some(486),
        Some(200),
        "sipfrag_failure",
    )?;
    Ok(())
}

/// Item 10: the carrier NOTIFYs 200 but never BYEs (a transferee following RFC 5589 waits
/// for the transferor's BYE). handoff BYEs the carrier leg itself `handoff_bye_after_ms` (2 s)
/// later: handed_off, reason handoff_bye, ended_by handoff.
pub fn handoff_byes_after_final_notify(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 200, true)?;
    let notified_at = sim.now;
    t.await_notify(sim, 200)?;
    let (caller, callee) = (t.caller, t.callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).bye_received
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        done,
        "handoff did not BYE the carrier and platform legs"
    );
    let waited = sim.now.millis_since(notified_at);
    ensure!(
        sim,
        waited < 10_000,
        "the carrier leg lingered {waited} ms after the final NOTIFY"
    );
    let record = check_record(
        sim,
        TransferOutcome::HandedOff,
        Some(202),
        Some(200),
        None,
        "handoff_bye",
    )?;
    ensure!(
        sim,
        record.ended_by == Some(LegEnder::Handoff),
        "ended_by {:?}",
        record.ended_by
    );
    sim.run_for(2_000);
    ended_once(sim, "handed_off")
}

/// Item 5 (RFC 7647 section 5): the carrier answers the REFER 200, not 202: it is a 2xx like
/// any other; the platform's REFER still gets 202 and the call is handed off.
pub fn carrier_answers_refer_200(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER).answer(refer, 200, None);
    platform_refer_answered(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_releases(sim, &t)?;
    let record = the_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::HandedOff
            && record.refer_status.map(|s| s.as_u16()) == Some(200),
        "record {record:?}"
    );
    ended_once(sim, "handed_off")
}

/// RFC 7647 section 5 and the platform trunk's `refer_response = 200`: the platform's REFER is
/// answered 200 when the carrier accepts.
pub fn platform_trunk_wants_200(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let refer = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    platform_refer_answered(sim, &t, 200)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_releases(sim, &t)?;
    check_handed_off(sim)?;
    Ok(())
}

/// Audit: the customer hangs up (the carrier's BYE) while the carrier works on the transfer
/// (accepted, NOTIFY 100, no result): `abandoned`, not a handoff; the platform leg is BYEd.
pub fn customer_abandons_while_carrier_works(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer(sim, true)?;
    carrier_answers_refer(sim, &t, 202)?;
    carrier_notifies(sim, &t, 100, false)?;
    carrier_releases(sim, &t)?;
    ensure!(
        sim,
        sim.run_until(|s| !s.transfers().is_empty(), STEP_MS),
        "no record"
    );
    check_record(
        sim,
        TransferOutcome::Abandoned,
        Some(202),
        Some(100),
        None,
        "customer_hung_up",
    )?;
    ensure!(sim, !partner_invited(sim), "handoff dialled the target");
    Ok(())
}

/// Every flow with the config it needs, for the seed sweep: (name, config, flow).
pub const FLOWS: &[super::transfer_flows::NamedFlow] = &[
    ("slow_target_rings_10_s", standard, slow_target_rings_10_s),
    (
        "transfer_timeout_agent_present",
        short_transfer_timeout,
        transfer_timeout_agent_present,
    ),
    (
        "transfer_timeout_agent_gone_local",
        short_transfer_timeout,
        transfer_timeout_agent_gone_local,
    ),
    (
        "transfer_timeout_agent_gone_reject",
        short_transfer_timeout_reject,
        transfer_timeout_agent_gone_reject,
    ),
    (
        "local_accept_notifies_100",
        super::transfer_flows::local_mode_config,
        local_accept_notifies_100,
    ),
    (
        "fallback_accept_notifies_100",
        standard,
        fallback_accept_notifies_100,
    ),
    (
        "second_refer_notifies_carry_id",
        reject_mode_config,
        second_refer_notifies_carry_id,
    ),
    (
        "carrier_ends_subscription_early",
        standard,
        carrier_ends_subscription_early,
    ),
    (
        "subscribe_without_subscription_403",
        standard,
        subscribe_without_subscription_403,
    ),
    (
        "relayed_carrier_subscribe_reaches_platform",
        super::dialer_flows::relay_config,
        relayed_carrier_subscribe_reaches_platform,
    ),
    (
        "refer_sub_false_reject_keeps_customer",
        reject_mode_config,
        refer_sub_false_reject_keeps_customer,
    ),
    (
        "refer_sub_false_reject_agent_gone",
        reject_mode_config,
        refer_sub_false_reject_agent_gone,
    ),
    (
        "handoff_byes_after_final_notify",
        standard,
        handoff_byes_after_final_notify,
    ),
    (
        "carrier_answers_refer_200",
        standard,
        carrier_answers_refer_200,
    ),
    (
        "platform_trunk_wants_200",
        refer_response_200,
        platform_trunk_wants_200,
    ),
    (
        "customer_abandons_while_carrier_works",
        standard,
        customer_abandons_while_carrier_works,
    ),
];
