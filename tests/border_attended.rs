//! Against the real binary, both backends, 2 shards: the attended-transfer flows of
//! `src/sim/attended_flows.rs`, with the two calls on different shards. Call 1 is carrier ->
//! platform (A1, B1), held by the platform; call 2 is platform -> carrier (B2, A2). The platform
//! REFERs B1 with a Refer-To whose Replaces names B2 as handoff sees it (RFC 3891 section 6.1,
//! RFC 5589 section 7). In local mode (or when the carrier refuses the REFER) handoff joins A1
//! and A2 in its own relay: re-INVITEs both carrier legs, ends B1 and B2, and A1's RTP reaches
//! A2 and back through handoff's ports. Raw `sipwire` agents; the carrier answers every
//! re-INVITE with PCMU so the relay forwards each party's bytes unchanged, which lets the test
//! tell A1's stream from A2's by the payload it wrote.

mod border_support;
mod runtime_support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use border_support::{
    Leg, SiteOptions, TransferSite, ack_for_failure, answers_with_sdp, assert_status, call_up,
    direction, expect_all, is_final, is_request, platform_dials, platform_hangs_up, platform_holds,
    platform_refer_answer, sdp_with, sipfrag_status, stream_arrives, tag_of, transfer_record,
    transfer_site, with_body,
};
use handoff::core::ShardId;
use handoff::core::ids::{shard_for_call_id, shard_of_minted};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, response};

/// The number the platform dials for call 2 (routed platform -> carrier).
const CALL2_NUMBER: &str = "+15559876543";
const A1_VOICE: u8 = 0x21;
const A2_VOICE: u8 = 0x43;

/// A Call-ID that lands on `shard` of 2: a call belongs to the shard its first INVITE's
/// Call-ID hashes to (this only arranges the test; the shards are checked from handoff's tags).
fn call_id_on_shard(prefix: &str, shard: u16) -> String {
    (0u32..)
        // No `@`: the runtime agents put the Call-ID into their Via branch, a token.
        .map(|i| format!("{prefix}-{i}-attended.test"))
        .find(|id| shard_for_call_id(id, 2) == ShardId(shard))
        .expect("a Call-ID for the shard")
}

