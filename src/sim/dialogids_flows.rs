//! Target-Dialog (RFC 4538) and the out-of-dialog REFER (RFC 5589 section 6.1, RFC 7647
//! section 4) of issue 10, items 2 and 3: the flows of `tests/sim_dialogids_seed_sweep.rs`.
//!
//! Like the other flow files, each flow checks only what must hold on any link profile (loss,
//! duplication, reordering). The values the scripts put in Target-Dialog, Replaces and expect
//! back are written here from the RFC text with `sipwire` ([`NamedDialog`]), never with
//! handoff's `transfer::dialog_ids`.
//!
//! Cast: the carrier calls the platform (the standard set-up): handoff INVITEs the platform on
//! leg B exactly as the transferee INVITEs the transferor in RFC 5589 section 6.1 (F1/F2), so
//! the platform is the transferor and handoff the transferee, whose leg A goes to the carrier.

use std::sync::Arc;

use super::attended_flows::{
    NamedDialog, TwoCalls, expected_carrier_replaces, platform_replaces, two_calls,
};
use super::golden::{
    RFC4538_10_MSG1, RFC4538_10_MSG8, RFC5589_6_1_202, RFC5589_6_1_F1, RFC5589_6_1_F3,
    RFC5589_6_1_F4, RFC5589_6_1_F6, RFC5589_7_3_F5, Vars, fill, matches, vars,
};
use super::scenarios::{FlowResult, STEP_MS, establish};
use super::transfer_flows::{
    CARRIER_REFER_TO, PLATFORM_IDENTITY, PLATFORM_REFER_TO, PLATFORM_REFERRED_BY, Transfer,
    carrier_notifies, carrier_takes_refer, sipfrag_status, the_record,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, STRANGER, Sim, offer_sdp};
use crate::config::Config;
use crate::core::ShardId;
use crate::transfer::TransferOutcome;

/// RFC 4538 section 3, the recipient's view: the platform's dialog `dialog` (agent PLATFORM) as
/// handoff sees it, `local-tag` = handoff's tag, `remote-tag` = the platform's own.
pub fn target_dialog_as_handoff_sees(sim: &Sim, dialog: DialogId) -> NamedDialog {
    let d = sim.ua_ref(PLATFORM).dialog(dialog);
    NamedDialog::target_dialog(
        &d.call_id,
        d.remote_tag.as_deref().unwrap_or_default(),
        &d.local_tag,
        &[],
    )
}

/// The carrier's dialog `dialog` as the carrier sees it (`local-tag` = the carrier's tag).
fn target_dialog_as_carrier_sees(sim: &Sim, dialog: DialogId) -> NamedDialog {
    let d = sim.ua_ref(CARRIER).dialog(dialog);
    NamedDialog::target_dialog(
        &d.call_id,
        &d.local_tag,
        d.remote_tag.as_deref().unwrap_or_default(),
        &[],
    )
}

/// A REFER sent outside any dialog: who sent it and its dialog identifiers as its sender holds
/// them (it is the UAC of the dialog the REFER creates).
pub struct OutOfDialogRefer {
    pub agent: usize,
    pub call_id: String,
    pub from_tag: String,
    /// Sipfrag statuses of the NOTIFYs received in the REFER's dialog, in arrival order.
    pub notified: Vec<u16>,
}

/// `agent` sends RFC 5589 section 6.1's F3: REFER to handoff's Contact on the platform's leg
/// `callee` (the GRUU of the RFC), outside any dialog, with `Require: tdialog` and
/// `Target-Dialog: {target_dialog}`.
pub fn send_out_of_dialog_refer(
    sim: &mut Sim,
    agent: usize,
    callee: DialogId,
    target_dialog: &str,
    refer_to: &str,
) -> OutOfDialogRefer {
    let uri = sim.ua_ref(PLATFORM).dialog(callee).remote_target.clone();
    let to = format!("<{uri}>");
    let (call_id, from_tag) = sim.ua(agent).request_outside_dialog(
        "REFER",
        &uri,
        &to,
        &[
            ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY"),
            ("Supported", "gruu, replaces, tdialog"),
            ("Require", "tdialog"),
            ("Refer-To", refer_to),
            ("Target-Dialog", target_dialog),
            ("Referred-By", PLATFORM_REFERRED_BY),
            ("P-Asserted-Identity", PLATFORM_IDENTITY),
        ],
    );
    OutOfDialogRefer {
        agent,
        call_id,
        from_tag,
        notified: Vec::new(),
    }
}

impl OutOfDialogRefer {
    /// The final response to the REFER (first copy), once there is one.
    pub fn final_response(&self, sim: &Sim) -> Option<sipwire::agent::ResponseSeen> {
        sim.ua_ref(self.agent)
            .responses
            .iter()
            .find(|r| r.method == "REFER" && r.call_id == self.call_id && r.status >= 200)
            .cloned()
    }

