//! Attended-transfer call flows (issue 5), shared by the tests/sim_attended_*.rs files and the
//! attended seed sweep.
//!
//! The setup: call 1 is carrier -> handoff -> platform (A1 toward the carrier, B1 toward the
//! platform); the platform holds it and places call 2 to a number the standard config routes
//! back to the carrier (B2 toward the platform, A2 toward the carrier). The calls' Call-IDs are
//! chosen so the two calls land on the shards a test asks for (a call belongs to the hash of the
//! Call-ID its first INVITE came with).

use super::{CARRIER, DialogId, PLATFORM, Sim, offer_sdp, sdp_with};
use crate::core::ShardId;
use crate::core::ids::shard_for_call_id;
use std::collections::BTreeMap;

use super::scenarios::{FlowResult, PLATFORM_NUMBER, STEP_MS};
use crate::vocab::StatusCode;

/// The number the platform dials for call 2 (routed platform -> carrier).
pub const CALL2_NUMBER: &str = "+15559876543";

/// The two calls of an attended transfer, as the agents see them.
#[derive(Clone, Copy, Debug)]
pub struct TwoCalls {
    /// Carrier's dialog of call 1 (A1; the carrier is its UAC).
    pub a1: DialogId,
    /// Platform's dialog of call 1 (B1; the platform is its UAS).
    pub b1: DialogId,
    /// Platform's dialog of call 2 (B2; the platform is its UAC).
    pub b2: DialogId,
    /// Carrier's dialog of call 2 (A2; the carrier is its UAS).
    pub a2: DialogId,
    pub shard1: ShardId,
    pub shard2: ShardId,
}

/// A Call-ID that `shard_for_call_id` places on `shard`.
pub fn call_id_on_shard(prefix: &str, shard: ShardId, shards: u16) -> String {
    (0u32..)
        .map(|i| format!("{prefix}-{i}@attended.test"))
        .find(|id| shard_for_call_id(id, shards) == shard)
        .unwrap_or_default()
}

/// One INVITE from `caller` for `number`, answered 200 by `callee`: (caller's, callee's) dialogs.
fn place_call(
    sim: &mut Sim,
    caller: usize,
    callee: usize,
    number: &str,
    call_id: String,
) -> Result<(DialogId, DialogId), String> {
    sim.ua(caller).next_call_id = Some(call_id);
    let ip = if caller == CARRIER {
        "10.0.0.1"
    } else {
        "10.0.0.2"
    };
    let uac = sim.ua(caller).invite(number, Some(offer_sdp(ip, 4000)));
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(callee).has_request("INVITE"), STEP_MS),
        "callee {callee} got no INVITE"
    );
    let Some(invite) = sim.ua(callee).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    let Some(uas) = sim.ua_ref(callee).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    let callee_ip = if callee == CARRIER {
        "10.0.0.1"
    } else {
        "10.0.0.2"
    };
    sim.ua(callee)
        .answer(invite, 200, Some(offer_sdp(callee_ip, 5000)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(caller).dialog(uac).is_confirmed()
                && s.ua_ref(callee).dialog(uas).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call to {number} not established end to end");
    Ok((uac, uas))
}

/// Call 1 on `shard1`, held by the platform; call 2 on `shard2`.
pub fn two_calls(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> Result<TwoCalls, String> {
    let shards = sim.shards().len() as u16;
    let (a1, b1) = place_call(
        sim,
        CARRIER,
        PLATFORM,
        PLATFORM_NUMBER,
        call_id_on_shard("call1", shard1, shards),
    )?;
    // The platform holds call 1 (relayed re-INVITE, answered by the carrier).
    sim.ua(CARRIER).auto_answer_sdp = Some(sdp_with("10.0.0.1", 4000, "recvonly", &[0, 8]));
    sim.ua(PLATFORM)
        .reinvite(b1, sdp_with("10.0.0.2", 5000, "sendonly", &[0, 8]));
    let held = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(b1, "INVITE") == Some(200),
        STEP_MS,
    );
    ensure!(sim, held, "hold re-INVITE not answered 200");
    sim.ua(CARRIER).auto_answer_sdp = None;
    let (b2, a2) = place_call(
        sim,
        PLATFORM,
        CARRIER,
        CALL2_NUMBER,
        call_id_on_shard("call2", shard2, shards),
    )?;
    ensure!(
        sim,
        sim.calls_active() == 2,
        "handoff holds {} calls, expected 2",
        sim.calls_active()
    );
    Ok(TwoCalls {
        a1,
        b1,
        b2,
        a2,
        shard1,
        shard2,
    })
}

/// A dialog named by a Replaces (RFC 3891: to-tag, from-tag) or Target-Dialog (RFC 4538:
/// local-tag, remote-tag) value: its Call-ID and its parameters (names lowercased; their order
/// does not matter). Written and read here with `sipwire`, not with handoff's
/// `transfer::dialog_ids`, so the flows do not share handoff's reading of these headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedDialog {
    pub call_id: String,
    pub params: BTreeMap<String, String>,
}