fn site(io: &'static str, media: u16, drain_s: u64, carrier: &[&str]) -> TransferSite {
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s,
            carrier,
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

/// Both calls, as each agent sees them.
struct TwoCalls {
    a1: Leg,
    b1: Leg,
    b2: Leg,
    a2: Leg,
    /// handoff's tag on B2 (the platform's peer's tag).
    b2_handoff_tag: String,
    /// The carrier's RTP socket for call 2 (call 1's is `site.carrier.rtp`).
    a2_rtp: UdpSocket,
}

/// Call 1 on shard 0, held by the platform; call 2 on shard 1.
fn two_calls(site: &TransferSite) -> TwoCalls {
    let io = site.io;
    let (_, a1, b1) = call_up(site, &call_id_on_shard(&format!("call1-{io}"), 0));
    platform_holds(site, &a1, &b1);

    // Call 2: the platform calls the partner's number through the carrier.
    let a2_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind A2's RTP socket");
    let call2 = platform_dials(
        site,
        CALL2_NUMBER,
        &call_id_on_shard(&format!("call2-{io}"), 1),
        ("ptag2", "ctag2"),
        a2_rtp.local_addr().expect("addr").port(),
    );
    let (b2, a2) = (call2.platform, call2.carrier);
    let b2_handoff_tag = tag_of(&b2.to);
    assert_ne!(
        shard_of_minted(&tag_of(&b1.to)),
        shard_of_minted(&b2_handoff_tag),
        "{io}: the two calls on different shards"
    );
    TwoCalls {
        a1,
        b1,
        b2,
        a2,
        b2_handoff_tag,
        a2_rtp,
    }
}

/// `value` escaped for a URI header (RFC 3261 section 25.1: `hvalue` is unreserved or
/// escaped), as a Refer-To carries a Replaces.
fn escaped(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `value` with its `%XX` escapes decoded (RFC 3261 section 25.1).
fn unescaped(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 after unescaping")
}

/// The platform's attended REFER on B1, its Replaces naming B2 as handoff (the recipient) sees
/// it: to-tag handoff's, from-tag the platform's (RFC 3891 section 6.1).
fn platform_refers_attended(site: &TransferSite, calls: &TwoCalls) {
    let replaces = format!(
        "{};to-tag={};from-tag=ptag2",
        calls.b2.call_id, calls.b2_handoff_tag
    );
    let refer_to = format!(
        "Refer-To: <sip:partner@{}?Replaces={}>",
        site.platform.ua.addr(),
        escaped(&replaces)
    );
    site.platform.ua.send(
        site.sip,
        &calls
            .b1
            .request("REFER", site.platform.ua.addr(), &[refer_to]),
    );
}

/// handoff's G.711 sendrecv re-INVITEs on A2 and A1 (either order), answered 200 with PCMU
/// from each leg's RTP socket. Returns handoff's offered RTP addresses (for A1, for A2).
fn carrier_answers_join_reinvites(
    site: &TransferSite,
    calls: &TwoCalls,
) -> (SocketAddr, SocketAddr) {
    let io = site.io;
    let mut offered: BTreeMap<String, SocketAddr> = BTreeMap::new();
    while offered.len() < 2 {
        let (reinvite, src) = site.carrier.ua.expect(
            &format!("{io}: the join's re-INVITEs on A1 and A2 (got {offered:?})"),
            WAIT,
            |m| {
                m.method() == Some("INVITE")
                    && [&calls.a1.call_id, &calls.a2.call_id]
                        .iter()
                        .any(|c| m.header("call-id") == Some(c.as_str()))
            },
        );
        assert_eq!(
            direction(&reinvite.body),
            "sendrecv",
            "{io}: {}",
            reinvite.body
        );
        let call_id = reinvite.header("call-id").expect("Call-ID").to_owned();
        let rtp_port = if call_id == calls.a1.call_id {
            site.carrier.rtp_port()
        } else {
            calls.a2_rtp.local_addr().expect("addr").port()
        };
        offered.insert(
            call_id,
            reinvite.sdp_audio().expect("an SDP offer in the re-INVITE"),
        );
        answers_with_sdp(
            &site.carrier.ua,
            src,
            &reinvite,
            &sdp_with(rtp_port, &[0], "sendrecv"),
        );
    }
    (offered[&calls.a1.call_id], offered[&calls.a2.call_id])
}

/// The platform answers what handoff sends it until B1 and B2 are both ended (BYEs answered
/// 200; or, with `b1_gone`, B1 already hung up by the platform). Returns the NOTIFY statuses
/// on B1.
fn platform_released(site: &TransferSite, calls: &TwoCalls, b1_gone: bool) -> Vec<u16> {
    let io = site.io;
    let (mut b1_ended, mut b2_ended) = (b1_gone, false);
    let mut notified = Vec::new();
    while !(b1_ended && b2_ended) {
        let (m, src) = site.platform.ua.expect(
            &format!("{io}: BYE on B1 ({b1_ended}) and B2 ({b2_ended})"),
            WAIT,
            |m| m.method().is_some(),
        );
        site.platform.ua.send(
            src,
            &response(&m, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        let on = m.header("call-id");
        match m.method() {
            Some("NOTIFY") => notified.extend(sipfrag_status(&m.body)),
            Some("BYE") if on == Some(calls.b1.call_id.as_str()) => b1_ended = true,
            Some("BYE") if on == Some(calls.b2.call_id.as_str()) => b2_ended = true,
            _ => {}
        }
    }
    notified
}

/// A1's RTP reaches A2 and A2's reaches A1, through handoff's ports, each a clear majority.
fn a1_and_a2_hear_each_other(
    site: &TransferSite,
    calls: &TwoCalls,
    to_a1: SocketAddr,
    to_a2: SocketAddr,
) {
    let io = site.io;
    let at_a2 = stream_arrives(&site.carrier.rtp, to_a1, &calls.a2_rtp, to_a2, A1_VOICE, 50);
    assert!(
        at_a2 >= 35,
        "{io}: {at_a2} of 50 of A1's packets reached A2"
    );
    let at_a1 = stream_arrives(&calls.a2_rtp, to_a2, &site.carrier.rtp, to_a1, A2_VOICE, 50);
    assert!(
        at_a1 >= 35,
        "{io}: {at_a1} of 50 of A2's packets reached A1"
    );
}

/// The customer hangs up A1: A2 gets BYE, the customer its 200.
fn customer_ends_joined_call(site: &TransferSite, calls: &TwoCalls) {
    site.carrier.ua.send(
        site.sip,
        &calls.a1.request("BYE", site.carrier.ua.addr(), &[]),
    );
    let found = expect_all(
        &site.carrier.ua,
        WAIT,
        &[
            ("200 to the BYE on A1", &|m: &Msg| {
                is_final(m, "BYE", &calls.a1.call_id)
            }),
            ("BYE on A2", &|m: &Msg| {
                is_request(m, "BYE", &calls.a2.call_id)
            }),
        ],
    );
    assert_eq!(
        found[0].0.status(),
        Some(200),
        "{}: {}",
        site.io,
        found[0].0.first_line
    );
    let (bye, src) = &found[1];
    site.carrier.ua.send(
        *src,
        &response(bye, 200, "OK", "x", site.carrier.ua.addr(), ""),
    );
}

fn assert_attended_local_record(
    site: &TransferSite,
    method: &str,
    refer_status: serde_json::Value,
) {
    let record = transfer_record(site);
    let io = site.io;
    assert_eq!(record["kind"], "attended", "{io}: {record}");
    assert_eq!(record["method"], method, "{io}: {record}");
    assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
    assert_eq!(record["refer_status"], refer_status, "{io}: {record}");
    assert_eq!(record["fallback_status"], 200, "{io}: {record}");
}

/// `transfer = "local"`: no REFER reaches the carrier; handoff joins A1 and A2 itself (calls
/// on different shards), the platform gets 202, NOTIFY 200 and BYE on B1 and B2, the carrier
/// legs get none, and A1 and A2 hear each other through handoff's ports, both ways.
#[test]
fn attended_local_join_relays_rtp_both_ways_across_shards() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 21400 + i as u16 * 100, 30, &["transfer = \"local\""]);
        let calls = two_calls(&site);
        platform_refers_attended(&site, &calls);
        let accepted = platform_refer_answer(&site, &calls.b1.call_id);
        assert_status(io, &accepted, 202);
        let (to_a1, to_a2) = carrier_answers_join_reinvites(&site, &calls);
        let notified = platform_released(&site, &calls, false);
        assert!(notified.contains(&200), "{io}: NOTIFYs on B1 {notified:?}");
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| {
                matches!(m.method(), Some("REFER") | Some("BYE"))
            });
        a1_and_a2_hear_each_other(&site, &calls, to_a1, to_a2);
        assert_attended_local_record(&site, "local", serde_json::Value::Null);
        customer_ends_joined_call(&site, &calls);
        site.stop();
    }
}

