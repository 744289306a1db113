//! Against the real binary on both backends: another process holds every port of handoff's
//! media range, so a new call's media sockets cannot be opened (issue 9, protection 6: "Media
//! failure is a call failure. If the ports for a leg cannot be opened, the INVITE gets 503
//! ('media unavailable')"). The caller gets 503 instead of a call without audio; the callee's
//! INVITE, already on its way, is cancelled (RFC 3261 section 9.1: after its provisional); the
//! call_end record says why; and once the ports are free again the next call has media.

mod runtime_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::ua::{request, response, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn held_media_ports_get_503_and_the_callee_is_cancelled() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let base = 24200 + i as u16 * 100;
        let s = setup(io, base, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        // Every port of the media range [base, base + 100), on handoff's media address.
        let held: Vec<UdpSocket> = (base..base + 100)
            .map(|port| UdpSocket::bind(("127.0.0.1", port)).expect("hold a media port"))
            .collect();

        let call_id = format!("noports-{io}");
        carrier.ua.send(
            s.sip,
            &request(
                "INVITE",
                carrier.ua.addr(),
                s.sip,
                "+15550001111",
                &call_id,
                "atag",
                1,
                &sdp(carrier.rtp_port()),
            ),
        );
        // The INVITE toward the platform had left before the sockets failed: it is cancelled.
        let (invite, src) = platform
            .ua
            .expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
        platform.ua.send(
            src,
            &response(&invite, 180, "Ringing", "btag", platform.ua.addr(), ""),
        );
        let (final_a, _) = carrier.ua.expect("a final response", WAIT, |m| {
            m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200)
        });
        assert_eq!(final_a.status(), Some(503), "{io}: {}", final_a.first_line);
        // The caller gets the generic phrase (topology hiding); why is in handoff's log.
        assert_eq!(
            final_a.first_line, "SIP/2.0 503 Service Unavailable",
            "{io}"
        );
        handoff.wait_for_log("detail=Service Unavailable (media unavailable)", WAIT);
        let (cancel, src) = platform
            .ua
            .expect("CANCEL on leg B", WAIT, |m| m.method() == Some("CANCEL"));
        platform.ua.send(
            src,
            &response(&cancel, 200, "OK", "btag", platform.ua.addr(), ""),
        );
        platform.ua.send(
            src,
            &response(
                &invite,
                487,
                "Request Terminated",
                "btag",
                platform.ua.addr(),
                "",
            ),
        );
        platform
            .ua
            .expect("ACK for the 487", WAIT, |m| m.method() == Some("ACK"));
        handoff.wait_for_log("media command failed", WAIT);

        // The audit says why the call ended.
        let deadline = Instant::now() + WAIT;
        let record = loop {
            let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"call_end\"")) {
                break serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
            assert!(Instant::now() < deadline, "{io}: no call_end record");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(record["setup_status"], 503, "{io}: {record}");
        assert_eq!(record["end_reason"], "media_unavailable", "{io}: {record}");

        // The ports come free: the next call has media both ways.
        drop(held);
        let mut call = establish(s.sip, &carrier, &platform, &format!("ports-back-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 5);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
