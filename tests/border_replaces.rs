//! Against the real binary, both backends: RFC 3891 section 3. With a call up (carrier ->
//! platform), the platform sends a new INVITE whose Replaces names its dialog with handoff
//! (`to-tag` = handoff's tag, the recipient's; `from-tag` = the platform's). handoff answers it
//! with its own SDP, sends BYE on the replaced dialog, tells the carrier nothing, and relays the
//! carrier's media to the new dialog; a BYE there ends the call. Refusals: the same Replaces from
//! a stranger (no trunk) is dropped unanswered, from the carrier's own trunk gets 403, a Replaces
//! naming no dialog 481, and a Replaces header on an in-dialog INFO 400. The carrier may replace
//! its own leg the same way (the platform sees nothing).

mod border_support;
mod runtime_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use border_support::{
    Leg, ack_for_failure, assert_exits_cleanly, expect_all, is_final, is_request, legs_of,
    stream_arrives, tag_of, with_headers,
};
use runtime_support::call::{CallUp, Endpoint, WAIT, establish, exchange_rtp};
use runtime_support::ua::{Msg, Ua, in_dialog, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

/// An INVITE from `ua` with `Replaces: replaces` and an SDP offer for `rtp_port`.
fn replacing_invite(
    ua: SocketAddr,
    handoff: SocketAddr,
    call_id: &str,
    replaces: &str,
    rtp_port: u16,
) -> String {
    with_headers(
        &request(
            "INVITE",
            ua,
            handoff,
            "agent",
            call_id,
            "ntag",
            1,
            &sdp(rtp_port),
        ),
        &[format!("Replaces: {replaces}")],
    )
}

/// Sends `invite` from `ua`, returns the final response (ACKed when it is not a 2xx).
fn final_response(ua: &Ua, handoff: SocketAddr, invite: &str, what: &str) -> Msg {
    ua.send(handoff, invite);
    let (answer, _) = ua.expect(what, WAIT, |m| {
        m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("INVITE")
    });
    if answer.status() != Some(200) {
        ua.send(
            handoff,
            &ack_for_failure(&answer, &format!("sip:agent@{handoff}")),
        );
    }
    answer
}

#[test]
fn platform_replaces_its_own_dialog_and_others_may_not() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 18800 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("replaces-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 3);
        let handoff_tag = tag_of(&call.b_from);
        let replaces = format!("{};to-tag={handoff_tag};from-tag=btag", call.b_call_id);

        refusals(
            &mut handoff,
            &s.sip,
            &call,
            &carrier,
            &platform,
            &replaces,
            io,
        );

        // The platform replaces its dialog with a new one (new Call-ID, tag and RTP port).
        let new_call_id = format!("replacement-{io}");
        let new_platform = Endpoint::new(s.platform.try_clone().unwrap(), "new platform dialog");
        platform.ua.send(
            s.sip,
            &replacing_invite(
                platform.ua.addr(),
                s.sip,
                &new_call_id,
                &replaces,
                new_platform.rtp_port(),
            ),
        );
        let found = expect_all(
            &platform.ua,
            WAIT,
            &[
                ("final response to the replacing INVITE", &|m: &Msg| {
                    m.status().is_some_and(|s| s >= 200)
                        && m.cseq_method() == Some("INVITE")
                        && m.header("call-id") == Some(new_call_id.as_str())
                }),
                ("BYE on the replaced dialog", &|m: &Msg| {
                    m.method() == Some("BYE")
                        && m.header("call-id") == Some(call.b_call_id.as_str())
                }),
            ],
        );
        let (ok, _) = &found[0];
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);
        let answer = ok.sdp_audio().expect("SDP in the 200");
        assert_eq!(
            answer, call.handoff_rtp_for_b,
            "{io}: the new dialog takes the replaced leg's media port"
        );
        let (old_bye, bye_src) = &found[1];
        assert_eq!(old_bye.tag("to").as_deref(), Some("btag"), "{io}");
        assert_eq!(old_bye.tag("from"), Some(handoff_tag.clone()), "{io}");
        platform.ua.send(
            *bye_src,
            &response(old_bye, 200, "OK", "btag", platform.ua.addr(), ""),
        );
        let new_from = ok.header("from").unwrap().to_owned();
        let new_to = ok.header("to").unwrap().to_owned();
        let new_target = ok.contact_uri().expect("Contact in the 200");
        platform.ua.send(
            s.sip,
            &in_dialog(
                "ACK",
                &new_target,
                platform.ua.addr(),
                &new_call_id,
                &new_from,
                &new_to,
                1,
                "replacement-ack",
            ),
        );

        // The carrier was told nothing; its media now reaches the new dialog's port.
        carrier.ua.expect_none(Duration::from_millis(50), |m| {
            matches!(m.method(), Some("INVITE") | Some("BYE"))
        });
        exchange_rtp(&call, &carrier, &new_platform, 100, 3);

        // A BYE on the new dialog ends the call: the carrier gets BYE.
        platform.ua.send(
            s.sip,
            &in_dialog(
                "BYE",
                &new_target,
                platform.ua.addr(),
                &new_call_id,
                &new_from,
                &new_to,
                2,
                "replacement-bye",
            ),
        );
        let (bye, src) = carrier
            .ua
            .expect(&format!("{io}: BYE at the carrier"), WAIT, |m| {
                m.method() == Some("BYE")
            });
        assert_eq!(bye.header("call-id"), Some(call.call_id.as_str()), "{io}");
        carrier.ua.send(
            src,
            &response(&bye, 200, "OK", "atag", carrier.ua.addr(), ""),
        );
        let (bye_ok, _) = platform
            .ua
            .expect("a final response to the BYE", WAIT, |m| {
                m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("BYE")
            });
        assert_eq!(bye_ok.status(), Some(200), "{io}: {}", bye_ok.first_line);

        assert_exits_cleanly(&mut handoff, io, Duration::from_secs(20));
    }
}

