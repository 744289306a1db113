//! Transfer targets and what a Refer-To carries (issue 10, items 4 and 8; RFC 3515 sections
//! 2.4.1-2.4.3; one conversation across the network), shared by `tests/sim_targets_seed_sweep.rs`.
//! Like the other flow modules, each flow checks only what must hold on any link profile (loss,
//! duplication, reordering): final codes, who got which request, the audit records.
//!
//! Cast: the carrier (trunk `carrier`, leg A) calls the platform (leg B); the platform REFERs.
//! [`targets_config`] adds to the standard config a route by `domain` (`pbx.local` -> the
//! partner trunk) and one by extension prefix (`2` -> the partner), so a desk phone's extension
//! `2002` is reachable both as `sip:2002@pbx.local` and as `sip:2002@<anything>`.

use std::sync::Arc;

use super::scenarios::{FlowResult, STEP_MS, establish, platform_takes_invite, resources_released};
use super::transfer_flows::{
    PLATFORM_REFER_TO, TARGET, Transfer, carrier_hangs_up, platform_refer_answered, standard,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, RequestId, Sim, offer_sdp, sdp_with};
use crate::config::{Config, Route, TransferMethod};
use crate::core::Event;
use crate::transfer::{TransferOutcome, TransferRecord};

/// A flow of this module with the config it runs on.
pub type NamedFlow = (
    &'static str,
    fn() -> Arc<Config>,
    fn(&mut Sim) -> FlowResult,
);

/// The desk phone's extension, as a PBX names it.
pub const EXTENSION_URI: &str = "<sip:2002@pbx.local>";

/// An Avaya/Genesys-style UUI (RFC 7433 section 4.1: hex encoding, ISDN UUI purpose) and CTI
/// headers in the platform's Refer-To.
pub const UUI_REFER_TO: &str = "<sip:+442071234567@platform.example?User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui&X-Genesys-CallUUID=01ABCDEF>";
/// The same, as the carrier must get it: E.164 at its domain, the headers re-escaped.
pub const UUI_CARRIER_REFER_TO: &str = "<sip:+442071234567@10.0.0.1?User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui&X-Genesys-CallUUID=01ABCDEF>";
pub const UUI: &str = "00C8042A0B6D7C00;encoding=hex;purpose=isdn-uui";

/// The standard transfer config (carrier `transfer = "refer"`) plus the routes of the module
/// docs, ahead of the platform's catch-all.
pub fn targets_config() -> Arc<Config> {
    let mut config = (*standard()).clone();
    let extension_routes = [
        Route {
            from: Some(1),
            to: 2,
            prefix: String::new(),
            domain: Some("pbx.local".to_owned()),
        },
        Route {
            from: Some(1),
            to: 2,
            prefix: "2".to_owned(),
            domain: None,
        },
    ];
    for (at, route) in extension_routes.into_iter().enumerate() {
        config.routes.insert(at, route);
    }
    Arc::new(config)
}

/// [`targets_config`] with the carrier trunk set to `transfer = "local"`.
pub fn targets_local_config() -> Arc<Config> {
    let mut config = (*targets_config()).clone();
    config.trunks[0].transfer = TransferMethod::Local;
    Arc::new(config)
}

/// [`targets_config`] with a destination policy on the partner trunk and the carrier: premium
/// numbers denied (the trust work's toll-fraud protection).
pub fn policed_config() -> Arc<Config> {
    let mut config = (*targets_config()).clone();
    for trunk in [0, 2] {
        config.trunks[trunk].transfer_targets.deny = vec!["+1900".to_owned()];
    }
    Arc::new(config)
}

/// [`standard`] with a `domain` route from the platform back to the platform: desk phones on
/// the contact center's own PBX (a `domain` route may, since it routes transfer targets only).
pub fn own_pbx_config() -> Arc<Config> {
    let mut config = (*standard()).clone();
    config.routes.insert(
        0,
        Route {
            from: Some(1),
            to: 1,
            prefix: String::new(),
            domain: Some("pbx.local".to_owned()),
        },
    );
    Arc::new(config)
}

/// [`standard`] with `conversation_header = true` on the carrier trunk.
pub fn linking_config() -> Arc<Config> {
    let mut config = (*standard()).clone();
    config.trunks[0].conversation_header = true;
    Arc::new(config)
}

// ----------------------------------------------------------------------------- steps

/// Set up the call and have the platform REFER it with `refer_to` and `extra` headers.
fn call_and_refer_to(
    sim: &mut Sim,
    refer_to: &str,
    extra: &[(&str, &str)],
) -> Result<Transfer, String> {
    let (caller, callee) = establish(sim)?;
    sim.ua(PLATFORM).refer(callee, refer_to, extra);
    Ok(Transfer {
        caller,
        callee,
        notified: Vec::new(),
    })
}

