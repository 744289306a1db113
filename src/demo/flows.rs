//! Scripted transfer flows over real SIP, shared by `handoff demo` and the end-to-end tests.
//!
//! Roles in a [`Cast`]: [`CARRIER`] (the customer's carrier, trunk "carrier-a"), [`PLATFORM`]
//! (the contact-center platform, which sends the REFERs) and [`PARTNER`] (the trunk a local
//! transfer reaches the target on). Each flow returns the facts it saw; the caller decides
//! whether they are the expected outcome.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::agent::{Cast, Dialog, FlowError, Msg};
use crate::core::ShardId;
use crate::core::ids::shard_for_call_id;
use crate::media::g711::G711Law;

pub const CARRIER: usize = 0;
pub const PLATFORM: usize = 1;
pub const PARTNER: usize = 2;

/// How long any one expected message may take (handoff retransmits after 500 ms).
pub const STEP: Duration = Duration::from_secs(5);
/// How long the target rings before it answers (the customer hears ringback meanwhile): until
/// the customer has received this many ringback packets, 1.2 s of tone at 20 ms each.
pub const RINGING_PACKETS: usize = 60;
/// How long media may take to arrive (ringback, a bridged stream) before the flow goes on
/// without it (the checks on what was received then fail): generous, for busy machines; a
/// working flow never waits it out.
pub const MEDIA_WAIT: Duration = Duration::from_secs(20);
/// Packets each side's decoded audio is judged on after a bridge.
pub const HEARD_PACKETS: usize = 10;

/// The DID customers dial (routed carrier-a -> platform).
pub const DID: &str = "+15550001111";

/// One established call customer -> handoff -> platform, as each agent sees it.
pub struct CallUp {
    pub a: Dialog,
    pub b: Dialog,
}

/// INVITE from `caller` to `user`, answered by `callee` (with `callee_tag`).
pub fn establish_between(
    cast: &mut Cast,
    caller: usize,
    callee: usize,
    user: &str,
    callee_tag: &str,
) -> Result<(Dialog, Dialog), FlowError> {
    let call_id = cast[caller]
        .invite(user, &[])
        .map_err(io_error(cast[caller].name))?;
    let invite = cast.wait(callee, "INVITE", STEP, |m| {
        m.is_request("INVITE") && m.tag("to").is_none()
    })?;
    let callee_dialog = cast[callee]
        .answer(&invite, callee_tag)
        .map_err(io_error(cast[callee].name))?;
    let ok = cast.wait(caller, "200 OK (INVITE)", STEP, |m| {
        m.is_response(200, "INVITE") && m.call_id() == call_id
    })?;
    Ok((Dialog::uac(&ok, 1), callee_dialog))
}

/// customer (carrier) -> handoff -> platform.
pub fn establish(cast: &mut Cast, tag: &str) -> Result<CallUp, FlowError> {
    let (a, b) = establish_between(cast, CARRIER, PLATFORM, DID, tag)?;
    Ok(CallUp { a, b })
}

pub fn io_error(agent: &'static str) -> impl FnOnce(std::io::Error) -> FlowError {
    move |source| FlowError::Io { agent, source }
}

/// What the carrier does with handoff's REFER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarrierAnswer {
    /// 202, NOTIFY 100, NOTIFY 200, then BYE: the call is handed off.
    HandOff,
    /// A final failure response (403, 603, 481...).
    Reject(u16),
    /// No answer at all (handoff's refer_timeout_ms runs out).
    Ignore,
    /// 202, then a NOTIFY whose sipfrag is this failure code.
    SipfragFailure(u16),
    /// The trunk has transfer = "local": no REFER must reach the carrier.
    NoReferExpected,
}

/// What the target does with the local transfer's INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetAnswer {
    /// 180, then 200 after [`RINGING_PACKETS`] of ringback.
    Answer,
    /// 180, then this failure (486...) after [`RINGING_PACKETS`] of ringback.
    Fail(u16),
    /// No local transfer expected (handed off, or "reject" mode).
    NotReached,
}

