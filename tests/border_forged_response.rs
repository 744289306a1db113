//! Against the real binary, both backends: a host that is not the platform answers handoff's
//! INVITE to the platform with a 200 OK of its own (right branch, its own tag and SDP). It is
//! dropped; the caller gets no 200 until the platform itself answers, and then the media flows
//! between the caller and the real platform.

mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use runtime_support::call::{Endpoint, WAIT};
use runtime_support::ua::{Ua, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

#[test]
fn a_forged_200_does_not_answer_the_call() {
    for (i, io) in BACKENDS.iter().enumerate() {
        // drain_s = 1: the call still up at SIGTERM is ended quickly.
        let s = setup(io, 9600 + i as u16 * 100, 2, 1);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call_id = format!("forged-{io}");
        let invite = request(
            "INVITE",
            carrier.ua.addr(),
            s.sip,
            "+15550001111",
            &call_id,
            "atag",
            1,
            &sdp(carrier.rtp_port()),
        );
        carrier.ua.send(s.sip, &invite);
        let (b_invite, b_src) = platform
            .ua
            .expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));

        let forger = Ua::new(UdpSocket::bind("127.0.0.1:0").unwrap(), "forger");
        let forged = response(&b_invite, 200, "OK", "forger", forger.addr(), &sdp(40000));
        forger.send(b_src, &forged);
        handoff.wait_for_log("reason=response_from_wrong_source", Duration::from_secs(20));
        carrier
            .ua
            .expect_none(Duration::from_millis(300), |m| m.status() == Some(200));

        // The real answer sets the call up with the platform's media address.
        platform.ua.send(
            b_src,
            &response(
                &b_invite,
                200,
                "OK",
                "btag",
                platform.ua.addr(),
                &sdp(platform.rtp_port()),
            ),
        );
        let (ok, _) = carrier.ua.expect("200 to the INVITE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
        assert!(
            ok.sdp_audio().is_some(),
            "the caller's 200 carries handoff's SDP"
        );
        let (ack, _) = platform
            .ua
            .expect("ACK on leg B", WAIT, |m| m.method() == Some("ACK"));
        assert!(
            ack.header("to").is_some_and(|to| to.contains("tag=btag")),
            "handoff's ACK goes to the platform's dialog, not the forger's"
        );
        forger.expect_none(Duration::from_millis(50), |_| true);
        handoff.signal("TERM");
        // The drain BYEs both legs; the peers answer, and handoff exits once they have.
        let (status, _) =
            handoff.answer_byes_until_exit(&[&carrier.ua, &platform.ua], Duration::from_secs(30));
        assert!(status.is_some_and(|s| s.success()), "{io}: {status:?}");
    }
}
