//! Who may speak for a call: flows from the attacks that broke handoff (the call-model issue),
//! shared by the tests/sim_trust_*.rs files and the trust seed sweep.
//!
//! Each flow checks what must hold on any link profile: a forged or foreign message changes
//! nothing, and the legitimate peer still completes the call. Counters of dropped datagrams are
//! checked by the test files on a clean link (a lossy link may lose the forgery itself).

use std::sync::Arc;

use super::scenarios::{
    FlowResult, PLATFORM_NUMBER, STEP_MS, establish, platform_takes_invite, resources_released,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, STRANGER, Sim, offer_sdp, standard_config};
use crate::config::Config;
use crate::core::{ShardId, ShardMessage};

/// The premium number a forger tries to transfer a call to.
pub const PREMIUM: &str = "+19005550199";

/// A request naming the platform's dialog `callee` exactly as the platform would (its Call-ID,
/// its tag in From, handoff's tag in To), written by hand so the forgery does not depend on
/// handoff's SIP code. `from_host` goes into Via.
pub fn forged_in_dialog(
    sim: &Sim,
    callee: DialogId,
    method: &str,
    from_host: &str,
    extra: &str,
) -> Vec<u8> {
    let dialog = sim.ua_ref(PLATFORM).dialog(callee);
    let remote_tag = dialog.remote_tag.clone().unwrap_or_default();
    format!(
        "{method} sip:handoff@10.0.0.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from_host};branch=z9hG4bKforged{method}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:agent@platform.example>;tag={local}\r\n\
         To: <sip:+15551230000@10.0.0.10>;tag={remote_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 9000 {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        local = dialog.local_tag,
        call_id = dialog.call_id,
    )
    .into_bytes()
}

/// The call is still up end to end: nobody got a BYE, the carrier got no REFER.
fn call_untouched(sim: &Sim, caller: DialogId, callee: DialogId) -> FlowResult {
    ensure!(sim, sim.calls_active() == 1, "the call was ended");
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(caller).bye_received
            && !sim.ua_ref(PLATFORM).dialog(callee).bye_received,
        "a forged request made handoff send BYE"
    );
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).has_request("REFER") && !sim.ua_ref(PARTNER).has_request("INVITE"),
        "a forged REFER reached the carrier or made handoff dial"
    );
    ensure!(sim, sim.transfers().is_empty(), "a transfer was recorded");
    Ok(())
}

/// The platform hangs up; the call ends once as any call would.
fn platform_hangs_up(sim: &mut Sim, caller: DialogId, callee: DialogId) -> FlowResult {
    sim.ua(PLATFORM).bye(callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).bye_received
                && s.ua_ref(PLATFORM).final_status(callee, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(sim, done, "the platform's own BYE did not end the call");
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].end_reason == "bye_from_b",
        "call ends {ends:?}"
    );
    resources_released(sim)
}

/// Another trunk (the partner) and a host that is no trunk send BYE and a REFER to a premium
/// number, each naming the platform's dialog of a carrier call; the platform's own address sends
/// a BYE with another From tag. None of it touches the call; the platform's BYE then ends it.
pub fn foreign_in_dialog_requests(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let refer =
        format!("Refer-To: <sip:{PREMIUM}@platform.example>\r\nContact: <sip:x@10.0.0.3>\r\n");
    let forged = [
        (
            PARTNER,
            forged_in_dialog(sim, callee, "BYE", "10.0.0.3:5060", ""),
        ),
        (
            PARTNER,
            forged_in_dialog(sim, callee, "REFER", "10.0.0.3:5060", &refer),
        ),
        (
            STRANGER,
            forged_in_dialog(sim, callee, "BYE", "10.9.9.9:5060", ""),
        ),
        (
            STRANGER,
            forged_in_dialog(sim, callee, "REFER", "10.9.9.9:5060", &refer),
        ),
    ];
    for (agent, bytes) in forged {
        sim.ua(agent).send_raw(bytes);
    }
    // The platform's own address, but not the platform's tag.
    let mut wrong_tag =
        String::from_utf8(forged_in_dialog(sim, callee, "BYE", "10.0.0.2:5060", ""))
            .unwrap_or_default();
    let own_tag = sim.ua_ref(PLATFORM).dialog(callee).local_tag.clone();
    wrong_tag = wrong_tag.replace(&format!("tag={own_tag}"), "tag=not-the-platforms");
    sim.ua(PLATFORM).send_raw(wrong_tag.into_bytes());
    sim.run_for(5_000);
    call_untouched(sim, caller, callee)?;
    platform_hangs_up(sim, caller, callee)
}

