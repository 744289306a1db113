//! Call flows shared by the scenario tests (one per tests/sim_*.rs file) and the seed sweep.
//!
//! Each flow drives a [`Sim`] like a call-flow diagram and checks what must hold on any link
//! profile (loss, duplication, reordering): final statuses, dialog states, one CallEnded with the
//! right reason, no media port left. Checks that only hold on a clean link (every provisional
//! seen) belong in the test files. A flow returns `Err` with what went wrong and when.

use super::{
    CARRIER, DialogId, PLATFORM, RequestId, STRANGER, Sim, offer_sdp, reuseport_shard, sdp_with,
};
use crate::core::dialog::Side;
use crate::core::ids;
use crate::vocab::StatusCode;

pub type FlowResult = Result<(), String>;

/// The dialled number the standard config routes carrier -> platform.
pub const PLATFORM_NUMBER: &str = "+15551230000";

/// Virtual time flows wait for one step of a call flow (generous: 20% loss may need many
/// retransmissions).
pub const STEP_MS: u64 = 40_000;

/// The call ended once, with `reason`, and gave its media ports back.
fn ended_once(sim: &Sim, reason: &str, setup_status: u16) -> FlowResult {
    let ends = sim.call_ends();
    ensure!(sim, ends.len() == 1, "expected one CallEnded, got {ends:?}");
    ensure!(
        sim,
        ends[0].end_reason == reason
            && ends[0].setup_status.map_or(0, StatusCode::as_u16) == setup_status,
        "call ended as {}/{:?}, expected {reason}/{setup_status}",
        ends[0].end_reason,
        ends[0].setup_status
    );
    resources_released(sim)
}

/// The carrier calls the platform's number with its standard offer.
fn carrier_calls_platform(sim: &mut Sim) -> DialogId {
    sim.ua(CARRIER)
        .invite(PLATFORM_NUMBER, Some(offer_sdp("10.0.0.1", 4000)))
}

/// Run until the platform got an INVITE and take it.
pub(crate) fn platform_takes_invite(sim: &mut Sim) -> Result<RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).has_request("INVITE"), STEP_MS),
        "platform got no INVITE"
    );
    let Some(invite) = sim.ua(PLATFORM).take_request("INVITE") else {
        return Err("INVITE vanished".into());
    };
    Ok(invite)
}

/// The platform-side dialog the INVITE `invite` created.
fn invite_dialog(sim: &Sim, invite: RequestId) -> Result<DialogId, String> {
    let Some(callee) = sim.ua_ref(PLATFORM).incoming(invite).dialog else {
        return Err("INVITE made no dialog".into());
    };
    Ok(callee)
}

/// No call is active and every media port is free again.
pub(crate) fn resources_released(sim: &Sim) -> FlowResult {
    ensure!(
        sim,
        sim.calls_active() == 0,
        "{} calls still active",
        sim.calls_active()
    );
    ensure!(
        sim,
        sim.media_ports_in_use() == 0,
        "{} media ports still held",
        sim.media_ports_in_use()
    );
    Ok(())
}

/// The carrier hangs up an established call; the BYE reaches the platform and ends the call.
fn caller_hangs_up(sim: &mut Sim, caller: DialogId, callee: DialogId) -> FlowResult {
    sim.ua(CARRIER).bye(caller);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS),
        "BYE not relayed"
    );
    ended_once(sim, "bye_from_a", 200)
}

/// Carrier calls the platform, which rings and answers; returns (caller, callee) dialogs once
/// both sides are confirmed and the platform got its ACK.
pub fn establish(sim: &mut Sim) -> Result<(DialogId, DialogId), String> {
    let caller = carrier_calls_platform(sim);
    let invite = platform_takes_invite(sim)?;
    let callee = invite_dialog(sim, invite)?;
    sim.ua(PLATFORM).answer(invite, 180, None);
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call not established end to end");
    ensure!(
        sim,
        sim.calls_active() == 1,
        "handoff holds {} calls",
        sim.calls_active()
    );
    Ok((caller, callee))
}