/// `transfer = "refer"`, `on_refer_failure = "local"`: the carrier refuses the attended REFER
/// (403); the platform still gets 202 and handoff joins A1 and A2 as in local mode.
#[test]
fn attended_refer_rejected_falls_back_to_a_local_join() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            21600 + i as u16 * 100,
            30,
            &["transfer = \"refer\"", "on_refer_failure = \"local\""],
        );
        let calls = two_calls(&site);
        platform_refers_attended(&site, &calls);
        let (refer, src) =
            site.carrier
                .ua
                .expect(&format!("{io}: the attended REFER on A1"), WAIT, |m| {
                    is_request(m, "REFER", &calls.a1.call_id)
                });
        // RFC 3891 section 6.1 seen from the carrier: the Replaces names A2 with the carrier's
        // own tag as to-tag (the REFER's recipient is the one that would match it).
        let refer_to = refer.header("refer-to").expect("Refer-To");
        let replaces = refer_to
            .split_once("?Replaces=")
            .map(|(_, rest)| unescaped(rest.split(['>', '&']).next().unwrap_or_default()))
            .unwrap_or_else(|| panic!("{io}: no Replaces in {refer_to}"));
        assert_eq!(
            dialog_parts(&replaces),
            dialog_parts(&format!(
                "{};to-tag=ctag2;from-tag={}",
                calls.a2.call_id,
                tag_of(&calls.a2.to)
            )),
            "{io}: {refer_to}"
        );
        site.carrier.ua.send(
            src,
            &response(&refer, 403, "Forbidden", "x", site.carrier.ua.addr(), ""),
        );
        let accepted = platform_refer_answer(&site, &calls.b1.call_id);
        assert_status(io, &accepted, 202);
        let (to_a1, to_a2) = carrier_answers_join_reinvites(&site, &calls);
        let notified = platform_released(&site, &calls, false);
        assert!(notified.contains(&200), "{io}: NOTIFYs on B1 {notified:?}");
        a1_and_a2_hear_each_other(&site, &calls, to_a1, to_a2);
        assert_attended_local_record(&site, "refer", 403.into());
        customer_ends_joined_call(&site, &calls);
        site.stop();
    }
}