/// The platform's REFER got `status`; nothing reached the carrier or the partner, the call is
/// as it was (no BYE anywhere); one record says `outcome`/`reason` when `record` is given, and
/// otherwise (handoff refused the REFER itself before any transfer began) one `refused` record
/// with `answer_status` = `status` names the platform trunk as the requester (issue 10, audit:
/// a record for every REFER). Then the carrier hangs up and everything is released.
fn refused(
    sim: &mut Sim,
    t: &Transfer,
    status: u16,
    record: Option<(TransferOutcome, &str)>,
) -> FlowResult {
    platform_refer_answered(sim, t, status)?;
    sim.run_for(2_000);
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER") && !sim.ua_ref(PARTNER).has_request("INVITE"),
        "a refused REFER reached the carrier or the target"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(t.caller).bye_received
            && !sim.ua_ref(PLATFORM).dialog(t.callee).bye_received
            && sim.calls_active() == 1,
        "a refused REFER changed the call"
    );
    let records = sim.transfers();
    match record {
        Some((outcome, reason)) => ensure!(
            sim,
            records.len() == 1 && records[0].outcome == outcome && records[0].reason == reason,
            "records {records:?}, expected one {outcome:?} {reason}"
        ),
        None => ensure!(
            sim,
            records.len() == 1
                && records[0].outcome == TransferOutcome::Refused
                && records[0].reason == "request_refused"
                && records[0]
                    .answer_status
                    .map(crate::vocab::StatusCode::as_u16)
                    == Some(status)
                && records[0].requester_trunk.as_deref() == Some("platform"),
            "records {records:?}, expected one refused {status}"
        ),
    }
    carrier_hangs_up(sim, t, PLATFORM)?;
    resources_released(sim)
}

/// Run until the partner got leg C's INVITE; takes it.
fn partner_invite(sim: &mut Sim) -> Result<(RequestId, DialogId), String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PARTNER).has_request("INVITE"), STEP_MS),
        "partner got no INVITE (leg C)"
    );
    let Some(invite) = sim.ua(PARTNER).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let Some(dialog) = sim.ua_ref(PARTNER).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    Ok((invite, dialog))
}

/// Leg C answers; the platform is NOTIFYed 200, hangs up, the customer stays with the partner;
/// then the carrier ends the call.
fn leg_c_answers_and_call_ends(
    sim: &mut Sim,
    t: &mut Transfer,
    invite: RequestId,
    partner: DialogId,
) -> FlowResult {
    sim.ua(PARTNER).answer(
        invite,
        200,
        Some(sdp_with("10.0.0.3", 6000, "sendrecv", &[8])),
    );
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0,
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    t.await_notify(sim, 200)?;
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
    carrier_hangs_up(sim, t, PARTNER)?;
    resources_released(sim)
}

/// The one transfer record.
fn one_record(sim: &Sim) -> Result<TransferRecord, String> {
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1,
        "expected one transfer record, got {records:?}"
    );
    Ok(records[0].clone())
}

/// A local transfer to the extension: 202, no REFER to the carrier, leg C to the partner
/// addressed to `2002`, the record `fallback_local`/`local_target`, method local.
fn extension_transferred_locally(sim: &mut Sim, refer_to: &str) -> FlowResult {
    let mut t = call_and_refer_to(sim, refer_to, &[])?;
    platform_refer_answered(sim, &t, 202)?;
    let (invite, partner) = partner_invite(sim)?;
    let incoming = sim.ua_ref(PARTNER).incoming(invite).clone();
    let uri = match incoming.message().map(|m| m.start) {
        Some(sipwire::StartLine::Request { uri, .. }) => uri,
        _ => String::new(),
    };
    ensure!(
        sim,
        uri.starts_with("sip:2002@10.0.0.3"),
        "leg C's Request-URI is not the extension at the partner: {uri}"
    );
    leg_c_answers_and_call_ends(sim, &mut t, invite, partner)?;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER"),
        "an extension was REFERed to the carrier"
    );
    let record = one_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::FallbackLocal
            && record.reason == "local_target"
            && record.method == TransferMethod::Local
            && record.target_e164.is_none()
            && record.target.contains("2002"),
        "record {record:?}"
    );
    Ok(())
}

// ----------------------------------------------------------------------------- flows