#[derive(Clone, Debug)]
pub struct BlindFlow {
    /// Refer-To as the platform sends it.
    pub refer_to: String,
    pub carrier: CarrierAnswer,
    pub target: TargetAnswer,
    /// The platform hangs up B right after the 202 (before the carrier's NOTIFYs and BYE).
    pub early_transferor_bye: bool,
}

/// What a blind flow saw.
#[derive(Clone, Debug, Default)]
pub struct BlindSeen {
    /// The REFER handoff sent the carrier.
    pub carrier_refer: Option<Msg>,
    /// handoff's final answer to the platform's REFER.
    pub platform_refer_status: Option<u16>,
    /// Sipfrag codes of the NOTIFYs the platform received.
    pub platform_notifies: Vec<u16>,
    /// The customer's leg got a BYE from handoff (it must not, unless the flow ends it).
    pub customer_got_bye: bool,
    /// RTP the customer received from the REFER until the target answered.
    pub ringback_rtp: Vec<Vec<u8>>,
    /// The last RTP packet the customer received before the transfer started.
    pub customer_rtp_before: Option<Vec<u8>>,
    /// After a local transfer: media between customer and target, each way.
    pub bridged_to_target: bool,
    pub bridged_from_target: bool,
    /// After a failed local transfer: the platform's media reaches the customer again.
    pub media_back_to_platform: bool,
    /// Decoded audio (each side decodes in its own law) after the bridge: what the target
    /// heard of the customer's 1 kHz tone, and the customer of the target's.
    pub target_heard: Vec<i16>,
    pub customer_heard: Vec<i16>,
}

const CUSTOMER_SSRC: u32 = 0xC0C0_0001;
const PLATFORM_SSRC: u32 = 0xB0B0_0002;
const TARGET_SSRC: u32 = 0xD0D0_0003;

/// A 1 kHz tone frame (20 ms) in `law`, for media checks on decoded audio.
pub fn tone_frame(law: G711Law, frame: u32) -> [u8; 160] {
    let mut out = [0u8; 160];
    for (i, code) in out.iter_mut().enumerate() {
        let n = f64::from(frame * 160 + i as u32);
        let sample = (8000.0 * (std::f64::consts::TAU * 1000.0 * n / 8000.0).sin()) as i16;
        *code = law.encode(sample);
    }
    out
}

/// Sends `count` 20 ms packets from agent `who` to `to`, keeping every agent answering.
fn stream(
    cast: &mut Cast,
    who: usize,
    to: Option<SocketAddr>,
    ssrc: u32,
    first_seq: u16,
    count: u16,
) -> Result<(), FlowError> {
    let Some(to) = to else {
        return Err(FlowError::Unexpected(format!(
            "{}: no RTP address in handoff's SDP",
            cast[who].name
        )));
    };
    let law = cast[who].law;
    for i in 0..count {
        let frame = tone_frame(law, u32::from(i));
        cast[who]
            .send_rtp(to, ssrc, first_seq.wrapping_add(i), &frame)
            .map_err(io_error(cast[who].name))?;
        cast.idle(Duration::from_millis(20))?;
    }
    Ok(())
}

/// One side of [`stream_both_until_heard`]: agent `who` sends a 1 kHz tone to `to`, and the
/// packets of `ssrc` that `hears` receives (from its `rtp_in` index `mark` on) are its media.
struct Stream {
    who: usize,
    to: Option<SocketAddr>,
    ssrc: u32,
    first_seq: u16,
    hears: usize,
}