    /// Runs until the REFER got a final response; checks it is `status`.
    pub fn await_final(&self, sim: &mut Sim, status: u16) -> Result<Vec<u8>, String> {
        let done = sim.run_until(|s| self.final_response(s).is_some(), STEP_MS);
        let got = self.final_response(sim);
        ensure!(
            sim,
            done && got.as_ref().map(|r| r.status) == Some(status),
            "out-of-dialog REFER got {:?}, expected {status}",
            got.map(|r| r.status)
        );
        Ok(got.map(|r| r.bytes).unwrap_or_default())
    }

    /// The tag handoff gave the dialog the REFER created (the To tag of its 2xx).
    fn handoff_tag(&self, sim: &Sim) -> Option<String> {
        let response = self.final_response(sim)?;
        let message = sipwire::Message::parse(&response.bytes).ok()?;
        message.to_tag().map(str::to_string)
    }

    /// Answers every NOTIFY the sender holds, checking each is in the REFER's dialog (RFC 3515
    /// section 2.4.4, RFC 6665 section 4.2.2): its Call-ID, To = the REFER's From (with its tag),
    /// From tag = the 2xx's To tag, Request-URI = the REFER's Contact, `Event: refer`.
    fn read_notifies(&mut self, sim: &mut Sim) -> FlowResult {
        let handoff_tag = self.handoff_tag(sim);
        let contact = sim.ua_ref(self.agent).contact();
        let contact_uri = contact.trim_start_matches('<').trim_end_matches('>');
        while let Some(id) = sim.ua(self.agent).take_request("NOTIFY") {
            let incoming = sim.ua_ref(self.agent).incoming(id).clone();
            let Some(message) = incoming.message() else {
                return Err("unreadable NOTIFY".into());
            };
            ensure!(
                sim,
                message.call_id() == Some(self.call_id.as_str())
                    && message.to_tag() == Some(self.from_tag.as_str()),
                "NOTIFY outside the REFER's dialog (Call-ID {:?}, To tag {:?}; the REFER's: {} / {})",
                message.call_id(),
                message.to_tag(),
                self.call_id,
                self.from_tag
            );
            ensure!(
                sim,
                handoff_tag.is_some() && message.from_tag() == handoff_tag.as_deref(),
                "NOTIFY From tag {:?} is not the 202's To tag {handoff_tag:?}",
                message.from_tag()
            );
            ensure!(
                sim,
                message.uri() == Some(contact_uri),
                "NOTIFY Request-URI {:?} is not the REFER's Contact {contact_uri}",
                message.uri()
            );
            // The REFER is the first (and only) one of its dialog: no `id` (RFC 3515 section
            // 2.4.6 asks for one from the second REFER of a dialog on).
            ensure!(
                sim,
                message.header("Event") == Some("refer"),
                "NOTIFY Event {:?}, expected refer",
                message.header("Event")
            );
            let status = sipfrag_status(message.body());
            ensure!(sim, status.is_some(), "NOTIFY without a sipfrag body");
            sim.ua(self.agent).answer(id, 200, None);
            self.notified.extend(status);
        }
        Ok(())
    }

    /// Runs until a NOTIFY with sipfrag `status` arrived in the REFER's dialog.
    pub fn await_notify(&mut self, sim: &mut Sim, status: u16) -> FlowResult {
        loop {
            self.read_notifies(sim)?;
            if self.notified.contains(&status) {
                return Ok(());
            }
            let agent = self.agent;
            ensure!(
                sim,
                sim.run_until(|s| s.ua_ref(agent).has_request("NOTIFY"), STEP_MS),
                "no NOTIFY {status} in the REFER's dialog (saw {:?})",
                self.notified
            );
        }
    }
}

/// Nothing the platform sent in Target-Dialog reaches the carrier: no header naming the
/// platform's dialog, none of its identifiers anywhere in the carrier's REFER.
fn no_platform_identifiers(sim: &Sim, refer: &[u8], callee: DialogId) -> FlowResult {
    let d = sim.ua_ref(PLATFORM).dialog(callee);
    let text = String::from_utf8_lossy(refer);
    for id in [
        d.call_id.as_str(),
        d.local_tag.as_str(),
        d.remote_tag.as_deref().unwrap_or("-"),
    ] {
        ensure!(
            sim,
            !text.contains(id),
            "the carrier's REFER carries the platform-side identifier {id}:\n{text}"
        );
    }
    Ok(())
}

/// The carrier accepts, reports 100 then 200 and releases; the out-of-dialog REFER's sender
/// sees it all in the REFER's dialog, and the record says `handed_off`.
fn carrier_completes(sim: &mut Sim, t: &Transfer, ood: &mut OutOfDialogRefer) -> FlowResult {
    ood.await_final(sim, 202)?;
    let ok = ood
        .final_response(sim)
        .and_then(|r| sipwire::Message::parse(&r.bytes).ok());
    ensure!(
        sim,
        ok.as_ref()
            .is_some_and(|m| m.to_tag().is_some() && m.contact_uri().is_some()),
        "the 202 to an out-of-dialog REFER creates a dialog: it needs a To tag and a Contact"
    );
    carrier_notifies(sim, t, 100, false)?;
    ood.await_notify(sim, 100)?;
    carrier_notifies(sim, t, 200, true)?;
    ood.await_notify(sim, 200)?;
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
    let record = the_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::HandedOff
            && record.request == Some(crate::transfer::TransferRequestKind::OutOfDialogRefer),
        "record outcome {:?}, request {:?} (an out-of-dialog REFER says so on its record)",
        record.outcome,
        record.request
    );
    ensure!(
        sim,
        sim.ua_ref(PLATFORM).statuses(callee, "NOTIFY").is_empty()
            && !sim
                .ua_ref(PLATFORM)
                .all_incoming()
                .any(|r| r.method == "NOTIFY" && r.dialog == Some(callee)),
        "a NOTIFY went in the platform's call dialog instead of the REFER's"
    );
    Ok(())
}

