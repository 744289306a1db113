//! Against the real binary on both backends: another process holds media ports of handoff's
//! range when it starts. Media failure is a call failure (issue 9, protection 6: "If the ports
//! for a leg cannot be opened, the INVITE gets 503"), and since issue 12 every pair is opened
//! once, at start-up ("A call never creates, binds or closes a socket"): a pair whose RTP or
//! RTCP port is held is left out of the pool for good, with a warning that names the first port
//! refused, and calls only ever get pairs handoff holds.
//! - Every port held: the pool is empty; a call gets 503 at once, and no INVITE leaves toward
//!   the platform (nothing to cancel).
//! - The RTCP port of every other pair held: those pairs are left out whole, the others carry
//!   calls with media both ways, and no call is offered a held port.

mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::ua::{request, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn held_media_ports_leave_the_pool_and_a_call_without_ports_gets_503() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let base = 24200 + i as u16 * 100;
        let s = setup(io, base, 2, 30);
        // Every port of the media range [base, base + 100), on handoff's media address.
        let held: Vec<UdpSocket> = (base..base + 100)
            .map(|port| UdpSocket::bind(("127.0.0.1", port)).expect("hold a media port"))
            .collect();
        let mut handoff = Handoff::start(&s.config_path);
        let line = handoff.wait_for_log("media ports left out of the pool", WAIT);
        assert!(line.contains("refused_pairs=25"), "{io}: {line}");
        assert!(
            line.contains("Address in use") || line.contains("in use"),
            "{io}: {line}"
        );
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");

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
        let (final_a, _) = carrier.ua.expect("a final response", WAIT, |m| {
            m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200)
        });
        assert_eq!(final_a.status(), Some(503), "{io}: {}", final_a.first_line);
        // The caller gets the generic phrase (topology hiding); why is in handoff's log.
        assert_eq!(
            final_a.first_line, "SIP/2.0 503 Service Unavailable",
            "{io}"
        );
        handoff.wait_for_log("no media ports", WAIT);
        platform
            .ua
            .expect_none(Duration::from_millis(300), |m| m.method() == Some("INVITE"));
        drop(held);
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}

#[test]
fn a_pair_with_a_held_port_is_left_out_whole_and_the_others_carry_calls() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let base = 24400 + i as u16 * 100;
        let s = setup(io, base, 2, 30);
        // The RTCP port (odd) of every other pair: base+3, base+7, ...
        let held_ports: Vec<u16> = (base..base + 100).filter(|p| (p - base) % 4 == 3).collect();
        let held: Vec<UdpSocket> = held_ports
            .iter()
            .map(|&port| UdpSocket::bind(("127.0.0.1", port)).expect("hold a media port"))
            .collect();
        let mut handoff = Handoff::start(&s.config_path);
        handoff.wait_for_log("media ports left out of the pool", WAIT);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        for n in 0..4 {
            let mut call = establish(s.sip, &carrier, &platform, &format!("half-{io}-{n}"));
            for addr in [call.handoff_rtp_for_a, call.handoff_rtp_for_b] {
                assert!(
                    !held_ports.contains(&(addr.port() + 1)),
                    "{io}: offered {addr}, whose RTCP port another process holds"
                );
            }
            exchange_rtp(&call, &carrier, &platform, n * 10, 3);
            hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        }
        drop(held);
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