/// Both sides send 20 ms packets, every agent answering meanwhile, until each listener has
/// received `want` packets of the other's SSRC in its own law, or [`MEDIA_WAIT`] passed;
/// returns what each listener received of it. Packets sent while a bridge settles (a
/// re-INVITE, a media update) may be lost or carry the other law: RTP is lossy, so the flow
/// keeps sending rather than sending a fixed number after a fixed pause.
fn stream_both_until_heard(
    cast: &mut Cast,
    sides: [Stream; 2],
    want: usize,
) -> Result<[Vec<Vec<u8>>; 2], FlowError> {
    for side in &sides {
        if side.to.is_none() {
            return Err(FlowError::Unexpected(format!(
                "{}: no RTP address in handoff's SDP",
                cast[side.who].name
            )));
        }
    }
    let marks = sides.each_ref().map(|s| cast[s.hears].rtp_in.len());
    let heard = |cast: &Cast| -> [Vec<Vec<u8>>; 2] {
        [0, 1].map(|i| {
            let side = &sides[i];
            let law = cast[side.hears].law;
            received_from(cast, side.hears, marks[i], side.ssrc)
                .into_iter()
                .filter(|p| p.len() == 172 && p[1] & 0x7F == law.payload_type())
                .collect()
        })
    };
    let deadline = Instant::now() + MEDIA_WAIT;
    let mut frame = 0u16;
    loop {
        for side in &sides {
            let law = cast[side.who].law;
            cast[side.who]
                .send_rtp(
                    side.to.expect("checked above"),
                    side.ssrc,
                    side.first_seq.wrapping_add(frame),
                    &tone_frame(law, u32::from(frame)),
                )
                .map_err(io_error(cast[side.who].name))?;
        }
        frame = frame.wrapping_add(1);
        let next = Instant::now() + Duration::from_millis(20);
        let done = cast.idle_until(next.saturating_duration_since(Instant::now()), |cast| {
            heard(cast).iter().all(|h| h.len() >= want)
        })?;
        if done || Instant::now() >= deadline {
            return Ok(heard(cast));
        }
    }
}

/// The samples of the packets that carry `law`'s payload type, decoded.
fn decode_in(packets: &[Vec<u8>], law: G711Law) -> Vec<i16> {
    packets
        .iter()
        .filter(|p| p.len() == 172 && p[1] & 0x7F == law.payload_type())
        .flat_map(|p| p[12..].iter().map(|&c| law.decode(c)).collect::<Vec<_>>())
        .collect()
}

fn rtp_ssrc(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(8..12)?.try_into().ok()?))
}

/// RTP received by `who` since index `from`, with the given SSRC.
fn received_from(cast: &Cast, who: usize, from: usize, ssrc: u32) -> Vec<Vec<u8>> {
    cast[who].rtp_in[from.min(cast[who].rtp_in.len())..]
        .iter()
        .filter(|(_, p)| rtp_ssrc(p) == Some(ssrc))
        .map(|(_, p)| p.clone())
        .collect()
}

fn sipfrag_notify(code: u16, reason: &str, terminated: bool) -> (String, Vec<(String, String)>) {
    let state = if terminated {
        "terminated;reason=noresource"
    } else {
        "active;expires=60"
    };
    (
        format!("SIP/2.0 {code} {reason}\r\n"),
        vec![
            ("Event".to_owned(), "refer".to_owned()),
            ("Subscription-State".to_owned(), state.to_owned()),
        ],
    )
}

fn carrier_notify(
    cast: &mut Cast,
    a: &mut Dialog,
    code: u16,
    reason: &str,
    terminated: bool,
) -> Result<(), FlowError> {
    let (body, headers) = sipfrag_notify(code, reason, terminated);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    cast[CARRIER]
        .request(a, "NOTIFY", &headers, Some(("message/sipfrag", &body)))
        .map_err(io_error("carrier"))
}