/// Basic call, torn down by `hangup` (A = caller, B = callee).
pub fn basic_call(sim: &mut Sim, hangup: Side) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.run_for(2_000);
    let (by, by_dialog, peer, peer_dialog) = match hangup {
        Side::A => (CARRIER, caller, PLATFORM, callee),
        Side::B => (PLATFORM, callee, CARRIER, caller),
    };
    sim.ua(by).bye(by_dialog);
    let done = sim.run_until(
        |s| {
            s.ua_ref(peer).dialog(peer_dialog).bye_received
                && s.ua_ref(by).final_status(by_dialog, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(sim, done, "BYE not relayed/answered");
    ended_once(
        sim,
        if hangup == Side::A {
            "bye_from_a"
        } else {
            "bye_from_b"
        },
        200,
    )
}

/// The caller cancels while the platform rings.
pub fn cancel_before_answer(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls_platform(sim);
    let invite = platform_takes_invite(sim)?;
    let callee = invite_dialog(sim, invite)?;
    sim.ua(PLATFORM).answer(invite, 180, None);
    // The caller hears ringing (or at least handoff's 100), then gives up.
    ensure!(
        sim,
        sim.run_until(
            |s| !s.ua_ref(CARRIER).statuses(caller, "INVITE").is_empty(),
            STEP_MS
        ),
        "no provisional to caller"
    );
    sim.ua(CARRIER).cancel(caller);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(487)
                && s.ua_ref(PLATFORM).dialog(callee).final_status == Some(487)
        },
        STEP_MS,
    );
    // RFC 3261 9.1: no CANCEL before a provisional. If the network lost every provisional the
    // platform sent, handoff rightly never cancels leg B (its INVITE times out instead).
    let platform = sim.ua_ref(PLATFORM).addr;
    let heard_from_platform = sim.net.delivered_between(platform, sim.sbc) > 0;
    let done = done
        || (!heard_from_platform
            && sim.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(487));
    ensure!(
        sim,
        done,
        "caller INVITE final {:?}, platform INVITE final {:?}",
        sim.ua_ref(CARRIER).final_status(caller, "INVITE"),
        sim.ua_ref(PLATFORM).dialog(callee).final_status
    );
    ensure!(
        sim,
        sim.ua_ref(CARRIER).final_status(caller, "CANCEL") == Some(200)
            || sim.run_until(
                |s| s.ua_ref(CARRIER).final_status(caller, "CANCEL") == Some(200),
                STEP_MS
            ),
        "CANCEL not answered 200"
    );
    ended_once(sim, "cancelled", 487)
}

/// The platform is busy: 486 relayed with its reason phrase.
pub fn busy(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls_platform(sim);
    let invite = platform_takes_invite(sim)?;
    sim.ua(PLATFORM).answer(invite, 486, None);
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(486),
            STEP_MS
        ),
        "caller got no 486"
    );
    let reason = sim
        .ua_ref(CARRIER)
        .responses
        .iter()
        .find(|r| r.status == 486)
        .map(|r| r.reason.clone())
        .unwrap_or_default();
    ensure!(
        sim,
        reason == "Busy Here",
        "reason phrase {reason:?} not relayed"
    );
    ended_once(sim, "rejected", 486)
}

/// The platform never answers: Timer B on leg B gives the caller 408.
pub fn silent_trunk(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls_platform(sim);
    // The platform receives the INVITE (retransmitted by Timer A) and says nothing.
    let timed_out = sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(408),
        2 * STEP_MS,
    );
    ensure!(
        sim,
        timed_out,
        "caller got {:?}",
        sim.ua_ref(CARRIER).statuses(caller, "INVITE")
    );
    ended_once(sim, "timeout", 408)
}