/// Issue 10 item 4: `Refer-To: <sip:2002@pbx.local>` on a `transfer = "refer"` trunk is
/// transferred locally by the `domain` route (carriers route E.164 only).
pub fn extension_by_domain(sim: &mut Sim) -> FlowResult {
    extension_transferred_locally(sim, EXTENSION_URI)
}

/// Issue 10 item 4 on a `transfer = "local"` trunk, routed by the extension prefix `2` (the
/// host is the platform's own, no domain route takes it).
pub fn extension_by_prefix(sim: &mut Sim) -> FlowResult {
    extension_transferred_locally(sim, "<sip:2002@platform.example>")
}

/// A desk phone on the platform's own PBX: leg C goes back to the platform trunk (the REFER's
/// own trunk), and the customer is bridged to it; the platform's first leg is released.
pub fn extension_on_own_pbx(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(sim, EXTENSION_URI, &[])?;
    platform_refer_answered(sim, &t, 202)?;
    let callee = t.callee;
    ensure!(
        sim,
        sim.run_until(
            |s| s
                .ua_ref(PLATFORM)
                .all_incoming()
                .any(|r| r.method == "INVITE" && r.dialog != Some(callee)),
            STEP_MS
        ),
        "the platform's PBX got no INVITE for the extension"
    );
    let Some(invite) = sim.ua(PLATFORM).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let leg_c = sim.ua_ref(PLATFORM).incoming(invite).clone();
    let uri = match leg_c.message().map(|m| m.start) {
        Some(sipwire::StartLine::Request { uri, .. }) => uri,
        _ => String::new(),
    };
    ensure!(sim, uri.starts_with("sip:2002@10.0.0.2"), "leg C to {uri}");
    let Some(desk) = leg_c.dialog else {
        return Err("INVITE made no dialog".into());
    };
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5200)));
    let up = sim.run_until(
        |s| s.ua_ref(PLATFORM).dialog(desk).acks_received > 0,
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    let mut t = t;
    t.await_notify(sim, 200)?;
    sim.ua(PLATFORM).bye(t.callee);
    let gone = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE").is_some(),
        STEP_MS,
    );
    ensure!(sim, gone, "platform's BYE unanswered");
    sim.ua(CARRIER).bye(t.caller);
    let caller = t.caller;
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).dialog(desk).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        done,
        "the desk phone's leg was not ended with the call"
    );
    let record = one_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::FallbackLocal && record.reason == "local_target",
        "record {record:?}"
    );
    resources_released(sim)
}

/// A name no route takes gets a clear 404 and a `target_not_a_number` record.
pub fn unroutable_target_404(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(sim, "<sip:sales-desk@nowhere.example>", &[])?;
    refused(
        sim,
        &t,
        404,
        Some((TransferOutcome::Failed, "target_not_a_number")),
    )
}

/// Attacker: an extension path toward a trunk with a destination policy. The partner denies
/// `+1900`; `sip:1900555l234@pbx.local` (a letter `l` for a `1`) is no number, so the policy
/// cannot be checked on it: 403, as for a denied number.
pub fn non_number_to_policed_trunk_denied(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(sim, "<sip:1900555l234@pbx.local>", &[])?;
    refused(
        sim,
        &t,
        403,
        Some((TransferOutcome::Denied, "target_not_allowed")),
    )
}

/// Attacker: `sip:+1-900-555-1234@evil.example` (a premium number with visual separators at a
/// foreign host) is a number: the carrier's `transfer_deny` refuses it, no REFER, no INVITE.
pub fn premium_number_at_foreign_host_denied(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(sim, "<sip:+1-900-555-1234@evil.example>", &[])?;
    refused(
        sim,
        &t,
        403,
        Some((TransferOutcome::Denied, "target_not_allowed")),
    )
}

/// Issue 10 item 8: User-to-User and X- headers of the Refer-To reach the carrier's Refer-To
/// (re-escaped), the REFER's own X- header reaches the carrier REFER; the carrier refuses, and
/// handoff's own INVITE to the target carries all of them as header fields.
pub fn uui_to_carrier_and_fallback(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer_to(sim, UUI_REFER_TO, &[("X-Agent-Id", "agent-7")])?;
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no REFER"
    );
    let Some(refer) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    let refer_to = incoming.header("Refer-To").unwrap_or_default();
    ensure!(
        sim,
        refer_to == UUI_CARRIER_REFER_TO,
        "carrier Refer-To {refer_to:?}"
    );
    ensure!(
        sim,
        incoming.header("X-Agent-Id").as_deref() == Some("agent-7"),
        "the REFER's X- header did not reach the carrier REFER"
    );
    sim.ua(CARRIER).answer(refer, 403, None);
    platform_refer_answered(sim, &t, 202)?;
    let (invite, partner) = partner_invite(sim)?;
    let leg_c = sim.ua_ref(PARTNER).incoming(invite).clone();
    for (name, value) in [
        ("User-to-User", UUI),
        ("X-Genesys-CallUUID", "01ABCDEF"),
        ("X-Agent-Id", "agent-7"),
    ] {
        ensure!(
            sim,
            leg_c.header(name).as_deref() == Some(value),
            "leg C's {name} is {:?}",
            leg_c.header(name)
        );
    }
    leg_c_answers_and_call_ends(sim, &mut t, invite, partner)?;
    let record = one_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::FallbackLocal
            && record.target_e164.as_deref() == Some(TARGET),
        "record {record:?}"
    );
    Ok(())
}