/// Replaces that must be refused, with the call left as it was.
fn refusals(
    handoff: &mut Handoff,
    sip: &SocketAddr,
    call: &CallUp,
    carrier: &Endpoint,
    platform: &Endpoint,
    replaces: &str,
    io: &str,
) {
    let sip = *sip;
    // A stranger (no trunk's source) naming the platform's dialog.
    // It is no trunk's: dropped unanswered (default `unknown_source = "drop"`), and logged.
    let stranger = Ua::new(UdpSocket::bind("127.0.0.1:0").unwrap(), "stranger");
    stranger.send(
        sip,
        &replacing_invite(
            stranger.addr(),
            sip,
            &format!("stranger-{io}"),
            replaces,
            40000,
        ),
    );
    handoff.wait_for_log(
        &format!("from={} reason=unknown_source", stranger.addr()),
        WAIT,
    );
    stranger.expect_none(Duration::from_millis(500), |_| true);

    // The carrier's trunk naming the platform's dialog: a trunk, but not the leg's peer.
    let refused = final_response(
        &carrier.ua,
        sip,
        &replacing_invite(
            carrier.ua.addr(),
            sip,
            &format!("carrier-replaces-{io}"),
            replaces,
            40002,
        ),
        "a final response to the carrier's Replaces",
    );
    assert_eq!(refused.status(), Some(403), "{io}: {}", refused.first_line);

    // The platform naming a dialog that does not exist.
    let refused = final_response(
        &platform.ua,
        sip,
        &replacing_invite(
            platform.ua.addr(),
            sip,
            &format!("unknown-{io}"),
            "no-such-call@example;to-tag=no-such-tag;from-tag=btag",
            40004,
        ),
        "a final response to a Replaces naming no dialog",
    );
    assert_eq!(refused.status(), Some(481), "{io}: {}", refused.first_line);

    // Replaces on an in-dialog INFO (RFC 3891 section 3: only an INVITE may carry it).
    let info = with_headers(
        &in_dialog(
            "INFO",
            &call.b_target,
            platform.ua.addr(),
            &call.b_call_id,
            &call.b_to,
            &call.b_from,
            1,
            &format!("info-replaces-{io}"),
        ),
        &[format!("Replaces: {replaces}")],
    );
    platform.ua.send(sip, &info);
    let (answer, _) = platform
        .ua
        .expect("a final response to the INFO", WAIT, |m| {
            m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("INFO")
        });
    assert_eq!(answer.status(), Some(400), "{io}: {}", answer.first_line);

    // All four were answered: nothing reached the carrier, no dialog was ended.
    carrier
        .ua
        .expect_none(Duration::from_millis(50), |m| m.method().is_some());
    platform
        .ua
        .expect_none(Duration::from_millis(50), |m| m.method() == Some("BYE"));
    exchange_rtp(call, carrier, platform, 50, 3);
}