/// Local mode, and the platform hangs up B1 right after the 202, before the join is done (some
/// platforms do within 300 ms): the customer is still joined with A2.
#[test]
fn attended_local_join_survives_the_transferors_early_bye() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 21800 + i as u16 * 100, 30, &["transfer = \"local\""]);
        let calls = two_calls(&site);
        platform_refers_attended(&site, &calls);
        let accepted = platform_refer_answer(&site, &calls.b1.call_id);
        assert_status(io, &accepted, 202);
        site.platform.ua.send(
            site.sip,
            &calls.b1.request("BYE", site.platform.ua.addr(), &[]),
        );
        let (to_a1, to_a2) = carrier_answers_join_reinvites(&site, &calls);
        platform_released(&site, &calls, true);
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("BYE"));
        a1_and_a2_hear_each_other(&site, &calls, to_a1, to_a2);
        assert_attended_local_record(&site, "local", serde_json::Value::Null);
        customer_ends_joined_call(&site, &calls);
        site.stop();
    }
}

/// After the local join the carrier legs' own requests stay with handoff (the platform legs
/// are gone): a re-INVITE on A1 is refused with 488, an INFO on A2 answered 200, and neither
/// ends a call.
#[test]
fn joined_legs_requests_are_answered_by_handoff() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23200 + i as u16 * 100, 30, &["transfer = \"local\""]);
        let c_addr = site.carrier.ua.addr();
        let calls = two_calls(&site);
        platform_refers_attended(&site, &calls);
        let accepted = platform_refer_answer(&site, &calls.b1.call_id);
        assert_status(io, &accepted, 202);
        let (to_a1, to_a2) = carrier_answers_join_reinvites(&site, &calls);
        platform_released(&site, &calls, false);

        let hold = with_body(
            &calls.a1.request("INVITE", c_addr, &[]),
            "application/sdp",
            &sdp_with(site.carrier.rtp_port(), &[0], "sendonly"),
        );
        site.carrier.ua.send(site.sip, &hold);
        let (refused, _) =
            site.carrier
                .ua
                .expect(&format!("{io}: answer to the re-INVITE on A1"), WAIT, |m| {
                    is_final(m, "INVITE", &calls.a1.call_id)
                });
        assert_status(io, &refused, 488);
        site.carrier
            .ua
            .send(site.sip, &ack_for_failure(&refused, &calls.a1.target));
        site.carrier
            .ua
            .send(site.sip, &calls.a2.request("INFO", c_addr, &[]));
        let (info_ok, _) =
            site.carrier
                .ua
                .expect(&format!("{io}: answer to the INFO on A2"), WAIT, |m| {
                    is_final(m, "INFO", &calls.a2.call_id)
                });
        assert_status(io, &info_ok, 200);
        site.platform
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method().is_some());
        a1_and_a2_hear_each_other(&site, &calls, to_a1, to_a2);
        customer_ends_joined_call(&site, &calls);
        site.stop();
    }
}