/// RFC 5589 section 6.1 (Figure 1) through handoff: the platform, holding the call the carrier
/// placed, sends REFER outside the dialog with `Target-Dialog` naming it as handoff sees it and
/// `Require: tdialog`. handoff maps it to the call and transfers it exactly as an in-dialog
/// REFER: the carrier gets its REFER on leg A (E.164 Refer-To, no Target-Dialog: a blind REFER
/// in the very dialog it is about needs none, and the platform's identifiers must not leak),
/// the platform its 202 and the NOTIFYs in the new dialog.
pub fn out_of_dialog_blind_refer(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let target = target_dialog_as_handoff_sees(sim, callee).render();
    let mut ood = send_out_of_dialog_refer(sim, PLATFORM, callee, &target, PLATFORM_REFER_TO);
    let t = Transfer {
        caller,
        callee,
        notified: Vec::new(),
    };
    let refer = carrier_takes_refer(sim, &t)?;
    let bytes = sim.ua_ref(CARRIER).incoming(refer).bytes.clone();
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.header("Target-Dialog").is_none(),
        "blind REFER to the carrier carries Target-Dialog {:?}",
        incoming.header("Target-Dialog")
    );
    ensure!(
        sim,
        incoming.header("Refer-To").as_deref() == Some(CARRIER_REFER_TO),
        "carrier Refer-To {:?}",
        incoming.header("Refer-To")
    );
    no_platform_identifiers(sim, &bytes, callee)?;
    ensure!(
        sim,
        ood.final_response(sim).is_none(),
        "out-of-dialog REFER answered before the carrier answered"
    );
    sim.ua(CARRIER).answer(refer, 202, None);
    carrier_completes(sim, &t, &mut ood)
}

/// An in-dialog blind REFER whose Target-Dialog names its own dialog correctly: recognised, and
/// nothing of it reaches the carrier (no Replaces beside it, so no Target-Dialog helps there).
pub fn in_dialog_refer_target_dialog_not_relayed(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let target = target_dialog_as_handoff_sees(sim, callee).render();
    sim.ua(PLATFORM).refer(
        callee,
        PLATFORM_REFER_TO,
        &[
            ("Referred-By", PLATFORM_REFERRED_BY),
            ("P-Asserted-Identity", PLATFORM_IDENTITY),
            ("Target-Dialog", &target),
        ],
    );
    let t = Transfer {
        caller,
        callee,
        notified: Vec::new(),
    };
    let refer = carrier_takes_refer(sim, &t)?;
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.header("Target-Dialog").is_none(),
        "the platform's Target-Dialog reached the carrier: {:?}",
        incoming.header("Target-Dialog")
    );
    no_platform_identifiers(sim, &incoming.bytes, callee)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    let done = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "REFER") == Some(202),
        STEP_MS,
    );
    ensure!(sim, done, "platform's REFER not answered 202");
    Ok(())
}

/// An attended REFER in the platform's dialog whose Target-Dialog names no dialog handoff
/// knows: that value is never sent on (it would hand the carrier platform-side identifiers);
/// the carrier's REFER carries the Target-Dialog handoff writes beside the Replaces, naming A1
/// as the carrier sees it. Calls on shard 0 and the last shard.
pub fn attended_refer_unknown_target_dialog_not_relayed(sim: &mut Sim) -> FlowResult {
    let last = ShardId(sim.shards().len().saturating_sub(1) as u16);
    let calls = two_calls(sim, ShardId(0), last)?;
    let refer_to = format!(
        "<sip:+15559876543@10.0.0.2?Replaces={}>",
        platform_replaces(sim, &calls).render_escaped()
    );
    let ghost = "ghost-4711@platform.example;local-tag=ghostlocal;remote-tag=ghostremote";
    sim.ua(PLATFORM).request(
        calls.b1,
        "REFER",
        None,
        &[("Refer-To", &refer_to), ("Target-Dialog", ghost)],
    );
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    let text = String::from_utf8_lossy(&incoming.bytes).into_owned();
    ensure!(
        sim,
        !text.contains("ghost"),
        "the platform's Target-Dialog reached the carrier:\n{text}"
    );
    let expected = target_dialog_as_carrier_sees(sim, calls.a1);
    let received = incoming
        .header("Target-Dialog")
        .map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        received.as_ref() == Some(&expected),
        "carrier Target-Dialog {received:?}, expected A1 as the carrier sees it {expected:?}"
    );
    let replaces =
        sipwire::uri_header(&incoming.header("Refer-To").unwrap_or_default(), "Replaces")
            .map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        replaces == Some(expected_carrier_replaces(sim, &calls)),
        "Replaces {replaces:?} does not name A2 as the carrier sees it"
    );
    Ok(())
}