impl NamedDialog {
    fn new(call_id: &str, params: &[(&str, &str)]) -> NamedDialog {
        NamedDialog {
            call_id: call_id.to_string(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
        }
    }

    /// A Replaces value (RFC 3891 section 6.1).
    pub fn replaces(call_id: &str, to_tag: &str, from_tag: &str) -> NamedDialog {
        NamedDialog::new(call_id, &[("to-tag", to_tag), ("from-tag", from_tag)])
    }

    /// A Target-Dialog value (RFC 4538 section 7), with extra parameters.
    pub fn target_dialog(
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
        extra: &[(&str, &str)],
    ) -> NamedDialog {
        let mut params = vec![("local-tag", local_tag), ("remote-tag", remote_tag)];
        params.extend_from_slice(extra);
        NamedDialog::new(call_id, &params)
    }

    /// Reads `callid;name=value;...`.
    pub fn parse(value: &str) -> NamedDialog {
        NamedDialog {
            call_id: sipwire::uri_of(value).to_string(),
            params: sipwire::params(value)
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
        }
    }

    pub fn render(&self) -> String {
        let mut out = self.call_id.clone();
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            if !value.is_empty() {
                out.push('=');
                out.push_str(value);
            }
        }
        out
    }

    /// The value escaped for a URI's headers (`?Replaces=...` in a Refer-To).
    pub fn render_escaped(&self) -> String {
        sipwire::escape_uri_header(&self.render())
    }
}

/// The Replaces the platform puts in its Refer-To, naming B2 as handoff (its receiver) sees it.
pub fn platform_replaces(sim: &Sim, calls: &TwoCalls) -> NamedDialog {
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2);
    NamedDialog::replaces(
        &b2.call_id,
        b2.remote_tag.as_deref().unwrap_or_default(),
        &b2.local_tag,
    )
}

/// The Replaces the carrier must receive: A2 as the carrier sees it (to-tag = its own tag).
pub fn expected_carrier_replaces(sim: &Sim, calls: &TwoCalls) -> NamedDialog {
    let a2 = sim.ua_ref(CARRIER).dialog(calls.a2);
    NamedDialog::replaces(
        &a2.call_id,
        &a2.local_tag,
        a2.remote_tag.as_deref().unwrap_or_default(),
    )
}

/// The first header `name` of a received request (read with `sipwire`, not handoff's parser).
fn header_of(bytes: &[u8], name: &str) -> Option<String> {
    let message = sipwire::Message::parse(bytes).ok()?;
    message.header(name).map(str::to_string)
}

