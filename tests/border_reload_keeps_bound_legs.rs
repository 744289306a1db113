//! Against the real binary, both backends: a call is up (carrier -> platform), then SIGHUP loads
//! a config where the platform trunk's peer has moved to another address, or where the platform
//! trunk and its routes are gone. The platform's leg stays bound to the address it was set up
//! with: a re-INVITE from the platform's original socket is relayed to the carrier, and its BYE
//! gets 200 and reaches the carrier (before legs were bound, handoff looked the sender up in the
//! live config and answered 403 "not a configured trunk", leaving the call up).

mod border_support;
mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use border_support::{Site, TrunkSpec, config_text, with_body};
use runtime_support::call::{CallUp, Endpoint, WAIT, establish, exchange_rtp};
use runtime_support::ua::{in_dialog, response, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

#[derive(Clone, Copy, Debug)]
enum Change {
    /// The platform trunk's peer moves to another address.
    PlatformMoved,
    /// The platform trunk and both routes naming it are removed.
    PlatformRemoved,
}

#[test]
fn reload_that_moves_or_removes_the_platform_keeps_its_call() {
    for (i, io) in BACKENDS.iter().enumerate() {
        // One media base per backend; the two cases run one after the other on it.
        for change in [Change::PlatformMoved, Change::PlatformRemoved] {
            run(io, 18200 + i as u16 * 100, change);
        }
    }
}

fn run(io: &str, media: u16, change: Change) {
    let s = setup(io, media, 2, 30);
    let site = Site {
        io,
        sip: s.sip,
        media,
        shards: 2,
        drain_s: 30,
        audit: &s.audit_path,
    };
    let carrier_at = s.carrier.local_addr().unwrap();
    std::fs::write(
        &s.config_path,
        config_text(
            &site,
            &[
                TrunkSpec::new("carrier", "carrier", carrier_at),
                TrunkSpec::new("platform", "platform", s.platform.local_addr().unwrap()),
            ],
            &[("carrier", "platform"), ("platform", "carrier")],
        ),
    )
    .unwrap();
    let mut handoff = Handoff::start(&s.config_path);
    let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
    let mut call = establish(
        s.sip,
        &carrier,
        &platform,
        &format!("reload-bound-{io}-{change:?}"),
    );
    exchange_rtp(&call, &carrier, &platform, 0, 3);

    // The new config: the platform elsewhere (a socket held so nobody else takes the port), or
    // no platform at all.
    let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
    let carrier_trunk = TrunkSpec::new("carrier", "carrier", carrier_at);
    let text = match change {
        Change::PlatformMoved => config_text(
            &site,
            &[
                carrier_trunk,
                TrunkSpec::new("platform", "platform", elsewhere.local_addr().unwrap()),
            ],
            &[("carrier", "platform"), ("platform", "carrier")],
        ),
        Change::PlatformRemoved => config_text(&site, &[carrier_trunk], &[]),
    };
    assert!(!text.contains(&platform.ua.addr().to_string()), "{text}");
    std::fs::write(&s.config_path, text).unwrap();
    handoff.signal("HUP");
    let reloaded = handoff.wait_for_log("configuration reloaded", Duration::from_secs(10));
    let counts = match change {
        Change::PlatformMoved => "trunks=2 routes=2",
        Change::PlatformRemoved => "trunks=1 routes=0",
    };
    assert!(reloaded.contains(counts), "{io} {change:?}: {reloaded}");
    handoff.wait_for_log("new configuration shard=0", Duration::from_secs(10));
    handoff.wait_for_log("new configuration shard=1", Duration::from_secs(10));

    platform_reinvites(s.sip, &call, &carrier, &platform, io, change);
    exchange_rtp(&call, &carrier, &platform, 3, 3);
    platform_hangs_up(s.sip, &mut call, &carrier, &platform, io, change);

    assert!(handoff.is_running());
    handoff.signal("TERM");
    assert!(
        handoff
            .wait_exit(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{io} {change:?}: handoff did not exit cleanly"
    );
}

/// On leg B handoff is the caller: the platform's requests go From its To, To its From.
fn platform_request(call: &CallUp, platform: &Endpoint, method: &str, cseq: u32) -> String {
    in_dialog(
        method,
        &call.b_target,
        platform.ua.addr(),
        &call.b_call_id,
        &call.b_to,
        &call.b_from,
        cseq,
        &format!("platform-{method}-{cseq}"),
    )
}

/// The platform's re-INVITE (its first request on leg B, CSeq 1) reaches the carrier in the
/// carrier's dialog; the carrier's 200 comes back to the platform, which ACKs.
fn platform_reinvites(
    sip: std::net::SocketAddr,
    call: &CallUp,
    carrier: &Endpoint,
    platform: &Endpoint,
    io: &str,
    change: Change,
) {
    let reinvite = with_body(
        &platform_request(call, platform, "INVITE", 1),
        "application/sdp",
        &sdp(platform.rtp_port()),
    );
    platform.ua.send(sip, &reinvite);
    let (relayed, src) = carrier.ua.expect(
        &format!("{io} {change:?}: the platform's re-INVITE relayed after the reload"),
        WAIT,
        |m| m.method() == Some("INVITE"),
    );
    assert_eq!(src, sip, "{io} {change:?}");
    assert_eq!(
        relayed.header("call-id"),
        Some(call.call_id.as_str()),
        "{io} {change:?}: the re-INVITE is in the carrier's dialog"
    );
    carrier.ua.send(
        src,
        &response(
            &relayed,
            200,
            "OK",
            "atag",
            carrier.ua.addr(),
            &sdp(carrier.rtp_port()),
        ),
    );
    let (ok, _) = platform.ua.expect(
        &format!("{io} {change:?}: 200 to the platform's re-INVITE"),
        WAIT,
        |m| m.status() == Some(200) && m.cseq_method() == Some("INVITE"),
    );
    assert!(ok.sdp_audio().is_some(), "{io} {change:?}: 200 with SDP");
    platform
        .ua
        .send(sip, &platform_request(call, platform, "ACK", 1));
    carrier.ua.expect(
        &format!("{io} {change:?}: ACK for the carrier's 200"),
        WAIT,
        |m| m.method() == Some("ACK"),
    );
}

/// The platform's BYE from its original socket gets 200, and the carrier gets the BYE.
fn platform_hangs_up(
    sip: std::net::SocketAddr,
    call: &mut CallUp,
    carrier: &Endpoint,
    platform: &Endpoint,
    io: &str,
    change: Change,
) {
    platform
        .ua
        .send(sip, &platform_request(call, platform, "BYE", 2));
    let (bye, src) = carrier.ua.expect(
        &format!("{io} {change:?}: the platform's BYE relayed after the reload"),
        WAIT,
        |m| m.method() == Some("BYE"),
    );
    assert_eq!(bye.header("call-id"), Some(call.call_id.as_str()));
    carrier.ua.send(
        src,
        &response(&bye, 200, "OK", "atag", carrier.ua.addr(), ""),
    );
    let (ok, _) = platform.ua.expect(
        &format!("{io} {change:?}: a final response to the platform's BYE"),
        WAIT,
        |m| m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("BYE"),
    );
    assert_eq!(ok.status(), Some(200), "{io} {change:?}: {}", ok.first_line);
}