/// Hold then resume by re-INVITE from `from`, with offer/answer relayed both ways.
pub fn hold_resume(sim: &mut Sim, from: Side) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let (holder, holder_dialog, held, held_ip, holder_ip) = match from {
        Side::A => (CARRIER, caller, PLATFORM, "10.0.0.2", "10.0.0.1"),
        Side::B => (PLATFORM, callee, CARRIER, "10.0.0.1", "10.0.0.2"),
    };
    for (offer_dir, answer_dir) in [("sendonly", "recvonly"), ("sendrecv", "sendrecv")] {
        let oks = |s: &Sim| {
            s.ua_ref(holder)
                .statuses(holder_dialog, "INVITE")
                .iter()
                .filter(|st| **st == 200)
                .count()
        };
        let before = oks(sim);
        sim.ua(holder)
            .reinvite(holder_dialog, sdp_with(holder_ip, 4000, offer_dir, &[0, 8]));
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(held).has_request("INVITE"), STEP_MS),
            "re-INVITE ({offer_dir}) not relayed"
        );
        let Some(reinvite) = sim.ua(held).take_request("INVITE") else {
            return Err("re-INVITE vanished".into());
        };
        let body =
            String::from_utf8_lossy(&sim.ua_ref(held).incoming(reinvite).body()).into_owned();
        ensure!(
            sim,
            body.contains(&format!("a={offer_dir}")),
            "relayed offer lost a={offer_dir}:\n{body}"
        );
        ensure!(
            sim,
            body.contains("c=IN IP4 10.0.0.10"),
            "relayed offer not rewritten:\n{body}"
        );
        sim.ua(held).answer(
            reinvite,
            200,
            Some(sdp_with(held_ip, 5000, answer_dir, &[0, 8])),
        );
        let answered = sim.run_until(|s| oks(s) > before, STEP_MS);
        ensure!(sim, answered, "re-INVITE ({offer_dir}) not answered");
        let answer = sim
            .ua_ref(holder)
            .dialog(holder_dialog)
            .remote_sdp
            .clone()
            .unwrap_or_default();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        ensure!(
            sim,
            answer.contains(&format!("a={answer_dir}")),
            "relayed answer lost a={answer_dir}:\n{answer}"
        );
    }
    ensure!(
        sim,
        sim.calls_active() == 1,
        "call did not survive hold/resume"
    );
    caller_hangs_up(sim, caller, callee)
}

/// Both sides hang up at once: both get 200, one CallEnded, no 481.
pub fn bye_glare(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(CARRIER).bye(caller);
    sim.ua(PLATFORM).bye(callee);
    let done = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
                && s.ua_ref(PLATFORM).final_status(callee, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(
        sim,
        done,
        "BYE finals: caller {:?}, callee {:?}",
        sim.ua_ref(CARRIER).statuses(caller, "BYE"),
        sim.ua_ref(PLATFORM).statuses(callee, "BYE")
    );
    sim.run_for(5_000);
    for agent in [CARRIER, PLATFORM] {
        let storm = sim
            .ua_ref(agent)
            .responses
            .iter()
            .filter(|r| r.status == 481)
            .count();
        ensure!(
            sim,
            storm == 0,
            "{} got {storm} 481s",
            sim.ua_ref(agent).name
        );
    }
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1,
        "expected one CallEnded, got {}",
        ends.len()
    );
    ensure!(sim, sim.media_ports_in_use() == 0, "media ports still held");
    Ok(())
}

/// The caller swallows its first `dropped` ACKs: handoff retransmits the 2xx until one arrives.
pub fn retransmit_2xx_until_ack(sim: &mut Sim, dropped: u32) -> FlowResult {
    sim.ua(CARRIER).drop_acks = dropped;
    let (caller, callee) = establish(sim)?;
    let acked = sim.run_until(
        |s| s.ua_ref(CARRIER).dialog(caller).invite_2xx_received > dropped,
        STEP_MS,
    );
    let got = sim.ua_ref(CARRIER).dialog(caller).invite_2xx_received;
    ensure!(
        sim,
        acked,
        "caller saw the 2xx {got} times, dropped {dropped} ACKs"
    );
    // Once an ACK gets through (on a lossy link it may take a few more), retransmissions stop;
    // past 64*T1 they have stopped for sure, and the call must still be up.
    sim.run_for(35_000);
    if sim.calls_active() == 0 {
        // Every ACK (or the 2xx carrying it) was lost for 64*T1: handoff must have given up
        // with a BYE on both legs, which is the specified outcome, not a failure.
        let ends = sim.call_ends();
        ensure!(
            sim,
            ends.len() == 1 && ends[0].end_reason == "ack_timeout",
            "call ended otherwise: {ends:?}"
        );
        let both = sim.run_until(
            |s| {
                s.ua_ref(CARRIER).dialog(caller).bye_received
                    && s.ua_ref(PLATFORM).dialog(callee).bye_received
            },
            STEP_MS,
        );
        ensure!(sim, both, "ack_timeout without a BYE on both legs");
        return ended_once(sim, "ack_timeout", 200);
    }
    let got = sim.ua_ref(CARRIER).dialog(caller).invite_2xx_received;
    sim.run_for(10_000);
    let later = sim.ua_ref(CARRIER).dialog(caller).invite_2xx_received;
    ensure!(
        sim,
        later == got,
        "2xx still retransmitted after the ACK ({got} -> {later})"
    );
    sim.ua(PLATFORM).bye(callee);
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, STEP_MS),
        "BYE not relayed"
    );
    ended_once(sim, "bye_from_b", 200)
}