/// The platform's attended REFER on B1 reaches the carrier on A1 with its Replaces and
/// Target-Dialog naming the carrier's own dialogs. Returns the carrier's REFER.
fn refer_reaches_carrier(sim: &mut Sim, calls: &TwoCalls) -> Result<super::RequestId, String> {
    let refer_to = format!(
        "<sip:{CALL2_NUMBER}@10.0.0.2?Replaces={}>",
        platform_replaces(sim, calls).render_escaped()
    );
    // The platform names call 1 in Target-Dialog as its recipient (handoff) sees B1, as
    // RFC 4538 section 3 has a transferor do (local-tag = the recipient's tag); the carrier
    // must get A1 named as it sees A1 (local-tag = the carrier's own tag).
    let b1 = sim.ua_ref(PLATFORM).dialog(calls.b1);
    let target_dialog = NamedDialog::target_dialog(
        &b1.call_id,
        b1.remote_tag.as_deref().unwrap_or_default(),
        &b1.local_tag,
        &[],
    )
    .render();
    sim.ua(PLATFORM).request(
        calls.b1,
        "REFER",
        None,
        &[
            ("Refer-To", &refer_to),
            ("Referred-By", "<sip:agent@10.0.0.2>"),
            ("Target-Dialog", &target_dialog),
        ],
    );
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    ensure!(
        sim,
        incoming.dialog == Some(calls.a1),
        "carrier got the REFER outside A1"
    );
    let Some(received) = header_of(&incoming.bytes, "Refer-To") else {
        return Err("carrier's REFER has no Refer-To".into());
    };
    let replaces = sipwire::uri_header(&received, "Replaces").map(|v| NamedDialog::parse(&v));
    let expected = expected_carrier_replaces(sim, calls);
    ensure!(
        sim,
        replaces.as_ref() == Some(&expected),
        "Refer-To {received:?} does not name A2 as the carrier sees it ({expected:?})"
    );
    ensure!(
        sim,
        received.starts_with(&format!("<sip:{CALL2_NUMBER}@")),
        "carrier Refer-To {received:?} is not the E.164 target"
    );
    let a1 = sim.ua_ref(CARRIER).dialog(calls.a1);
    let expected_target = NamedDialog::target_dialog(
        &a1.call_id,
        &a1.local_tag,
        a1.remote_tag.as_deref().unwrap_or_default(),
        &[],
    );
    let received_target =
        header_of(&incoming.bytes, "Target-Dialog").map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        received_target.as_ref() == Some(&expected_target),
        "carrier REFER Target-Dialog {received_target:?} does not name A1 as the carrier sees it ({expected_target:?})"
    );
    Ok(refer)
}

/// A Target-Dialog on a relayed request: the platform's INFO on B1 names B2 as handoff (the
/// recipient) sees it; the carrier's INFO on A1 names A2 as the carrier sees it (local-tag =
/// the carrier's own tag, RFC 4538 section 3).
pub fn target_dialog_on_relayed_request(
    sim: &mut Sim,
    shard1: ShardId,
    shard2: ShardId,
) -> FlowResult {
    let calls = two_calls(sim, shard1, shard2)?;
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2);
    let named = NamedDialog::target_dialog(
        &b2.call_id,
        b2.remote_tag.as_deref().unwrap_or_default(),
        &b2.local_tag,
        &[("x", "1")],
    )
    .render();
    sim.ua(PLATFORM)
        .request(calls.b1, "INFO", None, &[("Target-Dialog", &named)]);
    let info = sim.expect_request(CARRIER, "INFO");
    let incoming = sim.ua_ref(CARRIER).incoming(info).clone();
    let a2 = sim.ua_ref(CARRIER).dialog(calls.a2);
    let expected = NamedDialog::target_dialog(
        &a2.call_id,
        &a2.local_tag,
        a2.remote_tag.as_deref().unwrap_or_default(),
        &[("x", "1")],
    );
    let received = header_of(&incoming.bytes, "Target-Dialog").map(|v| NamedDialog::parse(&v));
    ensure!(
        sim,
        incoming.dialog == Some(calls.a1) && received.as_ref() == Some(&expected),
        "Target-Dialog {received:?} does not name A2 as the carrier sees it ({expected:?})"
    );
    sim.ua(CARRIER).answer(info, 200, None);
    let answered = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(calls.b1, "INFO") == Some(200),
        STEP_MS,
    );
    ensure!(sim, answered, "INFO not answered");
    Ok(())
}