/// RFC 3891 section 3, from the carrier's side: the carrier (completing an attended transfer
/// toward handoff) replaces its own leg A with a new dialog. handoff, leg A's UAS, answers the
/// new INVITE, sends BYE on the replaced dialog and tells the platform nothing; the platform's
/// media now flows with the new dialog's RTP address, both ways, and the platform's BYE
/// reaches the new dialog.
#[test]
fn carrier_replaces_its_own_leg_and_the_platform_sees_nothing() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 21200 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(
            s.sip,
            &carrier,
            &platform,
            &format!("carrier-replaces-{io}"),
        );
        exchange_rtp(&call, &carrier, &platform, 0, 3);
        let (_, b) = legs_of(&call);
        // Leg A as handoff (the recipient) has it: to-tag is handoff's, from-tag the carrier's.
        let replaces = format!(
            "{};to-tag={};from-tag=atag",
            call.call_id,
            tag_of(&call.a_to)
        );

        let new_call_id = format!("carrier-replacement-{io}");
        let new_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c_addr = carrier.ua.addr();
        carrier.ua.send(
            s.sip,
            &with_headers(
                &request(
                    "INVITE",
                    c_addr,
                    s.sip,
                    "+15550001111",
                    &new_call_id,
                    "ntag",
                    1,
                    &sdp(new_rtp.local_addr().unwrap().port()),
                ),
                &[format!("Replaces: {replaces}")],
            ),
        );
        let found = expect_all(
            &carrier.ua,
            WAIT,
            &[
                ("final response to the replacing INVITE", &|m: &Msg| {
                    is_final(m, "INVITE", &new_call_id)
                }),
                ("BYE on the replaced dialog", &|m: &Msg| {
                    is_request(m, "BYE", &call.call_id)
                }),
            ],
        );
        let (ok, _) = &found[0];
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);
        let handoff_rtp_for_new = ok.sdp_audio().expect("SDP in the 200");
        let (old_bye, bye_src) = &found[1];
        carrier
            .ua
            .send(*bye_src, &response(old_bye, 200, "OK", "x", c_addr, ""));
        let new_leg = Leg::new(
            &new_call_id,
            ok.header("from").expect("From"),
            ok.header("to").expect("To"),
            &ok.contact_uri().expect("Contact in the 200"),
            1,
        );
        carrier.ua.send(s.sip, &new_leg.ack(c_addr, 1));

        // The platform was told nothing; its media and the new dialog's reach each other.
        platform.ua.expect_none(Duration::from_millis(100), |m| {
            matches!(m.method(), Some("INVITE") | Some("BYE"))
        });
        let to_platform = stream_arrives(
            &new_rtp,
            handoff_rtp_for_new,
            &platform.rtp,
            call.handoff_rtp_for_b,
            0x21,
            50,
        );
        assert!(
            to_platform >= 35,
            "{io}: {to_platform} of 50 reached the platform"
        );
        let to_carrier = stream_arrives(
            &platform.rtp,
            call.handoff_rtp_for_b,
            &new_rtp,
            handoff_rtp_for_new,
            0x43,
            50,
        );
        assert!(
            to_carrier >= 35,
            "{io}: {to_carrier} of 50 reached the new dialog"
        );

        // The platform hangs up: the BYE reaches the new dialog.
        platform
            .ua
            .send(s.sip, &b.request("BYE", platform.ua.addr(), &[]));
        let (bye, src) = carrier
            .ua
            .expect(&format!("{io}: BYE at the carrier"), WAIT, |m| {
                m.method() == Some("BYE")
            });
        assert_eq!(bye.header("call-id"), Some(new_call_id.as_str()), "{io}");
        carrier
            .ua
            .send(src, &response(&bye, 200, "OK", "x", c_addr, ""));
        let (bye_ok, _) = platform
            .ua
            .expect("a final response to the BYE", WAIT, |m| {
                is_final(m, "BYE", &b.call_id)
            });
        assert_eq!(bye_ok.status(), Some(200), "{io}: {}", bye_ok.first_line);

        assert_exits_cleanly(&mut handoff, io, Duration::from_secs(20));
    }
}