/// An INVITE and an OPTIONS from an address that is no trunk, under the default
/// `sbc.unknown_source = "drop"`: no answer at all (the stranger's own retransmissions run out),
/// no call, no state left, each counted.
pub fn unknown_source(sim: &mut Sim) -> FlowResult {
    let dialog = sim
        .ua(STRANGER)
        .invite(PLATFORM_NUMBER, Some(offer_sdp("10.9.9.9", 4000)));
    sim.ua(STRANGER).options();
    // Past the INVITE's Timer B (64*T1): every retransmission had its chance to draw an answer.
    sim.run_for(40_000);
    ensure!(
        sim,
        sim.ua_ref(STRANGER).responses.is_empty(),
        "the stranger got answers: {:?}",
        sim.ua_ref(STRANGER)
            .responses
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>()
    );
    ensure!(
        sim,
        sim.ua_ref(STRANGER)
            .final_status(dialog, "INVITE")
            .is_none(),
        "the stranger's INVITE got a final response"
    );
    stranger_left_no_trace(sim)
}

/// The same under `sbc.unknown_source = "reject"`: each request the stranger sends gets one
/// 403 Forbidden, statelessly: no transaction, so no retransmitted 403, and nothing is kept.
pub fn unknown_source_rejected(sim: &mut Sim) -> FlowResult {
    // A raw INVITE, never ACKed (a scanner or a spoofed source does not ACK): a stateful 403
    // would be re-sent by Timer G until Timer H; a stateless one goes out once.
    let stranger = sim.ua_ref(STRANGER).addr;
    let invite = format!(
        "INVITE sip:{PLATFORM_NUMBER}@{sbc} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {stranger};branch=z9hG4bK-scan-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:scanner@{ip}>;tag=scan1\r\n\
         To: <sip:{PLATFORM_NUMBER}@{sbc}>\r\n\
         Call-ID: scan-1@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        sbc = sim.sbc,
        ip = stranger.ip(),
    );
    sim.ua(STRANGER).send_raw(invite.into_bytes());
    sim.run_for(40_000);
    let sent = sim.delivered_from_sbc.get(&stranger).copied().unwrap_or(0);
    ensure!(
        sim,
        sent == 1,
        "{sent} datagrams to the stranger for one INVITE: the 403 must go out once, statelessly"
    );
    stranger_left_no_trace(sim)
}

fn stranger_left_no_trace(sim: &mut Sim) -> FlowResult {
    let counted: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().rejected_unknown_source)
        .sum();
    ensure!(sim, counted >= 1, "rejected_unknown_source = {counted}");
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("INVITE"),
        "platform got the stranger's INVITE"
    );
    ensure!(
        sim,
        sim.calls_active() == 0 && sim.call_ends().is_empty(),
        "a call was created"
    );
    let live: usize = sim.shards().iter().map(|s| s.transactions_live()).sum();
    ensure!(sim, live == 0, "{live} transactions kept for a stranger");
    Ok(())
}