/// The call is unchanged after a refused out-of-dialog REFER: no REFER reached the carrier, no
/// transfer runs, and the platform can still hang up normally.
fn call_untouched(sim: &mut Sim, caller: DialogId, callee: DialogId) -> FlowResult {
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER")
            && !sim
                .ua_ref(CARRIER)
                .all_incoming()
                .any(|r| r.method == "REFER"),
        "a refused REFER reached the carrier"
    );
    ensure!(sim, sim.calls_active() == 1, "the call did not survive");
    sim.ua(PLATFORM).bye(callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).final_status(callee, "BYE") == Some(200)
                && s.ua_ref(CARRIER).dialog(caller).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, done, "the call could not be hung up after the refusal");
    Ok(())
}

/// Attack: another trunk (the partner's, a known source but not the leg's peer) and a stranger
/// learnt the platform leg's identifiers and send the platform's out-of-dialog REFER. The
/// partner gets 403 (RFC 4538 section 3: not authorised), the stranger nothing at all; the
/// carrier gets no REFER and the call goes on.
pub fn out_of_dialog_refer_from_another_source(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let target = target_dialog_as_handoff_sees(sim, callee).render();
    let partner = send_out_of_dialog_refer(sim, PARTNER, callee, &target, PLATFORM_REFER_TO);
    partner.await_final(sim, 403)?;
    let stranger = send_out_of_dialog_refer(sim, STRANGER, callee, &target, PLATFORM_REFER_TO);
    sim.run_for(5_000);
    ensure!(
        sim,
        sim.ua_ref(STRANGER)
            .responses
            .iter()
            .all(|r| r.call_id != stranger.call_id),
        "a stranger got an answer to its REFER"
    );
    call_untouched(sim, caller, callee)
}

/// Identifiers that do not name the leg as handoff sees it are ignored (RFC 4538 section 4:
/// "If the dialog identifiers don't match ... the header field MUST be ignored"), and nothing
/// else authorises an out-of-dialog REFER: 403, even from the leg's own peer. The sender's view
/// (local-tag = the platform's own tag) is one such value; a wrong remote-tag another.
pub fn out_of_dialog_refer_with_wrong_identifiers(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let right = target_dialog_as_handoff_sees(sim, callee);
    let local = right.params.get("local-tag").cloned().unwrap_or_default();
    let remote = right.params.get("remote-tag").cloned().unwrap_or_default();
    let senders_view = NamedDialog::target_dialog(&right.call_id, &remote, &local, &[]).render();
    let wrong_remote =
        NamedDialog::target_dialog(&right.call_id, &local, "not-the-platform-tag", &[]).render();
    let wrong_call_id =
        NamedDialog::target_dialog("another-call@platform", &local, &remote, &[]).render();
    for value in [senders_view, wrong_remote, wrong_call_id] {
        let refer = send_out_of_dialog_refer(sim, PLATFORM, callee, &value, PLATFORM_REFER_TO);
        refer.await_final(sim, 403)?;
    }
    call_untouched(sim, caller, callee)
}

/// RFC 5589 section 7.3 (Figure 7) through handoff: two calls, and the platform sends REFER
/// outside any dialog with `Target-Dialog` naming call 1 (B1, as handoff sees it) and a Refer-To
/// whose Replaces names call 2 (B2). The carrier gets its REFER in A1 with the Replaces naming
/// A2 and a Target-Dialog naming A1, both as the carrier sees them (it helps there: the
/// Replaces names another dialog). The platform gets the 202 and the NOTIFYs in the REFER's
/// dialog. `shard1`/`shard2`: where the calls live (the REFER is routed to call 1's shard by
/// its Target-Dialog; call 2's Replaces may be on another).
pub fn out_of_dialog_attended_refer(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> FlowResult {
    let calls: TwoCalls = two_calls(sim, shard1, shard2)?;
    let refer_to = format!(
        "<sip:+15559876543@10.0.0.2?Replaces={}>",
        platform_replaces(sim, &calls).render_escaped()
    );
    let target = target_dialog_as_handoff_sees(sim, calls.b1).render();
    let mut ood = send_out_of_dialog_refer(sim, PLATFORM, calls.b1, &target, &refer_to);
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.dialog == Some(calls.a1),
        "carrier got the REFER outside A1"
    );
    let received = incoming.header("Refer-To").unwrap_or_default();
    let replaces = sipwire::uri_header(&received, "Replaces").map(|v| NamedDialog::parse(&v));
    let expected = expected_carrier_replaces(sim, &calls);
    ensure!(
        sim,
        replaces.as_ref() == Some(&expected),
        "Refer-To {received:?} does not name A2 as the carrier sees it ({expected:?})"
    );
    let expected_target = target_dialog_as_carrier_sees(sim, calls.a1);
    let received_target = incoming
        .header("Target-Dialog")
        .map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        received_target.as_ref() == Some(&expected_target),
        "carrier Target-Dialog {received_target:?} does not name A1 as the carrier sees it ({expected_target:?})"
    );
    no_platform_identifiers(sim, &incoming.bytes, calls.b1)?;
    no_platform_identifiers(sim, &incoming.bytes, calls.b2)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    ood.await_final(sim, 202)?;
    sim.ua(CARRIER).notify_sipfrag(calls.a1, 200, true);
    ood.await_notify(sim, 200)?;
    Ok(())
}