/// A Refer-To header that would inject a Via into the request built from it: 400.
pub fn injecting_header_400(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(
        sim,
        "<sip:+442071234567@platform.example?Via=SIP/2.0/UDP%20203.0.113.9>",
        &[],
    )?;
    refused(sim, &t, 400, None)
}

/// A %0D%0A in a header value would start a new header line: 400.
pub fn smuggled_line_break_400(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(
        sim,
        "<sip:+442071234567@platform.example?X-Note=a%0D%0ARoute:%20%3Csip:203.0.113.9%3E>",
        &[],
    )?;
    refused(sim, &t, 400, None)
}

/// RFC 3515 section 2.4.1: "A REFER request MUST contain exactly one Refer-To header field
/// value." Section 2.4.2: "An agent responding to a REFER method MUST return a 400 (Bad Request)
/// if the request contained zero or more than one Refer-To header field values."
pub fn two_refer_to_400(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(
        sim,
        PLATFORM_REFER_TO,
        &[("Refer-To", "<sip:+15559876543@platform.example>")],
    )?;
    refused(sim, &t, 400, None)
}

/// RFC 3515 sections 2.4.1/2.4.2, one header with two values (RFC 3261 section 7.3.1 commas).
pub fn two_refer_to_values_400(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(
        sim,
        "<sip:+442071234567@platform.example>, <sip:+15559876543@platform.example>",
        &[],
    )?;
    refused(sim, &t, 400, None)
}

/// A Refer-To `method=BYE` (RFC 3261 section 19.1.1) asks handoff to send a BYE, not to set up
/// a call: 403, nothing sent, the call as it was.
pub fn method_bye_403(sim: &mut Sim) -> FlowResult {
    let t = call_and_refer_to(sim, "<sip:+442071234567@platform.example;method=BYE>", &[])?;
    refused(sim, &t, 403, None)
}

/// The conversation id of the first call started.
fn first_conversation(sim: &Sim) -> Option<String> {
    sim.events.iter().find_map(|(_, e)| match e {
        Event::CallStarted { conversation, .. } => Some(conversation.clone()),
        _ => None,
    })
}

/// `linked_conversation` of the calls started so far, in order.
fn links(sim: &Sim) -> Vec<Option<String>> {
    sim.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CallStarted {
                linked_conversation,
                ..
            } => Some(linked_conversation.clone()),
            _ => None,
        })
        .collect()
}

/// The carrier places a new call through handoff carrying `X-Conversation-ID: {label}`; the
/// platform answers it. Returns (carrier's dialog, platform's dialog).
fn carrier_calls_with_label(sim: &mut Sim, label: &str) -> Result<(DialogId, DialogId), String> {
    let caller = sim.ua(CARRIER).invite_with(
        super::scenarios::PLATFORM_NUMBER,
        Some(offer_sdp("10.0.0.1", 4100)),
        &[("X-Conversation-ID", label)],
    );
    let invite = platform_takes_invite(sim)?;
    let Some(callee) = sim.ua_ref(PLATFORM).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5100)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "labelled call not established");
    Ok((caller, callee))
}