/// A carrier keepalive OPTIONS is answered 200 with Allow and Supported.
pub fn options_keepalive(sim: &mut Sim) -> FlowResult {
    let call_id = sim.ua(CARRIER).options();
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .responses
                .iter()
                .any(|r| r.call_id == call_id && r.status == 200)
        },
        STEP_MS,
    );
    ensure!(sim, answered, "OPTIONS not answered");
    let Some(response) = sim
        .ua_ref(CARRIER)
        .responses
        .iter()
        .find(|r| r.call_id == call_id)
    else {
        return Err("response vanished".into());
    };
    let text = String::from_utf8_lossy(&response.bytes).into_owned();
    ensure!(
        sim,
        text.contains("Allow: ") && text.contains("INVITE"),
        "no Allow:\n{text}"
    );
    ensure!(sim, text.contains("Supported: "), "no Supported:\n{text}");
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("OPTIONS"),
        "keepalive was relayed"
    );
    Ok(())
}

/// Several calls: with 4 shards, some Call-IDs hash to another shard than the carrier's socket
/// lands on; those are forwarded and handled like the others.
pub fn wrong_shard(sim: &mut Sim, calls: usize) -> FlowResult {
    let shard_count = sim.shards().len() as u16;
    let landing = reuseport_shard(sim.ua_ref(CARRIER).addr, sim.sbc, shard_count);
    let mut misrouted = 0;
    for _ in 0..calls {
        let (caller, callee) = establish(sim)?;
        let owner =
            ids::shard_for_call_id(&sim.ua_ref(CARRIER).dialog(caller).call_id, shard_count);
        if owner != landing {
            misrouted += 1;
            let held = sim.shard(usize::from(owner.0)).calls_active();
            ensure!(sim, held == 1, "owner shard {owner:?} holds {held} calls");
        }
        sim.ua(CARRIER).bye(caller);
        ensure!(
            sim,
            sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, STEP_MS),
            "BYE not relayed"
        );
        ensure!(
            sim,
            sim.run_until(|s| s.calls_active() == 0, STEP_MS),
            "call not ended"
        );
    }
    ensure!(
        sim,
        misrouted == 0 || sim.forwarded > 0,
        "{misrouted} calls landed on a shard that does not own them, {} datagrams forwarded",
        sim.forwarded
    );
    ensure!(
        sim,
        sim.call_ends().len() == calls,
        "{} calls ended of {calls}",
        sim.call_ends().len()
    );
    ensure!(sim, sim.media_ports_in_use() == 0, "media ports still held");
    Ok(())
}

/// Late offer: INVITE without SDP, offer in the 2xx, answer in the ACK (relayed by handoff).
pub fn late_offer(sim: &mut Sim) -> FlowResult {
    sim.ua(CARRIER).ack_sdp = Some(offer_sdp("10.0.0.1", 4100));
    let caller = sim.ua(CARRIER).invite(PLATFORM_NUMBER, None);
    let invite = platform_takes_invite(sim)?;
    let callee = invite_dialog(sim, invite)?;
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    let answered = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
                && s.ua_ref(CARRIER).dialog(caller).is_confirmed()
        },
        STEP_MS,
    );
    ensure!(sim, answered, "late-offer call not established");
    let answer = sim
        .ua_ref(PLATFORM)
        .dialog(callee)
        .remote_sdp
        .clone()
        .unwrap_or_default();
    ensure!(
        sim,
        String::from_utf8_lossy(&answer).contains("c=IN IP4 10.0.0.10"),
        "answer in the ACK not relayed"
    );
    caller_hangs_up(sim, caller, callee)
}

/// Drain: a new INVITE gets 503; at the deadline the established call is hung up on both legs.
pub fn drain(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let deadline = sim.now.plus_millis(5_000);
    for shard in 0..sim.shards().len() {
        sim.send_shard_message(
            crate::core::ShardId(shard as u16),
            crate::core::ShardMessage::Drain { deadline },
        );
    }
    sim.run_for(1);
    let refused = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    let hung_up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).final_status(refused, "INVITE") == Some(503)
                && s.ua_ref(CARRIER).dialog(caller).bye_received
                && s.ua_ref(PLATFORM).dialog(callee).bye_received
        },
        STEP_MS,
    );
    ensure!(
        sim,
        hung_up,
        "drain: refused INVITE got {:?}",
        sim.ua_ref(CARRIER).statuses(refused, "INVITE")
    );
    ended_once(sim, "drain", 200)
}