/// The transfer flows' standard config (the carrier trunk has a REFER header, X-Carrier-Account).
fn standard() -> Arc<Config> {
    super::transfer_flows::standard()
}

/// The out-of-dialog attended flow with call 1 on shard 0 and call 2 on the last shard (the
/// same one when there is one shard).
fn attended_across_shards(sim: &mut Sim) -> FlowResult {
    let last = ShardId(sim.shards().len().saturating_sub(1) as u16);
    out_of_dialog_attended_refer(sim, ShardId(0), last)
}

/// Every flow, for the seed sweep.
pub const FLOWS: &[super::SweptFlow] = &[
    (
        "out_of_dialog_blind_refer",
        standard,
        out_of_dialog_blind_refer,
    ),
    (
        "in_dialog_refer_target_dialog_not_relayed",
        standard,
        in_dialog_refer_target_dialog_not_relayed,
    ),
    (
        "attended_refer_unknown_target_dialog_not_relayed",
        standard,
        attended_refer_unknown_target_dialog_not_relayed,
    ),
    (
        "out_of_dialog_refer_from_another_source",
        standard,
        out_of_dialog_refer_from_another_source,
    ),
    (
        "out_of_dialog_refer_with_wrong_identifiers",
        standard,
        out_of_dialog_refer_with_wrong_identifiers,
    ),
    (
        "out_of_dialog_attended_refer",
        standard,
        attended_across_shards,
    ),
    (
        "out_of_dialog_refer_local_mode",
        super::transfer_flows::local_mode_config,
        out_of_dialog_refer_local_mode,
    ),
    (
        "out_of_dialog_refer_on_a_dialer_call",
        standard,
        out_of_dialog_refer_on_a_dialer_call,
    ),
    (
        "held_attended_refer_counts_once",
        standard,
        held_attended_refer_counts_once,
    ),
    ("rfc5589_6_1_golden", standard, rfc5589_6_1_golden),
    ("rfc5589_7_3_golden", standard, rfc5589_7_3_golden),
    ("rfc4538_10_golden", standard, rfc4538_10_golden),
];

/// `transfer = "local"` on the carrier's trunk: the out-of-dialog REFER is taken by handoff
/// itself, exactly as an in-dialog one: 202 at once, leg C to the target, bridged; the NOTIFYs
/// of handoff's own making go in the REFER's dialog; no REFER reaches the carrier.
pub fn out_of_dialog_refer_local_mode(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let target = target_dialog_as_handoff_sees(sim, callee).render();
    let mut ood = send_out_of_dialog_refer(sim, PLATFORM, callee, &target, PLATFORM_REFER_TO);
    ood.await_final(sim, 202)?;
    let partner = super::transfer_flows::partner_answers(sim, 200)?;
    let up = sim.run_until(
        |s| s.ua_ref(PARTNER).dialog(partner).acks_received > 0,
        STEP_MS,
    );
    ensure!(sim, up, "leg C's 200 not ACKed");
    ood.await_notify(sim, 200)?;
    ensure!(
        sim,
        !sim.ua_ref(CARRIER)
            .all_incoming()
            .any(|r| r.method == "REFER"),
        "a REFER reached a carrier set to transfer = local"
    );
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM)
            .all_incoming()
            .any(|r| r.method == "NOTIFY" && r.dialog == Some(callee)),
        "a NOTIFY went in the platform's call dialog instead of the REFER's"
    );
    // The customer now talks to the partner; the carrier ends it, the partner gets the BYE.
    let t = Transfer {
        caller,
        callee,
        notified: Vec::new(),
    };
    super::transfer_flows::carrier_hangs_up(sim, &t, PARTNER)
}

/// A dialer call (the platform called the customer out, so handoff is the UAS of the platform's
/// leg, at position A): the agent's out-of-dialog REFER names that leg as handoff sees it
/// (local-tag = handoff's To tag) and transfers the carrier's leg B, as an in-dialog REFER
/// would (roles, not positions).
pub fn out_of_dialog_refer_on_a_dialer_call(sim: &mut Sim) -> FlowResult {
    let t = super::dialer_flows::dialer_call(sim)?;
    let target = target_dialog_as_handoff_sees(sim, t.callee).render();
    let mut ood = send_out_of_dialog_refer(
        sim,
        PLATFORM,
        t.callee,
        &target,
        super::dialer_flows::DIALER_REFER_TO,
    );
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.dialog == Some(t.caller)
            && incoming.header("Refer-To").as_deref()
                == Some(super::dialer_flows::CARRIER_REFER_TO),
        "carrier's REFER: dialog {:?}, Refer-To {:?}",
        incoming.dialog,
        incoming.header("Refer-To")
    );
    no_platform_identifiers(sim, &incoming.bytes, t.callee)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    ood.await_final(sim, 202)?;
    carrier_notifies(sim, &t, 200, true)?;
    ood.await_notify(sim, 200)?;
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
    let records = sim.transfers();
    ensure!(
        sim,
        records.len() == 1 && records[0].outcome == TransferOutcome::HandedOff,
        "records {records:?}"
    );
    Ok(())
}