/// Attended transfer, "refer" mode: the platform REFERs on B1 naming B2; the carrier gets a
/// REFER on A1 naming A2 (its own dialog), accepts, reports success, and BYEs A1 and A2: both
/// calls are handed off (call 1 as "handed_off", with an attended/refer audit record; call 2
/// as any call its carrier leg ends), B1 and B2 torn down, nothing left on handoff.
pub fn attended_refer_mode(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> FlowResult {
    let calls = two_calls(sim, shard1, shard2)?;
    let refer = refer_reaches_carrier(sim, &calls)?;
    sim.ua(CARRIER).answer(refer, 202, None);
    let accepted = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(calls.b1, "REFER") == Some(202),
        STEP_MS,
    );
    ensure!(sim, accepted, "platform did not get the carrier's 202");
    sim.ua(CARRIER).request(
        calls.a1,
        "NOTIFY",
        Some(("message/sipfrag", b"SIP/2.0 200 OK".to_vec())),
        &[
            ("Event", "refer"),
            ("Subscription-State", "terminated;reason=noresource"),
        ],
    );
    let notify = final_platform_notify(sim);
    let incoming = sim.ua_ref(PLATFORM).incoming(notify).clone();
    ensure!(
        sim,
        incoming.dialog == Some(calls.b1) && incoming.body().starts_with(b"SIP/2.0 200"),
        "platform's NOTIFY is not the carrier's sipfrag 200 on B1"
    );
    sim.ua(PLATFORM).answer(notify, 200, None);
    let notified = sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(calls.a1, "NOTIFY") == Some(200),
        STEP_MS,
    );
    ensure!(sim, notified, "carrier's NOTIFY not answered 200");
    // The carrier joined its two calls: it releases both of handoff's legs.
    sim.ua(CARRIER).bye(calls.a1);
    sim.ua(CARRIER).bye(calls.a2);
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(calls.b1).bye_received
                && s.ua_ref(PLATFORM).dialog(calls.b2).bye_received
                && s.ua_ref(CARRIER).final_status(calls.a1, "BYE") == Some(200)
                && s.ua_ref(CARRIER).final_status(calls.a2, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(sim, done, "B1 and B2 were not both torn down");
    let mut reasons: Vec<&str> = sim
        .call_ends()
        .into_iter()
        .map(|e| e.end_reason.as_str())
        .collect();
    reasons.sort();
    ensure!(
        sim,
        reasons == ["bye_from_b", "handed_off"],
        "calls ended as {reasons:?}"
    );
    let record = sim.events.iter().find_map(|(_, e)| match e {
        crate::core::Event::Transfer(record) => Some(record.clone()),
        _ => None,
    });
    ensure!(
        sim,
        record
            .as_ref()
            .is_some_and(|r| r.kind == crate::transfer::TransferKind::Attended
                && r.method == crate::config::TransferMethod::Refer
                && r.outcome == crate::transfer::TransferOutcome::HandedOff
                && r.refer_status == Some(StatusCode::ACCEPTED)),
        "transfer record: {record:?}"
    );
    ensure!(sim, sim.calls_active() == 0, "calls still active");
    ensure!(
        sim,
        sim.media_ports_in_use() == 0,
        "{} media ports still held",
        sim.media_ports_in_use()
    );
    let held: usize = sim
        .shards()
        .iter()
        .map(|s| s.requests_held_for_translation())
        .sum();
    ensure!(sim, held == 0, "{held} requests still held for translation");
    Ok(())
}