/// A blind transfer from the platform, to whatever end `flow` describes. The call is ended by
/// the customer at the end when it is still up.
pub fn blind_transfer(cast: &mut Cast, flow: &BlindFlow) -> Result<BlindSeen, FlowError> {
    let mut seen = BlindSeen::default();
    let mut call = establish(cast, "platform-b")?;
    // Media both ways first: the customer's stream is what ringback continues.
    stream(cast, PLATFORM, call.b.remote_rtp, PLATFORM_SSRC, 1000, 5)?;
    stream(cast, CARRIER, call.a.remote_rtp, CUSTOMER_SSRC, 1, 5)?;
    // Until every packet the platform sent has reached the customer (none still on its way
    // when ringback starts), or MEDIA_WAIT if one was lost.
    cast.idle_until(MEDIA_WAIT, |cast| {
        received_from(cast, CARRIER, 0, PLATFORM_SSRC).len() >= 5
    })?;
    seen.customer_rtp_before = cast[CARRIER]
        .rtp_in
        .iter()
        .rev()
        .find(|(_, p)| rtp_ssrc(p) == Some(PLATFORM_SSRC))
        .map(|(_, p)| p.clone());

    // From here the platform sends no media: what the customer receives is ringback.
    let ringback_mark = cast[CARRIER].rtp_in.len();
    let refer_to = flow.refer_to.clone();
    cast[PLATFORM]
        .request(
            &mut call.b,
            "REFER",
            &[
                ("Refer-To", &refer_to),
                ("Referred-By", "<sip:agent7@platform.example>"),
            ],
            None,
        )
        .map_err(io_error("platform"))?;

    let mut carrier_final_bye = false;
    match flow.carrier {
        CarrierAnswer::NoReferExpected => {}
        answer => {
            let refer = cast.wait(CARRIER, "REFER", STEP, |m| m.is_request("REFER"))?;
            seen.carrier_refer = Some(refer.clone());
            match answer {
                CarrierAnswer::HandOff | CarrierAnswer::SipfragFailure(_) => {
                    cast[CARRIER]
                        .respond(&refer, 202, "Accepted", "", None)
                        .map_err(io_error("carrier"))?;
                }
                CarrierAnswer::Reject(code) => {
                    cast[CARRIER]
                        .respond(&refer, code, reason_phrase(code), "", None)
                        .map_err(io_error("carrier"))?;
                }
                CarrierAnswer::Ignore | CarrierAnswer::NoReferExpected => {}
            }
        }
    }
    let platform_refer_answer =
        |m: &Msg| m.cseq_method() == Some("REFER") && m.status() >= Some(200);
    let wait_for_answer = if flow.carrier == CarrierAnswer::Ignore {
        STEP + Duration::from_secs(5)
    } else {
        STEP
    };
    let answer = cast.wait(
        PLATFORM,
        "final answer to REFER",
        wait_for_answer,
        platform_refer_answer,
    )?;
    seen.platform_refer_status = answer.status();

    if flow.early_transferor_bye {
        cast[PLATFORM]
            .request(&mut call.b, "BYE", &[], None)
            .map_err(io_error("platform"))?;
    }

    match flow.carrier {
        CarrierAnswer::HandOff => {
            carrier_notify(cast, &mut call.a, 100, "Trying", false)?;
            cast.idle(Duration::from_millis(100))?;
            carrier_notify(cast, &mut call.a, 200, "OK", true)?;
            cast.idle(Duration::from_millis(100))?;
            cast[CARRIER]
                .request(&mut call.a, "BYE", &[], None)
                .map_err(io_error("carrier"))?;
            cast.wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))?;
            carrier_final_bye = true;
        }
        CarrierAnswer::SipfragFailure(code) => {
            carrier_notify(cast, &mut call.a, 100, "Trying", false)?;
            cast.idle(Duration::from_millis(100))?;
            carrier_notify(cast, &mut call.a, code, reason_phrase(code), true)?;
        }
        _ => {}
    }

    let local_transfer = flow.target != TargetAnswer::NotReached;
    if local_transfer {
        let invite = cast.wait(PARTNER, "the local transfer's INVITE", STEP, |m| {
            m.is_request("INVITE") && m.tag("to").is_none()
        })?;
        cast[PARTNER]
            .respond(&invite, 180, "Ringing", "target-c", None)
            .map_err(io_error("partner"))?;
        cast.idle_until(MEDIA_WAIT, |cast| {
            cast[CARRIER].rtp_in.len() >= ringback_mark + RINGING_PACKETS
        })?;
        seen.ringback_rtp = cast[CARRIER].rtp_in[ringback_mark..]
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        match flow.target {
            TargetAnswer::Answer => {
                let c = cast[PARTNER]
                    .answer(&invite, "target-c")
                    .map_err(io_error("partner"))?;
                cast.wait(PARTNER, "ACK", STEP, |m| m.is_request("ACK"))?;
                let final_notify = cast.wait(PLATFORM, "NOTIFY 200", STEP, |m| {
                    m.is_request("NOTIFY") && m.sipfrag_status() >= Some(200)
                })?;
                seen.platform_notifies.extend(final_notify.sipfrag_status());
                // handoff may re-INVITE the customer to G.711 (the agents answer it while
                // polling): both sides stream until each has heard HEARD_PACKETS of the other,
                // and the audio is judged on the last ones (after the bridge settled).
                let [to_target, to_customer] = stream_both_until_heard(
                    cast,
                    [
                        Stream {
                            who: CARRIER,
                            to: call.a.remote_rtp,
                            ssrc: CUSTOMER_SSRC,
                            first_seq: 100,
                            hears: PARTNER,
                        },
                        Stream {
                            who: PARTNER,
                            to: c.remote_rtp,
                            ssrc: TARGET_SSRC,
                            first_seq: 1,
                            hears: CARRIER,
                        },
                    ],
                    HEARD_PACKETS,
                )?;
                seen.bridged_to_target = !to_target.is_empty();
                seen.bridged_from_target = !to_customer.is_empty();
                let last = |packets: &[Vec<u8>]| {
                    packets[packets.len().saturating_sub(HEARD_PACKETS)..].to_vec()
                };
                seen.target_heard = decode_in(&last(&to_target), cast[PARTNER].law);
                seen.customer_heard = decode_in(&last(&to_customer), cast[CARRIER].law);
            }
            TargetAnswer::Fail(code) => {
                cast[PARTNER]
                    .respond(&invite, code, reason_phrase(code), "target-c", None)
                    .map_err(io_error("partner"))?;
                let notify =
                    cast.wait(PLATFORM, "NOTIFY with the target's failure", STEP, |m| {
                        m.is_request("NOTIFY") && m.sipfrag_status() >= Some(300)
                    })?;
                seen.platform_notifies.extend(notify.sipfrag_status());
                // The platform streams until the customer hears it again (or MEDIA_WAIT).
                let mark = cast[CARRIER].rtp_in.len();
                let to = call.b.remote_rtp;
                let deadline = Instant::now() + MEDIA_WAIT;
                let mut seq = 2000u16;
                while received_from(cast, CARRIER, mark, PLATFORM_SSRC).is_empty()
                    && Instant::now() < deadline
                {
                    stream(cast, PLATFORM, to, PLATFORM_SSRC, seq, 1)?;
                    seq = seq.wrapping_add(1);
                }
                seen.media_back_to_platform =
                    !received_from(cast, CARRIER, mark, PLATFORM_SSRC).is_empty();
            }
            TargetAnswer::NotReached => {}
        }
    } else if !carrier_final_bye {
        // Handed-off or rejected: give handoff's NOTIFYs time to reach the platform.
        cast.idle(Duration::from_millis(300))?;
    }

    // The platform's view of the outcome, from every NOTIFY it answered. After a hand-off the
    // final NOTIFY may still be on its way (wait for it, within STEP; its absence is for the
    // caller's checks to judge).
    if carrier_final_bye && !flow.early_transferor_bye {
        cast.idle_until(STEP, |cast| {
            cast[PLATFORM].has(&|m: &Msg| m.is_request("NOTIFY") && m.sipfrag_status() >= Some(200))
        })?;
    }
    while let Some(n) = cast[PLATFORM].take(&|m: &Msg| m.is_request("NOTIFY")) {
        seen.platform_notifies.extend(n.sipfrag_status());
    }
    if carrier_final_bye {
        // The platform's leg is torn down by handoff (or its own BYE was answered).
        if !flow.early_transferor_bye {
            cast.wait(PLATFORM, "BYE on B after the handoff", STEP, |m| {
                m.is_request("BYE")
            })?;
        }
    } else {
        seen.customer_got_bye = cast[CARRIER].take(&|m: &Msg| m.is_request("BYE")).is_some();
        // The customer hangs up; whoever is still connected gets a BYE.
        cast[CARRIER]
            .request(&mut call.a, "BYE", &[], None)
            .map_err(io_error("carrier"))?;
        cast.wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))?;
    }
    cast.idle(Duration::from_millis(200))?;
    Ok(seen)
}