/// An in-dialog attended REFER whose Replaces names a call on another shard is held for that
/// shard's answer and processed again when it comes: it is still the first REFER of the
/// platform's dialog, so its NOTIFYs carry `Event: refer` without an id (RFC 3515 section
/// 2.4.6: the id is for the second and later REFERs of a dialog).
pub fn held_attended_refer_counts_once(sim: &mut Sim) -> FlowResult {
    let last = ShardId(sim.shards().len().saturating_sub(1) as u16);
    let calls = two_calls(sim, ShardId(0), last)?;
    let refer_to = format!(
        "<sip:+15559876543@10.0.0.2?Replaces={}>",
        platform_replaces(sim, &calls).render_escaped()
    );
    sim.ua(PLATFORM)
        .request(calls.b1, "REFER", None, &[("Refer-To", &refer_to)]);
    let refer = sim.expect_request(CARRIER, "REFER");
    sim.ua(CARRIER).answer(refer, 202, None);
    sim.ua(CARRIER).notify_sipfrag(calls.a1, 200, true);
    let notify = sim.expect_request(PLATFORM, "NOTIFY");
    let incoming = sim.ua_ref(PLATFORM).incoming(notify).clone();
    sim.ua(PLATFORM).answer(notify, 200, None);
    ensure!(
        sim,
        incoming.dialog == Some(calls.b1) && incoming.header("Event").as_deref() == Some("refer"),
        "NOTIFY for the first REFER of B1: dialog {:?}, Event {:?}",
        incoming.dialog,
        incoming.header("Event")
    );
    Ok(())
}

// ------------------------------------------------------------------------ golden RFC flows

/// The platform's address in the fixtures' `{PLATFORM}`.
const PLATFORM_ADDR: &str = "10.0.0.2:5060";

/// The carrier calls the platform, which answers with tag `platform_tag` (the RFC's). Checks
/// handoff's INVITE against `f1` and returns the bound values (B1_CALL_ID, B1_TAG,
/// HANDOFF_CONTACT_URI, ...) and the two agents' dialogs.
fn golden_call(
    sim: &mut Sim,
    f1: &str,
    platform_tag: &str,
    carrier_call_id: Option<String>,
) -> Result<(Vars, DialogId, DialogId), String> {
    sim.ua(PLATFORM).next_dialog_tag = Some(platform_tag.to_string());
    sim.ua(CARRIER).next_call_id = carrier_call_id;
    let caller = sim.ua(CARRIER).invite(
        super::scenarios::PLATFORM_NUMBER,
        Some(offer_sdp("10.0.0.1", 4000)),
    );
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let incoming = sim.ua_ref(PLATFORM).incoming(invite).clone();
    let mut bound = vars(&[("PLATFORM", PLATFORM_ADDR)]);
    if let Err(error) = matches(f1, &incoming.bytes, &mut bound) {
        return Err(format!("t={} ms: F1: {error}", sim.now.as_millis()));
    }
    let Some(callee) = incoming.dialog else {
        return Err("INVITE made no dialog".into());
    };
    sim.ua(PLATFORM).answer_with(
        invite,
        200,
        Some(offer_sdp("10.0.0.2", 5000)),
        &[
            ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY"),
            ("Supported", "replaces, gruu, tdialog"),
        ],
    );
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call not established end to end");
    Ok((bound, caller, callee))
}

/// The final response the platform got to the request with Call-ID `call_id`.
fn platform_final(sim: &Sim, call_id: &str) -> Option<sipwire::agent::ResponseSeen> {
    sim.ua_ref(PLATFORM)
        .responses
        .iter()
        .find(|r| r.method == "REFER" && r.call_id == call_id && r.status >= 200)
        .cloned()
}

/// Takes the NOTIFYs the platform got for the golden REFER (Call-ID `a84b4c76e66710`), each
/// checked against the fixture for its sipfrag status and answered 200, until `status` came.
fn golden_notifies(
    sim: &mut Sim,
    expected: &[(u16, &str)],
    status: u16,
    bound: &mut Vars,
    seen: &mut Vec<u16>,
) -> FlowResult {
    loop {
        while let Some(id) = sim.ua(PLATFORM).take_request("NOTIFY") {
            let incoming = sim.ua_ref(PLATFORM).incoming(id).clone();
            let got = sipfrag_status(&incoming.body());
            let Some((_, fixture)) = expected.iter().find(|(s, _)| Some(*s) == got) else {
                return Err(format!(
                    "t={} ms: unexpected NOTIFY {got:?}",
                    sim.now.as_millis()
                ));
            };
            if let Err(error) = matches(fixture, &incoming.bytes, bound) {
                return Err(format!(
                    "t={} ms: NOTIFY {got:?}: {error}",
                    sim.now.as_millis()
                ));
            }
            sim.ua(PLATFORM).answer(id, 200, None);
            seen.extend(got);
        }
        if seen.contains(&status) {
            return Ok(());
        }
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(PLATFORM).has_request("NOTIFY"), STEP_MS),
            "no NOTIFY {status} in the REFER's dialog (saw {seen:?})"
        );
    }
}