/// A `Replaces:` header on an INVITE from the platform naming B2 replaces B2 at handoff, which is
/// B2's UAS (RFC 3891 section 3): the new dialog is answered and bridged to A2 in B2's place, B2
/// gets BYE, and the carrier sees nothing. The INVITE is handled on B2's shard whatever its
/// Call-ID: it is routed by the Replaces to-tag, which handoff minted. The value is written in
/// the form of RFC 3891's message *3 (`callid;to-tag=<recipient's>;from-tag=<sender's>`).
pub fn replaces_header_on_invite(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> FlowResult {
    let calls = two_calls(sim, shard1, shard2)?;
    let b2 = sim.ua_ref(PLATFORM).dialog(calls.b2).clone();
    let replaces = format!(
        "{};to-tag={};from-tag={}",
        b2.call_id,
        b2.remote_tag.clone().unwrap_or_default(),
        b2.local_tag
    );
    let shards = sim.shards().len() as u16;
    // The new INVITE's Call-ID hashes to call 1's shard; B2 lives on shard2.
    sim.ua(PLATFORM).next_call_id = Some(call_id_on_shard("call3", shard1, shards));
    let call3 = sim.ua(PLATFORM).invite_with(
        CALL2_NUMBER,
        Some(offer_sdp("10.0.0.2", 4100)),
        &[("Replaces", &replaces)],
    );
    let replaced = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(call3).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(calls.b2).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        replaced,
        "B2 not replaced: new dialog got {:?}",
        sim.ua_ref(PLATFORM).final_status(call3, "INVITE")
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("INVITE")
            && !sim.ua_ref(CARRIER).dialog(calls.a2).bye_received,
        "the carrier saw the replacement"
    );
    ensure!(sim, sim.calls_active() == 2, "{} calls", sim.calls_active());
    sim.ua(PLATFORM).bye(call3);
    let ended = sim.run_until(|s| s.ua_ref(CARRIER).dialog(calls.a2).bye_received, STEP_MS);
    ensure!(sim, ended, "the new dialog's BYE did not end call 2");
    Ok(())
}

/// Identifiers naming no dialog handoff bridges pass unchanged: a Target-Dialog header on a
/// relayed INFO byte for byte (a Replaces header on an INFO is a 400, RFC 3891 section 3), and the Replaces in the carrier's Refer-To. The
/// carrier refuses that REFER; the local fallback finds no dialog to join (481): the platform
/// hears so by NOTIFY, and both calls stay up.
pub fn unknown_dialogs_unchanged(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> FlowResult {
    let calls = two_calls(sim, shard1, shard2)?;
    let foreign_escaped = "foreign-1%40elsewhere%3Bto-tag%3Daaa%3Bfrom-tag%3Dbbb";
    // A minted-looking tag of the other shard that names nothing there: asked, answered unknown.
    let ghost = format!(
        "nobody@x;local-tag=hf{:04x}000000000001;remote-tag=zz",
        calls.shard2.0
    );
    sim.ua(PLATFORM)
        .request(calls.b1, "INFO", None, &[("Target-Dialog", &ghost)]);
    let info = sim.expect_request(CARRIER, "INFO");
    let incoming = sim.ua_ref(CARRIER).incoming(info).clone();
    let target_seen = header_of(&incoming.bytes, "Target-Dialog");
    ensure!(
        sim,
        target_seen.as_deref() == Some(ghost.as_str()),
        "Target-Dialog changed: {target_seen:?}"
    );
    sim.ua(CARRIER).answer(info, 200, None);
    let refer_to = format!("<sip:+15550001111@10.0.0.2?Replaces={foreign_escaped}>");
    sim.ua(PLATFORM)
        .request(calls.b1, "REFER", None, &[("Refer-To", &refer_to)]);
    let refer = sim.expect_request(CARRIER, "REFER");
    let incoming = sim.ua_ref(CARRIER).incoming(refer).clone();
    // As written in the URI, still escaped.
    let replaces_in_uri = header_of(&incoming.bytes, "Refer-To").and_then(|v| {
        let (_, headers) = sipwire::uri_of(&v).split_once('?')?;
        let pair = headers.split('&').find(|h| h.starts_with("Replaces="))?;
        Some(pair["Replaces=".len()..].to_string())
    });
    ensure!(
        sim,
        replaces_in_uri.as_deref() == Some(foreign_escaped),
        "Refer-To's Replaces changed: {replaces_in_uri:?}"
    );
    sim.ua(CARRIER).answer(refer, 603, None);
    let notify = final_platform_notify(sim);
    let incoming = sim.ua_ref(PLATFORM).incoming(notify).clone();
    ensure!(
        sim,
        incoming.body().starts_with(b"SIP/2.0 481"),
        "platform's NOTIFY is not the failed join (481): {:?}",
        String::from_utf8_lossy(&incoming.body())
    );
    sim.ua(PLATFORM).answer(notify, 200, None);
    let accepted = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(calls.b1, "REFER") == Some(202),
        STEP_MS,
    );
    ensure!(
        sim,
        accepted,
        "platform's REFER not answered 202 for the fallback"
    );
    sim.run_for(1_000);
    ensure!(
        sim,
        sim.calls_active() == 2,
        "a failed attended transfer changed the calls"
    );
    Ok(())
}

