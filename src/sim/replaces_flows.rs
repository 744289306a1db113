//! INVITE with Replaces naming a dialog handoff is the UAS of (RFC 3891 section 3): the named
//! leg is replaced by the new dialog, bridged in its place, and gets BYE; nothing is routed
//! onward (call pickup, and a trunk completing an attended transfer against handoff).
//!
//! The Replaces values are written in the form of RFC 3891 section 1's message *3
//! (`Replaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472`): the to-tag is the
//! recipient's (handoff's) tag, the from-tag the sender's.

use super::scenarios::{FlowResult, STEP_MS, establish, resources_released};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, Sim, offer_sdp, sdp_with};
use crate::core::{MediaCommand, MediaSide};

/// The Replaces value naming the platform's dialog `callee` as handoff (its recipient) sees it.
pub fn replaces_for(sim: &Sim, callee: DialogId) -> String {
    let dialog = sim.ua_ref(PLATFORM).dialog(callee);
    format!(
        "{};to-tag={};from-tag={}",
        dialog.call_id,
        dialog.remote_tag.clone().unwrap_or_default(),
        dialog.local_tag
    )
}

/// The platform picks its own established call up on a new dialog (another device of the same
/// platform trunk): the new dialog gets 200 with handoff's answer, the old one BYE, the carrier
/// sees nothing, and the relay sends the carrier's audio to the new dialog's address.
pub fn platform_replaces_its_leg(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let replaces = replaces_for(sim, callee);
    let new = sim.ua(PLATFORM).invite_with(
        "pickup",
        Some(sdp_with("10.0.0.2", 5600, "sendrecv", &[0])),
        &[("Require", "replaces"), ("Replaces", &replaces)],
    );
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(new).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        done,
        "replacement not answered 200 ({:?}) or the replaced dialog not BYEd",
        sim.ua_ref(PLATFORM).final_status(new, "INVITE")
    );
    let answer = String::from_utf8_lossy(
        &sim.ua_ref(PLATFORM)
            .dialog(new)
            .remote_sdp
            .clone()
            .unwrap_or_default(),
    )
    .into_owned();
    ensure!(
        sim,
        answer.contains("c=IN IP4 10.0.0.10") && answer.contains("RTP/AVP 0"),
        "answer is not handoff's PCMU: {answer}"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("INVITE")
            && !sim.ua_ref(CARRIER).dialog(caller).bye_received,
        "the carrier was touched by a replacement on the platform side"
    );
    ensure!(sim, sim.calls_active() == 1, "{} calls", sim.calls_active());
    let new_remote: std::net::SocketAddr = "10.0.0.2:5600".parse().map_err(|_| "addr")?;
    ensure!(
        sim,
        sim.media.iter().any(|(_, c)| matches!(
            c,
            MediaCommand::Update { b, .. } if b.remote_rtp == Some(new_remote)
        )),
        "the relay's platform side does not point at the new dialog"
    );
    // The new dialog is the call's platform leg now: its BYE ends the call.
    sim.ua(PLATFORM).bye(new);
    let ended = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).bye_received
                && s.ua_ref(PLATFORM).final_status(new, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(sim, ended, "the new dialog's BYE did not end the call");
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].end_reason == "bye_from_b",
        "call ends {ends:?}"
    );
    resources_released(sim)
}