/// Runs until the golden REFER got its final response; checks it against `fixture`.
fn golden_refer_answered(sim: &mut Sim, fixture: &str, bound: &mut Vars) -> FlowResult {
    let done = sim.run_until(
        |s| platform_final(s, GOLDEN_REFER_CALL_ID).is_some(),
        STEP_MS,
    );
    ensure!(sim, done, "the golden REFER got no final response");
    let response = platform_final(sim, GOLDEN_REFER_CALL_ID).map(|r| r.bytes);
    if let Err(error) = matches(fixture, &response.unwrap_or_default(), bound) {
        return Err(format!("t={} ms: 202: {error}", sim.now.as_millis()));
    }
    Ok(())
}

/// The Call-ID of RFC 5589's REFERs (F3 in 6.1, F5 in 7.3).
const GOLDEN_REFER_CALL_ID: &str = "a84b4c76e66710";

/// RFC 5589 section 6.1 (Figure 1), replayed with the RFC's messages: F1 (handoff's INVITE)
/// matched, F3 (the out-of-dialog REFER with Target-Dialog and Require: tdialog) sent as
/// printed, the 202 and F4/F6 (NOTIFY 100 and 200 in the REFER's dialog) matched against
/// tests/fixtures/rfc5589/. The carrier gets the REFER on leg A in between.
pub fn rfc5589_6_1_golden(sim: &mut Sim) -> FlowResult {
    let (mut bound, caller, callee) = golden_call(sim, RFC5589_6_1_F1, "31kdl4i3k", None)?;
    bound.insert("TARGET".into(), super::transfer_flows::TARGET.into());
    let f3 = fill(RFC5589_6_1_F3, &bound);
    ensure!(
        sim,
        sim.ua(PLATFORM).send_request_bytes(f3),
        "F3 unreadable"
    );
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.dialog == Some(caller)
            && incoming.header("Refer-To").as_deref() == Some(CARRIER_REFER_TO)
            && incoming.header("Target-Dialog").is_none(),
        "carrier's REFER: dialog {:?}, Refer-To {:?}, Target-Dialog {:?}",
        incoming.dialog,
        incoming.header("Refer-To"),
        incoming.header("Target-Dialog")
    );
    no_platform_identifiers(sim, &incoming.bytes, callee)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    golden_refer_answered(sim, RFC5589_6_1_202, &mut bound)?;
    let t = Transfer {
        caller,
        callee,
        notified: Vec::new(),
    };
    let expected = [(100, RFC5589_6_1_F4), (200, RFC5589_6_1_F6)];
    let mut seen = Vec::new();
    carrier_notifies(sim, &t, 100, false)?;
    golden_notifies(sim, &expected, 100, &mut bound, &mut seen)?;
    carrier_notifies(sim, &t, 200, true)?;
    golden_notifies(sim, &expected, 200, &mut bound, &mut seen)?;
    sim.ua(CARRIER).bye(caller);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier BYE not answered, or platform not BYEd");
    let record = the_record(sim)?;
    ensure!(
        sim,
        record.outcome == TransferOutcome::HandedOff,
        "record outcome {:?}",
        record.outcome
    );
    Ok(())
}