/// The standard config with the carrier trunk set to `transfer = "local"`.
pub fn local_mode_config() -> std::sync::Arc<crate::config::Config> {
    let mut config = super::standard_config();
    if let Some(carrier) = config.trunks.first_mut() {
        carrier.transfer = crate::config::TransferMethod::Local;
    }
    std::sync::Arc::new(config)
}

/// The `m=audio` port and the payload types of an SDP body.
fn audio_of(body: &[u8]) -> Option<(u16, Vec<String>, String)> {
    let text = String::from_utf8_lossy(body);
    let media = text.lines().find(|l| l.starts_with("m=audio "))?;
    let mut fields = media.split_whitespace().skip(1);
    let port = fields.next()?.parse().ok()?;
    let payloads = fields.skip(1).map(str::to_string).collect();
    let direction = text
        .lines()
        .find(|l| {
            matches!(
                *l,
                "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
            )
        })
        .unwrap_or("a=sendrecv")
        .to_string();
    Some((port, payloads, direction))
}

/// The carrier gets handoff's G.711 sendrecv re-INVITE in `dialog` and answers it from
/// `10.0.0.1:port` with `payload`. Returns the port handoff offered.
fn answer_g711_reinvite(
    sim: &mut Sim,
    dialog: DialogId,
    port: u16,
    payload: u8,
) -> Result<u16, String> {
    let reinvite = sim.expect_request(CARRIER, "INVITE");
    let incoming = sim.ua_ref(CARRIER).incoming(reinvite).clone();
    ensure!(
        sim,
        incoming.dialog == Some(dialog),
        "re-INVITE arrived in {:?}, expected {dialog:?}",
        incoming.dialog
    );
    let Some((offered, payloads, direction)) = audio_of(&incoming.body()) else {
        return Err("re-INVITE without an audio offer".into());
    };
    ensure!(
        sim,
        payloads
            .iter()
            .all(|p| ["0", "8", "101"].contains(&p.as_str()))
            && direction == "a=sendrecv",
        "re-INVITE offer is not G.711 sendrecv: {payloads:?} {direction}"
    );
    sim.ua(CARRIER).answer(
        reinvite,
        200,
        Some(sdp_with("10.0.0.1", port, "sendrecv", &[payload])),
    );
    Ok(offered)
}

/// Attended transfer, "local" mode (the carrier trunk has `transfer = "local"`): handoff joins
/// A1 and A2 in its own relay, re-negotiating both to G.711 sendrecv, A2's media moving onto
/// call 1's shard; the platform gets 202 and NOTIFY 200 on B1, BYE on B2 and then on B1. The
/// customer hangs up: A2 gets BYE, both calls end, no port is left.
pub fn attended_local_mode(sim: &mut Sim, shard1: ShardId, shard2: ShardId) -> FlowResult {
    local_mode(sim, shard1, shard2, false, false, None)
}

/// Attended transfer in "refer" mode that the carrier refuses (`refer_status`, e.g. 403), with
/// `on_refer_failure = "local"`: the platform gets 202 anyway and handoff joins A1 and A2 as in
/// "local" mode; the audit record says method refer, outcome fallback_local.
pub fn attended_refer_rejected_falls_back_to_local(
    sim: &mut Sim,
    shard1: ShardId,
    shard2: ShardId,
) -> FlowResult {
    local_mode(sim, shard1, shard2, false, false, Some(403))
}

/// As [`attended_local_mode`], ended by a drain of call 1's shard instead of the customer's BYE:
/// both carrier legs get a BYE.
pub fn attended_local_mode_then_drain(
    sim: &mut Sim,
    shard1: ShardId,
    shard2: ShardId,
) -> FlowResult {
    local_mode(sim, shard1, shard2, false, true, None)
}