/// Local mode, then SIGTERM: at the drain deadline both joined carrier legs get BYE and
/// handoff exits 0.
#[test]
fn attended_local_join_is_ended_by_a_drain() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut site = site(io, 22000 + i as u16 * 100, 2, &["transfer = \"local\""]);
        let calls = two_calls(&site);
        platform_refers_attended(&site, &calls);
        let accepted = platform_refer_answer(&site, &calls.b1.call_id);
        assert_status(io, &accepted, 202);
        let (to_a1, to_a2) = carrier_answers_join_reinvites(&site, &calls);
        platform_released(&site, &calls, false);
        a1_and_a2_hear_each_other(&site, &calls, to_a1, to_a2);
        assert_attended_local_record(&site, "local", serde_json::Value::Null);

        site.handoff.signal("TERM");
        let found = expect_all(
            &site.carrier.ua,
            WAIT + Duration::from_secs(2),
            &[
                ("BYE on A1", &|m: &Msg| {
                    is_request(m, "BYE", &calls.a1.call_id)
                }),
                ("BYE on A2", &|m: &Msg| {
                    is_request(m, "BYE", &calls.a2.call_id)
                }),
            ],
        );
        for (bye, src) in &found {
            site.carrier.ua.send(
                *src,
                &response(bye, 200, "OK", "x", site.carrier.ua.addr(), ""),
            );
        }
        // The join ended the two platform dialogs (B1, B2) already: a BYE ends a dialog (RFC
        // 3261 section 15), so the drain sends none there. handoff waits for its BYEs' answers
        // (or Timer F, 64*T1) before it exits.
        let (status, answered) = site.handoff.answer_byes_until_exit(
            &[&site.carrier.ua, &site.platform.ua, &site.partner.ua],
            WAIT,
        );
        assert!(status.is_some_and(|s| s.success()), "{io}: exit {status:?}");
        for (peer, call_id) in &answered {
            assert!(
                *call_id != calls.b1.call_id && *call_id != calls.b2.call_id,
                "{io}: the drain sent {peer} a BYE in an ended platform dialog {call_id}"
            );
        }
    }
}

/// Both calls are still up: each platform BYE reaches its carrier leg.
fn platform_hangs_up_both(site: &TransferSite, calls: &TwoCalls) {
    platform_hangs_up(site, &calls.a1, &calls.b1);
    platform_hangs_up(site, &calls.a2, &calls.b2);
}

/// The parts of a Target-Dialog (RFC 4538 section 7: `callid *(SEMI td-param)`) or Replaces
/// (RFC 3891 section 6.1) value: the Call-ID and the parameters, whose order does not matter.
fn dialog_parts(value: &str) -> (String, BTreeMap<String, String>) {
    let mut parts = value.trim().split(';');
    let call_id = parts.next().unwrap_or_default().trim().to_owned();
    let params = parts
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    (call_id, params)
}

/// The platform sends an INFO on B1 with `Target-Dialog: {target_dialog}`; the carrier gets it
/// on A1 and answers 200. Returns the INFO as the carrier got it and the platform's final
/// response.
fn platform_info_with_target_dialog(
    site: &TransferSite,
    calls: &TwoCalls,
    target_dialog: &str,
) -> (Msg, Msg) {
    let io = site.io;
    site.platform.ua.send(
        site.sip,
        &calls.b1.request(
            "INFO",
            site.platform.ua.addr(),
            &[format!("Target-Dialog: {target_dialog}")],
        ),
    );
    let (info, src) = site
        .carrier
        .ua
        .expect(&format!("{io}: the INFO on A1"), WAIT, |m| {
            is_request(m, "INFO", &calls.a1.call_id)
        });
    site.carrier.ua.send(
        src,
        &response(&info, 200, "OK", "x", site.carrier.ua.addr(), ""),
    );
    let (answer, _) = site
        .platform
        .ua
        .expect(&format!("{io}: answer to the INFO"), WAIT, |m| {
            is_final(m, "INFO", &calls.b1.call_id)
        });
    (info, answer)
}