/// RFC 5589 section 7.3 (Figure 7), replayed with the RFC's messages: dialog 1 (F1 matched, the
/// platform answers with the RFC's tag 31431), dialog 2 placed by the platform with F3's
/// Call-ID and tag (routed to the carrier), then F5 sent as printed (but for the two printing
/// errors, see the fixtures' README): the carrier's REFER on A1 names A2 in its Replaces and
/// A1 in its Target-Dialog, as the carrier sees them; the 202 and the NOTIFY 200 reach the
/// platform in the REFER's dialog.
pub fn rfc5589_7_3_golden(sim: &mut Sim) -> FlowResult {
    let (mut bound, a1, b1) = golden_call(sim, RFC5589_6_1_F1, "31431", None)?;
    // Dialog 2: F3's Call-ID and tag, to a number routed back to the carrier.
    let number = "+15559876543";
    sim.ua(PLATFORM).next_call_id = Some("592435881734450904".into());
    sim.ua(PLATFORM).next_dialog_tag = Some("763231".into());
    let b2 = sim.ua(PLATFORM).invite_with(
        number,
        Some(offer_sdp("10.0.0.2", 5002)),
        &[
            ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY"),
            ("Supported", "gruu, replaces, tdialog"),
            ("Require", "replaces"),
        ],
    );
    let invite = sim.expect_request(CARRIER, "INVITE");
    let Some(a2) = sim.ua_ref(CARRIER).incoming(invite).dialog else {
        return Err("call 2's INVITE made no dialog".into());
    };
    sim.ua(CARRIER)
        .answer(invite, 200, Some(offer_sdp("10.0.0.1", 4002)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(b2).is_confirmed()
                && s.ua_ref(CARRIER).dialog(a2).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call 2 not established");
    let b2_tag = sim
        .ua_ref(PLATFORM)
        .dialog(b2)
        .remote_tag
        .clone()
        .unwrap_or_default();
    bound.insert("B2_TAG".into(), b2_tag);
    bound.insert("TARGET".into(), number.into());
    let f5 = fill(RFC5589_7_3_F5, &bound);
    ensure!(
        sim,
        sim.ua(PLATFORM).send_request_bytes(f5),
        "F5 unreadable"
    );
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.dialog == Some(a1),
        "carrier got the REFER outside A1"
    );
    let refer_to = incoming.header("Refer-To").unwrap_or_default();
    let carrier_a2 = sim.ua_ref(CARRIER).dialog(a2);
    let expected_replaces = NamedDialog::replaces(
        &carrier_a2.call_id,
        &carrier_a2.local_tag,
        carrier_a2.remote_tag.as_deref().unwrap_or_default(),
    );
    let replaces = sipwire::uri_header(&refer_to, "Replaces").map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        replaces.as_ref() == Some(&expected_replaces),
        "Refer-To {refer_to:?} does not name A2 as the carrier sees it ({expected_replaces:?})"
    );
    let expected_target = target_dialog_as_carrier_sees(sim, a1);
    let target = incoming
        .header("Target-Dialog")
        .map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        target.as_ref() == Some(&expected_target),
        "carrier Target-Dialog {target:?}, expected A1 as the carrier sees it {expected_target:?}"
    );
    no_platform_identifiers(sim, &incoming.bytes, b1)?;
    no_platform_identifiers(sim, &incoming.bytes, b2)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    golden_refer_answered(sim, RFC5589_6_1_202, &mut bound)?;
    sim.ua(CARRIER).notify_sipfrag(a1, 200, true);
    let mut seen = Vec::new();
    golden_notifies(sim, &[(200, RFC5589_6_1_F6)], 200, &mut bound, &mut seen)
}

/// RFC 4538 section 10 (Figure 5), replayed with its messages: handoff is the caller (message 1
/// matched), the platform answers with tag 6544 (message 5) and sends message 8, the REFER
/// outside the dialog whose Target-Dialog names the dialog as its recipient (handoff) sees it
/// (local-tag = the caller's tag). handoff recognises the dialog (it authorises the REFER,
/// section 4) and refuses the `http:` Refer-To it cannot act on with 400, as it would in the
/// dialog; the same REFER with the tags in the sender's view names no dialog: 403. Nothing
/// reaches the carrier.
pub fn rfc4538_10_golden(sim: &mut Sim) -> FlowResult {
    let (bound, caller, callee) = golden_call(sim, RFC4538_10_MSG1, "6544", None)?;
    let msg8 = fill(RFC4538_10_MSG8, &bound);
    ensure!(
        sim,
        sim.ua(PLATFORM).send_request_bytes(msg8.clone()),
        "message 8 unreadable"
    );
    let call_id = "86d65asfklzll8f7asdr@host.example.com";
    let final_to = |s: &Sim, call_id: &str| {
        s.ua_ref(PLATFORM)
            .responses
            .iter()
            .find(|r| r.call_id == call_id && r.status >= 200)
            .map(|r| r.status)
    };
    let done = sim.run_until(|s| final_to(s, call_id).is_some(), STEP_MS);
    let status = final_to(sim, call_id);
    ensure!(
        sim,
        done && status == Some(400),
        "message 8 got {status:?}: handoff must recognise the dialog and refuse the http: target (400)"
    );
    // The sender's view: local-tag = the platform's own tag (RFC 4538 section 4: ignored).
    let handoff_tag = bound.get("B1_TAG").cloned().unwrap_or_default();
    let swapped = String::from_utf8_lossy(&msg8)
        .replace(&format!(";local-tag={handoff_tag}"), ";local-tag=6544")
        .replace(";remote-tag=6544", &format!(";remote-tag={handoff_tag}"))
        .replace("z9hG4bK9zz10", "z9hG4bK9zz11")
        .replace(call_id, "86d65asfklzll8f7asdr-2@host.example.com");
    ensure!(
        sim,
        sim.ua(PLATFORM).send_request_bytes(swapped.into_bytes()),
        "swapped message 8 unreadable"
    );
    let call_id = "86d65asfklzll8f7asdr-2@host.example.com";
    let done = sim.run_until(|s| final_to(s, call_id).is_some(), STEP_MS);
    let status = final_to(sim, call_id);
    ensure!(
        sim,
        done && status == Some(403),
        "message 8 in the sender's view got {status:?}, expected 403"
    );
    call_untouched(sim, caller, callee)
}