/// One conversation across the network: with `conversation_header = true` the carrier's
/// Refer-To carries `?X-Conversation-ID=<conversation>`; the carrier hands off, and places the
/// call to the target back through handoff with that header copied (RFC 3261 section 19.1.1);
/// the new call's `call_start`/`call_end` name the original conversation as
/// `linked_conversation`.
pub fn conversation_linked(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer_to(
        sim,
        PLATFORM_REFER_TO,
        &[("Referred-By", "<sip:agent@platform.example>")],
    )?;
    let conversation = first_conversation(sim).ok_or("no call started")?;
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("REFER"), STEP_MS),
        "carrier got no REFER"
    );
    let Some(refer) = sim.ua(CARRIER).take_request("REFER") else {
        return Err("REFER vanished".into());
    };
    let refer_to = sim
        .ua_ref(CARRIER)
        .incoming(refer)
        .header("Refer-To")
        .unwrap_or_default();
    let expected = format!("<sip:{TARGET}@10.0.0.1?X-Conversation-ID={conversation}>");
    ensure!(sim, refer_to == expected, "carrier Refer-To {refer_to:?}");
    sim.ua(CARRIER).answer(refer, 202, None);
    platform_refer_answered(sim, &t, 202)?;
    sim.ua(CARRIER).notify_sipfrag(t.caller, 200, true);
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "the handed-off call did not end"
    );
    // The carrier's call to the target, back through handoff.
    let (caller, callee) = carrier_calls_with_label(sim, &conversation)?;
    ensure!(
        sim,
        links(sim) == vec![None, Some(conversation.clone())],
        "linked conversations {:?}",
        links(sim)
    );
    // A transfer of the linked call is on record with the link too (here: refused 404).
    sim.ua(PLATFORM)
        .refer(callee, "<sip:nobody@nowhere.example>", &[]);
    let answered = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "REFER").is_some(),
        STEP_MS,
    );
    let records = sim.transfers();
    ensure!(
        sim,
        answered
            && records.len() == 2
            && records[1].linked_conversation.as_deref() == Some(conversation.as_str())
            && records[0].linked_conversation.is_none(),
        "records {records:?}"
    );
    sim.ua(CARRIER).bye(caller);
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "the linked call did not end"
    );
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 2 && ends[1].linked_conversation.as_deref() == Some(conversation.as_str()),
        "call ends {ends:?}"
    );
    let record = sim.transfers()[0].clone();
    ensure!(
        sim,
        record.outcome == TransferOutcome::HandedOff && record.conversation == conversation,
        "record {record:?}"
    );
    resources_released(sim)
}

/// Forgery: a trunk's INVITE naming a live call's conversation is only labelled; the live call
/// is untouched (no BYE, no re-INVITE), both calls run side by side. A value that is not
/// shaped like a minted id is not even a label.
pub fn forged_label_touches_nothing(sim: &mut Sim) -> FlowResult {
    let (first_caller, first_callee) = establish(sim)?;
    let conversation = first_conversation(sim).ok_or("no call started")?;
    let (second, _) = carrier_calls_with_label(sim, &conversation)?;
    ensure!(sim, sim.calls_active() == 2, "{} calls", sim.calls_active());
    let (third, _) = carrier_calls_with_label(sim, "conv-<script>")?;
    ensure!(
        sim,
        links(sim) == vec![None, Some(conversation.clone()), None],
        "linked conversations {:?}",
        links(sim)
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(first_caller).bye_received
            && !sim.ua_ref(PLATFORM).dialog(first_callee).bye_received
            && sim.calls_active() == 3,
        "a labelled INVITE touched the first call"
    );
    for dialog in [first_caller, second, third] {
        sim.ua(CARRIER).bye(dialog);
    }
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "calls did not end"
    );
    ensure!(
        sim,
        sim.transfers().is_empty(),
        "records {:?}",
        sim.transfers()
    );
    resources_released(sim)
}

/// Every flow of this module (`tests/sim_targets_seed_sweep.rs` checks none is missing).
pub const FLOWS: &[NamedFlow] = &[
    ("extension_by_domain", targets_config, extension_by_domain),
    (
        "extension_by_prefix",
        targets_local_config,
        extension_by_prefix,
    ),
    ("extension_on_own_pbx", own_pbx_config, extension_on_own_pbx),
    (
        "unroutable_target_404",
        targets_config,
        unroutable_target_404,
    ),
    (
        "non_number_to_policed_trunk_denied",
        policed_config,
        non_number_to_policed_trunk_denied,
    ),
    (
        "premium_number_at_foreign_host_denied",
        policed_config,
        premium_number_at_foreign_host_denied,
    ),
    (
        "uui_to_carrier_and_fallback",
        targets_config,
        uui_to_carrier_and_fallback,
    ),
    ("injecting_header_400", targets_config, injecting_header_400),
    (
        "smuggled_line_break_400",
        targets_config,
        smuggled_line_break_400,
    ),
    ("two_refer_to_400", targets_config, two_refer_to_400),
    (
        "two_refer_to_values_400",
        targets_config,
        two_refer_to_values_400,
    ),
    ("method_bye_403", targets_config, method_bye_403),
    ("conversation_linked", linking_config, conversation_linked),
    (
        "forged_label_touches_nothing",
        linking_config,
        forged_label_touches_nothing,
    ),
];