/// As [`attended_local_mode`], but the platform hangs up B1 right after the 202 (some platforms
/// do within 300 ms), before the join is done: the customer is still joined with A2.
pub fn attended_local_mode_early_transferor_bye(
    sim: &mut Sim,
    shard1: ShardId,
    shard2: ShardId,
) -> FlowResult {
    local_mode(sim, shard1, shard2, true, false, None)
}

fn local_mode(
    sim: &mut Sim,
    shard1: ShardId,
    shard2: ShardId,
    early_transferor_bye: bool,
    drain: bool,
    refer_rejected: Option<u16>,
) -> FlowResult {
    let method = if refer_rejected.is_some() {
        crate::config::TransferMethod::Refer
    } else {
        crate::config::TransferMethod::Local
    };
    ensure!(
        sim,
        sim.config.trunks[0].transfer == method
            && sim.config.trunks[0].on_refer_failure == crate::config::ReferFailurePolicy::Local,
        "the carrier trunk is not configured for this flow (local_mode_config() for local mode)"
    );
    let calls = two_calls(sim, shard1, shard2)?;
    // The target names the partner by name: a local join replaces a dialog, needs no number.
    let refer_to = format!(
        "<sip:partner@10.0.0.2?Replaces={}>",
        platform_replaces(sim, &calls).render_escaped()
    );
    sim.ua(PLATFORM)
        .request(calls.b1, "REFER", None, &[("Refer-To", &refer_to)]);
    if let Some(status) = refer_rejected {
        let refer = sim.expect_request(CARRIER, "REFER");
        sim.ua(CARRIER).answer(refer, status, None);
    }
    if early_transferor_bye {
        // Right after the 202, before the join is done.
        let accepted = sim.run_until(
            |s| s.ua_ref(PLATFORM).final_status(calls.b1, "REFER") == Some(202),
            STEP_MS,
        );
        ensure!(sim, accepted, "platform's REFER not answered 202");
        sim.ua(PLATFORM).bye(calls.b1);
    }
    // A2 first: its media moves onto call 1's shard (PCMA), then A1 is re-negotiated (PCMU).
    let moved_port = answer_g711_reinvite(sim, calls.a2, 6200, 8)?;
    let customer_port = answer_g711_reinvite(sim, calls.a1, 6100, 0)?;
    let accepted = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(calls.b1, "REFER") == Some(202),
        STEP_MS,
    );
    ensure!(sim, accepted, "platform's REFER not answered 202");
    if !early_transferor_bye {
        let notify = final_platform_notify(sim);
        let incoming = sim.ua_ref(PLATFORM).incoming(notify).clone();
        ensure!(
            sim,
            incoming.dialog == Some(calls.b1) && incoming.body().starts_with(b"SIP/2.0 200"),
            "platform's NOTIFY is not sipfrag 200 on B1"
        );
        sim.ua(PLATFORM).answer(notify, 200, None);
    }
    let released = sim.run_until(
        |s| {
            let platform = s.ua_ref(PLATFORM);
            (early_transferor_bye && platform.final_status(calls.b1, "BYE") == Some(200)
                || platform.dialog(calls.b1).bye_received)
                && platform.dialog(calls.b2).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, released, "B1 and B2 were not both torn down");
    let recorded = sim.run_until(
        |s| {
            s.events
                .iter()
                .any(|(_, e)| matches!(e, crate::core::Event::Transfer(_)))
        },
        STEP_MS,
    );
    ensure!(sim, recorded, "no transfer record");
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(calls.a1).bye_received
            && !sim.ua_ref(CARRIER).dialog(calls.a2).bye_received,
        "a carrier leg got a BYE while joined"
    );
    // Call 1's shard relays A1 <-> A2: A1 on its port, A2 on the port that faced the platform.
    let joined = sim.media.iter().any(|(shard, command)| {
        *shard == shard1
            && matches!(command, crate::core::MediaCommand::Update { a, b, .. }
                if a.local_port == customer_port
                    && a.remote_rtp == Some("10.0.0.1:6100".parse().unwrap_or(sim.sbc))
                    && b.local_port == moved_port
                    && b.remote_rtp == Some("10.0.0.1:6200".parse().unwrap_or(sim.sbc)))
    });
    ensure!(
        sim,
        joined,
        "no relay update joining A1 and A2 on call 1's shard"
    );
    let laws = sim.media.iter().any(|(shard, command)| {
        *shard == shard1
            && matches!(command, crate::core::MediaCommand::SetLaws { a, b, .. }
                if *a == Some(crate::media::g711::G711Law::Ulaw)
                    && *b == Some(crate::media::g711::G711Law::Alaw))
    });
    ensure!(sim, laws, "relay not told to transcode PCMU <-> PCMA");
    let record = sim.events.iter().find_map(|(_, e)| match e {
        crate::core::Event::Transfer(record) => Some(record.clone()),
        _ => None,
    });
    ensure!(
        sim,
        record
            .as_ref()
            .is_some_and(|r| r.kind == crate::transfer::TransferKind::Attended
                && r.method == method
                && r.refer_status.map(StatusCode::as_u16) == refer_rejected
                && r.outcome == crate::transfer::TransferOutcome::FallbackLocal
                && r.fallback_status == Some(StatusCode::OK)),
        "transfer record: {record:?}"
    );
    let counted: u64 = sim
        .shards()
        .iter()
        .map(|s| {
            s.metrics()
                .transfers_with_outcome(crate::transfer::TransferOutcome::FallbackLocal)
        })
        .sum();
    ensure!(
        sim,
        counted == 1,
        "{counted} local transfers counted, expected 1"
    );
    // The joined legs' own requests do not reach the platform legs that are gone.
    sim.ua(CARRIER)
        .reinvite(calls.a1, sdp_with("10.0.0.1", 6100, "sendonly", &[0]));
    sim.ua(CARRIER).request(calls.a2, "INFO", None, &[]);
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(calls.a1, "INVITE") == Some(488)
                && s.ua_ref(CARRIER).final_status(calls.a2, "INFO") == Some(200)
        },
        STEP_MS,
    );
    ensure!(
        sim,
        answered,
        "joined legs' re-INVITE/INFO not answered 488/200 by handoff"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(calls.a1).bye_received
            && !sim.ua_ref(CARRIER).dialog(calls.a2).bye_received
            && sim.calls_active() == 2,
        "a joined leg's request ended a call"
    );
    if drain {
        let deadline = sim.now.plus_millis(100);
        sim.send_shard_message(shard1, crate::core::ShardMessage::Drain { deadline });
        let done = sim.run_until(
            |s| {
                s.ua_ref(CARRIER).dialog(calls.a1).bye_received
                    && s.ua_ref(CARRIER).dialog(calls.a2).bye_received
                    && s.calls_active() == 0
            },
            STEP_MS,
        );
        ensure!(sim, done, "drain did not release both carrier legs");
    } else {
        // The customer hangs up: the moved leg is released too.
        sim.ua(CARRIER).bye(calls.a1);
        let done = sim.run_until(
            |s| {
                s.ua_ref(CARRIER).dialog(calls.a2).bye_received
                    && s.ua_ref(CARRIER).final_status(calls.a1, "BYE") == Some(200)
                    && s.calls_active() == 0
            },
            STEP_MS,
        );
        ensure!(sim, done, "A2 not released after the customer's BYE");
    }
    ensure!(
        sim,
        sim.call_ends().len() == 2,
        "expected two CallEnded, got {:?}",
        sim.call_ends()
    );
    sim.run_for(1_000);
    ensure!(
        sim,
        sim.media_ports_in_use() == 0,
        "{} media ports still held",
        sim.media_ports_in_use()
    );
    Ok(())
}

/// The platform's next NOTIFY with a final sipfrag; the `SIP/2.0 100 Trying` handoff sends as
/// soon as it accepts a REFER itself (RFC 3515 section 2.4.4, issue 10) is answered on the way.
fn final_platform_notify(sim: &mut Sim) -> super::RequestId {
    loop {
        let notify = sim.expect_request(PLATFORM, "NOTIFY");
        if !sim
            .ua_ref(PLATFORM)
            .incoming(notify)
            .body()
            .starts_with(b"SIP/2.0 1")
        {
            return notify;
        }
        sim.ua(PLATFORM).answer(notify, 200, None);
    }
}