/// What an attended flow saw.
#[derive(Clone, Debug, Default)]
pub struct AttendedSeen {
    pub carrier_refer: Option<Msg>,
    /// The Call-ID and tags of call 2's carrier-side dialog (A2), as the carrier knows them.
    pub a2_call_id: String,
    pub a2_carrier_tag: String,
    pub a2_handoff_tag: String,
    pub platform_refer_status: Option<u16>,
    pub platform_notifies: Vec<u16>,
    pub platform_byes: usize,
    /// Local mode: handoff sent the customer or the partner (A1/A2) a BYE.
    pub customer_got_bye: bool,
    /// handoff's tags on B1 and B2 (they name the owning shards).
    pub b1_handoff_tag: String,
    pub b2_handoff_tag: String,
}

/// The `Replaces=` URI header that names call 2's carrier-side dialog A2 for the carrier:
/// A2's Call-ID, the carrier's own tag as to-tag, handoff's as from-tag (RFC 3891), escaped.
pub fn replaces_for(seen: &AttendedSeen) -> String {
    let escape = |s: &str| {
        s.replace('%', "%25")
            .replace('@', "%40")
            .replace(';', "%3B")
    };
    format!(
        "Replaces={}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        escape(&seen.a2_call_id),
        escape(&seen.a2_carrier_tag),
        escape(&seen.a2_handoff_tag)
    )
}