/// A host that is no trunk answers handoff's INVITE to the platform with a 200 OK of its own
/// (right branch, its own To tag and SDP). The carrier gets no 200 from it; when the platform
/// answers, the call is set up with the platform.
pub fn forged_response(sim: &mut Sim) -> FlowResult {
    let caller = sim
        .ua(CARRIER)
        .invite(PLATFORM_NUMBER, Some(offer_sdp("10.0.0.1", 4000)));
    let invite = platform_takes_invite(sim)?;
    let Some(message) = sim.ua_ref(PLATFORM).incoming(invite).message() else {
        return Err("INVITE unreadable".into());
    };
    let header = |name: &str| message.header(name).unwrap_or_default().to_string();
    let sdp = String::from_utf8(offer_sdp("10.9.9.9", 7000)).unwrap_or_default();
    let forged = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=forger\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:forger@10.9.9.9:5060>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        header("Via"),
        header("From"),
        header("To"),
        header("Call-ID"),
        header("CSeq"),
        sdp.len()
    );
    for _ in 0..3 {
        sim.ua(STRANGER).send_raw(forged.clone().into_bytes());
    }
    sim.run_for(3_000);
    ensure!(
        sim,
        !sim.ua_ref(CARRIER).dialog(caller).is_confirmed(),
        "the forged 200 answered the caller"
    );
    let Some(callee) = sim.ua_ref(PLATFORM).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "the platform's real 200 did not set the call up");
    ensure!(
        sim,
        !sim.ua_ref(STRANGER).has_request("ACK") && !sim.ua_ref(STRANGER).has_request("BYE"),
        "handoff treated the forger as the callee"
    );
    platform_hangs_up(sim, caller, callee)
}

/// The standard config with the platform trunk moved to another address, or removed.
pub fn platform_moved_config(remove: bool) -> Arc<Config> {
    let mut config = standard_config();
    if remove {
        // Routes name trunks by index: keep the trunk list, point the platform at nobody's
        // address and route nothing to it.
        config.trunks[PLATFORM].peer = "10.0.0.44:5060"
            .parse()
            .unwrap_or(config.trunks[PLATFORM].peer);
        config
            .routes
            .retain(|r| r.to != PLATFORM && r.from != Some(PLATFORM));
    } else {
        config.trunks[PLATFORM].peer = "10.0.0.44:5060"
            .parse()
            .unwrap_or(config.trunks[PLATFORM].peer);
    }
    let peer = config.trunks[PLATFORM].peer;
    config.trunks[PLATFORM].sources = Arc::new(crate::sources::SourceSet::exactly(peer));
    Arc::new(config)
}

/// A reload moves the platform trunk elsewhere (or unroutes it): the established call's legs
/// keep the peers they were bound to, so the platform's re-INVITE and BYE still work.
pub fn reload_keeps_bound_legs(sim: &mut Sim, remove: bool) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let config = platform_moved_config(remove);
    for shard in 0..sim.shards().len() {
        sim.send_shard_message(ShardId(shard as u16), ShardMessage::Config(config.clone()));
    }
    sim.run_for(10);
    sim.ua(PLATFORM)
        .reinvite(callee, super::sdp_with("10.0.0.2", 5000, "sendonly", &[0]));
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).has_request("INVITE"), STEP_MS),
        "the platform's re-INVITE after the reload was not relayed"
    );
    let Some(reinvite) = sim.ua(CARRIER).take_request("INVITE") else {
        return Err("re-INVITE vanished".into());
    };
    sim.ua(CARRIER).answer(
        reinvite,
        200,
        Some(super::sdp_with("10.0.0.1", 4000, "recvonly", &[0])),
    );
    let held = sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "INVITE") == Some(200),
        STEP_MS,
    );
    ensure!(
        sim,
        held,
        "the platform's re-INVITE after the reload got no 200"
    );
    platform_hangs_up(sim, caller, callee)
}

/// The standard config with the carrier trunk speaking from two addresses: its peer, and any
/// port of 10.9.9.9 (the simulation's otherwise stranger host).
pub fn two_source_config() -> Arc<Config> {
    let mut config = standard_config();
    let rules = ["10.0.0.1:5060", "10.9.9.9"]
        .iter()
        .filter_map(|r| crate::sources::SourceRule::parse(r).ok())
        .collect();
    config.trunks[CARRIER].sources = Arc::new(crate::sources::SourceSet::new(rules));
    Arc::new(config)
}

/// A carrier that signals from a second IP (in its trunk's `sources`): its BYE for the call set
/// up from its first IP ends the call as the carrier's own.
pub fn carrier_second_source_ip(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let dialog = sim.ua_ref(CARRIER).dialog(caller).clone();
    let bye = format!(
        "BYE sip:handoff@10.0.0.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKsecond-ip-bye\r\n\
         Max-Forwards: 70\r\n\
         From: {}\r\n\
         To: <sip:+15551230000@10.0.0.10>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: 9000 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        dialog.local_party,
        dialog.remote_tag.clone().unwrap_or_default(),
        dialog.call_id
    );
    // Sent until the platform hears it: the second host keeps no transaction of its own.
    for _ in 0..20 {
        sim.ua(STRANGER).send_raw(bye.clone().into_bytes());
        if sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 2_000) {
            break;
        }
    }
    ensure!(
        sim,
        sim.ua_ref(PLATFORM).dialog(callee).bye_received,
        "the carrier's BYE from its second IP did not end the call"
    );
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].end_reason == "bye_from_a",
        "call ends {ends:?}"
    );
    Ok(())
}

pub type NamedFlow = super::SweptFlow;

fn standard() -> Arc<Config> {
    Arc::new(standard_config())
}

/// Every trust flow with its config, for the seed sweep.
pub const FLOWS: &[NamedFlow] = &[
    (
        "foreign_in_dialog_requests",
        standard,
        foreign_in_dialog_requests,
    ),
    ("forged_response", standard, forged_response),
    ("reload_moves_platform", standard, |s| {
        reload_keeps_bound_legs(s, false)
    }),
    ("reload_unroutes_platform", standard, |s| {
        reload_keeps_bound_legs(s, true)
    }),
    (
        "carrier_second_source_ip",
        two_source_config,
        carrier_second_source_ip,
    ),
];