/// RFC 4538 section 3: a Target-Dialog names a dialog as its recipient sees it (local-tag =
/// the recipient's tag). The platform's INFO on B1 names B2 as handoff sees it; the carrier's
/// INFO on A1 must name A2 as the carrier sees it (its own tag as local-tag), other parameters
/// kept.
#[test]
fn target_dialog_on_a_relayed_request_names_the_other_legs_dialog() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 22200 + i as u16 * 100, 30, &[]);
        let calls = two_calls(&site);
        let named = format!(
            "{};local-tag={};remote-tag=ptag2;x=1",
            calls.b2.call_id, calls.b2_handoff_tag
        );
        let (info, ok) = platform_info_with_target_dialog(&site, &calls, &named);
        let received = dialog_parts(info.header("target-dialog").expect("Target-Dialog"));
        let expected = dialog_parts(&format!(
            "{};local-tag=ctag2;remote-tag={};x=1",
            calls.a2.call_id,
            tag_of(&calls.a2.to)
        ));
        assert_eq!(received, expected, "{io}: {}", info.raw);
        assert_status(io, &ok, 200);
        platform_hangs_up_both(&site, &calls);
        site.stop();
    }
}

/// Identifiers naming no dialog handoff bridges pass unchanged: a Target-Dialog on a relayed
/// INFO (a tag in handoff's format that names nothing), and the Replaces in the Refer-To the
/// carrier gets, still escaped as written. The carrier refuses (603); the local fallback finds
/// no dialog to join: the platform hears 481 by NOTIFY (RFC 3891 section 3: "481 Call/
/// Transaction Does Not Exist"), and both calls stay up.
#[test]
fn identifiers_of_unknown_dialogs_pass_unchanged() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            22400 + i as u16 * 100,
            30,
            &["on_refer_failure = \"local\""],
        );
        let calls = two_calls(&site);
        let ghost = "nobody@x;local-tag=hf00010000000000000001;remote-tag=zz";
        let (info, _) = platform_info_with_target_dialog(&site, &calls, ghost);
        assert_eq!(info.header("target-dialog"), Some(ghost), "{io}");

        let foreign = "foreign-1%40elsewhere%3Bto-tag%3Daaa%3Bfrom-tag%3Dbbb";
        site.platform.ua.send(
            site.sip,
            &calls.b1.request(
                "REFER",
                site.platform.ua.addr(),
                &[format!(
                    "Refer-To: <sip:+15550001111@{}?Replaces={foreign}>",
                    site.platform.ua.addr()
                )],
            ),
        );
        let (refer, src) = site
            .carrier
            .ua
            .expect(&format!("{io}: the REFER on A1"), WAIT, |m| {
                is_request(m, "REFER", &calls.a1.call_id)
            });
        let refer_to = refer.header("refer-to").expect("Refer-To");
        assert!(
            refer_to.contains(&format!("?Replaces={foreign}>"))
                || refer_to.contains(&format!("Replaces={foreign}&")),
            "{io}: the Replaces changed: {refer_to}"
        );
        site.carrier.ua.send(
            src,
            &response(&refer, 603, "Decline", "x", site.carrier.ua.addr(), ""),
        );
        let found = expect_all(
            &site.platform.ua,
            WAIT,
            &[
                ("final response to the REFER", &|m: &Msg| {
                    is_final(m, "REFER", &calls.b1.call_id)
                }),
                ("NOTIFY with a final sipfrag", &|m: &Msg| {
                    is_request(m, "NOTIFY", &calls.b1.call_id)
                        && sipfrag_status(&m.body).is_some_and(|s| s >= 200)
                }),
            ],
        );
        assert_eq!(
            found[0].0.status(),
            Some(202),
            "{io}: {}",
            found[0].0.first_line
        );
        let (notify, src) = &found[1];
        assert_eq!(
            sipfrag_status(&notify.body),
            Some(481),
            "{io}: {}",
            notify.body
        );
        site.platform.ua.send(
            *src,
            &response(notify, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        site.carrier
            .ua
            .expect_none(Duration::from_millis(200), |m| m.method() == Some("BYE"));
        platform_hangs_up_both(&site, &calls);
        site.stop();
    }
}