/// The carrier replaces its own leg (a carrier completing an attended transfer toward handoff):
/// the platform sees nothing; the relay's carrier side moves to the new dialog.
pub fn carrier_replaces_its_leg(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let dialog = sim.ua_ref(CARRIER).dialog(caller).clone();
    let replaces = format!(
        "{};to-tag={};from-tag={}",
        dialog.call_id,
        dialog.remote_tag.clone().unwrap_or_default(),
        dialog.local_tag
    );
    let new = sim.ua(CARRIER).invite_with(
        "+15551230000",
        Some(sdp_with("10.0.0.1", 4600, "sendrecv", &[0, 8])),
        &[("Replaces", &replaces)],
    );
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(new).is_confirmed()
                && s.ua_ref(CARRIER).dialog(caller).bye_received
        },
        STEP_MS,
    );
    ensure!(sim, done, "carrier's replacement not completed");
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("INVITE")
            && !sim.ua_ref(PLATFORM).dialog(callee).bye_received,
        "the platform was touched"
    );
    let new_remote: std::net::SocketAddr = "10.0.0.1:4600".parse().map_err(|_| "addr")?;
    ensure!(
        sim,
        sim.media.iter().any(|(_, c)| matches!(
            c,
            MediaCommand::Update { a, .. } if a.remote_rtp == Some(new_remote)
        )),
        "the relay's carrier side does not point at the new dialog"
    );
    ensure!(
        sim,
        !sim.media.iter().any(|(_, c)| matches!(
            c,
            MediaCommand::StartRingback {
                toward: MediaSide::B,
                ..
            }
        )),
        "unexpected ringback"
    );
    sim.ua(PLATFORM).bye(callee);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(new).bye_received, STEP_MS),
        "the platform's BYE did not reach the new carrier dialog"
    );
    resources_released(sim)
}

/// What a refused Replaces gets, and that the call is untouched afterwards.
fn refused(sim: &mut Sim, by: usize, replaces: &[&str], status: u16) -> FlowResult {
    let mut headers: Vec<(&str, &str)> = replaces.iter().map(|r| ("Replaces", *r)).collect();
    headers.push(("Require", "replaces"));
    let sdp = offer_sdp(
        if by == PARTNER {
            "10.0.0.3"
        } else {
            "10.0.0.2"
        },
        5700,
    );
    let new = sim.ua(by).invite_with("pickup", Some(sdp), &headers);
    let got = sim.run_until(
        |s| s.ua_ref(by).final_status(new, "INVITE").is_some(),
        STEP_MS,
    );
    let status_got = sim.ua_ref(by).final_status(new, "INVITE");
    ensure!(
        sim,
        got && status_got == Some(status),
        "expected {status}, got {status_got:?}"
    );
    ensure!(sim, sim.calls_active() == 1, "the call was touched");
    Ok(())
}

/// Replaces that must be refused (RFC 3891 section 3), each on its own established call:
/// another trunk naming the platform's dialog (403: only the leg's peer may replace it), a
/// dialog that does not exist (481), `early-only` against a confirmed dialog (486), two
/// Replaces headers (400), and Replaces on a non-INVITE request (400).
pub fn refused_replaces(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let good = replaces_for(sim, callee);
    refused(sim, PARTNER, &[&good], 403)?;
    let dialog = sim.ua_ref(PLATFORM).dialog(callee).clone();
    let unknown = format!(
        "{};to-tag=hf00000000ffffffffffff;from-tag={}",
        dialog.call_id, dialog.local_tag
    );
    refused(sim, PLATFORM, &[&unknown], 481)?;
    let early_only = format!("{good};early-only");
    refused(sim, PLATFORM, &[&early_only], 486)?;
    refused(sim, PLATFORM, &[&good, &good], 400)?;
    sim.ua(PLATFORM)
        .request(callee, "INFO", None, &[("Replaces", &good)]);
    let info = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "INFO").is_some(),
        STEP_MS,
    );
    let got = sim.ua_ref(PLATFORM).final_status(callee, "INFO");
    ensure!(
        sim,
        info && got == Some(400),
        "INFO with Replaces got {got:?}"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("INFO")
            && !sim.ua_ref(CARRIER).dialog(caller).bye_received,
        "a refused Replaces reached the carrier"
    );
    Ok(())
}

pub type NamedFlow = super::SweptFlow;

fn standard() -> std::sync::Arc<crate::config::Config> {
    std::sync::Arc::new(super::standard_config())
}

pub const FLOWS: &[NamedFlow] = &[
    (
        "platform_replaces_its_leg",
        standard,
        platform_replaces_its_leg,
    ),
    (
        "carrier_replaces_its_leg",
        standard,
        carrier_replaces_its_leg,
    ),
    ("refused_replaces", standard, refused_replaces),
];