/// A Call-ID that handoff's shard `shard` (of `shards`) owns.
pub fn call_id_on_shard(prefix: &str, shard: u16, shards: u16) -> String {
    (0u32..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| shard_for_call_id(id, shards.max(1)) == ShardId(shard % shards.max(1)))
        .unwrap_or_default()
}

/// The platform calls `second_user` (routed to the carrier: call 2) while call 1 is up, and
/// sends REFER on call 1 naming call 2 in `?Replaces=` plus a Target-Dialog. With `shards` >= 2
/// the two calls are owned by different shards. In refer mode the carrier accepts, NOTIFYs 200
/// and hangs up both calls; in local mode handoff joins A1 and A2 itself and ends B1 and B2.
pub fn attended_transfer(
    cast: &mut Cast,
    second_user: &str,
    shards: u16,
    refer_mode: bool,
) -> Result<AttendedSeen, FlowError> {
    let mut seen = AttendedSeen::default();
    let run = cast[CARRIER].fresh("attended");
    cast[CARRIER].next_call_id = Some(call_id_on_shard(&format!("{run}-1"), 0, shards));
    cast[PLATFORM].next_call_id = Some(call_id_on_shard(&format!("{run}-2"), 1, shards));
    let mut call1 = establish(cast, "platform-b1")?;
    let (b2, mut a2) = establish_between(cast, PLATFORM, CARRIER, second_user, "carrier-a2")?;
    seen.a2_call_id = a2.call_id.clone();
    seen.a2_carrier_tag = a2.local_tag();
    seen.a2_handoff_tag = a2.remote_tag();
    seen.b1_handoff_tag = call1.b.remote_tag();
    seen.b2_handoff_tag = b2.remote_tag();
    let refer_to = format!(
        "<sip:{second_user}@platform.example?Replaces={}%3Bto-tag%3D{}%3Bfrom-tag%3D{}>",
        b2.call_id,
        b2.remote_tag(),
        b2.local_tag()
    );
    // RFC 4538 section 3: the tags as the recipient (handoff) sees call 1, so local-tag is
    // handoff's tag and remote-tag the platform's own.
    let target_dialog = format!(
        "{};local-tag={};remote-tag={}",
        call1.b.call_id,
        call1.b.remote_tag(),
        call1.b.local_tag()
    );
    cast[PLATFORM]
        .request(
            &mut call1.b,
            "REFER",
            &[
                ("Refer-To", &refer_to),
                ("Referred-By", "<sip:agent7@platform.example>"),
                ("Target-Dialog", &target_dialog),
            ],
            None,
        )
        .map_err(io_error("platform"))?;
    if !refer_mode {
        let answer = cast.wait(PLATFORM, "final answer to REFER", STEP, |m| {
            m.cseq_method() == Some("REFER") && m.status() >= Some(200)
        })?;
        seen.platform_refer_status = answer.status();
        let notify = cast.wait(PLATFORM, "NOTIFY 200 on B1", STEP, |m| {
            m.is_request("NOTIFY") && m.sipfrag_status() >= Some(200)
        })?;
        seen.platform_notifies.extend(notify.sipfrag_status());
        let deadline = Instant::now() + STEP;
        while seen.platform_byes < 2 && Instant::now() < deadline {
            if cast.arrives(PLATFORM, Duration::from_millis(100), |m| {
                m.is_request("BYE")
            })? {
                seen.platform_byes += 1;
            }
        }
        seen.customer_got_bye = cast[CARRIER].take(&|m: &Msg| m.is_request("BYE")).is_some();
        // The customer and the partner, now joined, hang up.
        for dialog in [&mut call1.a, &mut a2] {
            cast[CARRIER]
                .request(dialog, "BYE", &[], None)
                .map_err(io_error("carrier"))?;
            cast.wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))?;
        }
        cast.idle(Duration::from_millis(200))?;
        return Ok(seen);
    }
    let refer = cast.wait(CARRIER, "REFER (attended)", STEP, |m| m.is_request("REFER"))?;
    seen.carrier_refer = Some(refer.clone());
    cast[CARRIER]
        .respond(&refer, 202, "Accepted", "", None)
        .map_err(io_error("carrier"))?;
    let answer = cast.wait(PLATFORM, "final answer to REFER", STEP, |m| {
        m.cseq_method() == Some("REFER") && m.status() >= Some(200)
    })?;
    seen.platform_refer_status = answer.status();
    carrier_notify(cast, &mut call1.a, 200, "OK", true)?;
    cast.idle(Duration::from_millis(100))?;
    for dialog in [&mut call1.a, &mut a2] {
        cast[CARRIER]
            .request(dialog, "BYE", &[], None)
            .map_err(io_error("carrier"))?;
        cast.wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))?;
    }
    let deadline = Instant::now() + STEP;
    while seen.platform_byes < 2 && Instant::now() < deadline {
        if cast.arrives(PLATFORM, Duration::from_millis(100), |m| {
            m.is_request("BYE")
        })? {
            seen.platform_byes += 1;
        }
    }
    cast.idle(Duration::from_millis(200))?;
    Ok(seen)
}

/// The reason phrase the agents send with `code` (the shared agent's table).
pub fn reason_phrase(code: u16) -> &'static str {
    sipwire::agent::reason_phrase(code)
}
