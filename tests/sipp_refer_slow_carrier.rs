//! Issue 10, item 1 ("double dial on a slow target"), against the real binary and a SIPp
//! carrier (tests/sipp/refer_uas_slow_carrier.xml): the platform dials out through the carrier,
//! then REFERs the call to a number handoff could also reach itself (the partner trunk). The
//! carrier accepts the REFER (202), NOTIFYs 100 and 180, stays silent for 10 s while its target
//! rings, then NOTIFYs 200 and BYEs.
//!
//! RFC 3515 section 2.4.4: "The lifetime of the state being subscribed to is determined by the
//! progress of the referenced request"; silence between NOTIFYs is not failure, and only
//! `transfer_timeout_s` (from the carrier's 2xx to its final NOTIFY) bounds it. So handoff sends
//! no INVITE toward the target (the partner gets nothing), relays the carrier's NOTIFYs, and the
//! transfer record says `handed_off`. SIPp judges every message handoff sent it.
//!
//! No fixed sleeps: every step waits for its message up to a generous deadline; the one window
//! (the carrier's 10 s silence) is SIPp's own pause.

// The SIPp harness and runtime_support each include runtime_support/netns.rs: two copies of a
// small module, entered through one of them (runtime_support::setup).
#![allow(clippy::duplicate_mod)]

#[path = "sipp/harness.rs"]
mod harness;

mod border_support;
mod runtime_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use border_support::{
    Leg, Site, TrunkSpec, assert_status, config_text_prefixed, is_final, is_request,
    notifies_until, sdp_with, wait_for_json_line,
};
use runtime_support::call::{Endpoint, WAIT};
use runtime_support::ua::{request, response};
use runtime_support::{BACKENDS, Handoff};

/// SIPp's SIP port (the carrier trunk's peer) in the test's private network namespace.
const CARRIER_PORT: u16 = 15270;
/// What the platform dials (routed to the carrier) and what it transfers to (handoff would
/// route it to the partner trunk: the number a double dial would reach).
const DIALLED: &str = "+15557654321";
const TARGET: &str = "+442071234567";

fn config(
    io: &str,
    s: &runtime_support::Setup,
    media: u16,
    carrier: SocketAddr,
    partner: &Endpoint,
) -> String {
    config_text_prefixed(
        &Site {
            io,
            sip: s.sip,
            media,
            shards: 2,
            drain_s: 5,
            audit: &s.audit_path,
        },
        &[
            TrunkSpec::new("carrier", "carrier", carrier)
                .with("on_refer_failure = \"local\"")
                .with("refer_domain = \"carrier.example\""),
            TrunkSpec::new(
                "platform",
                "platform",
                s.platform.local_addr().expect("platform addr"),
            ),
            TrunkSpec::new("partner", "carrier", partner.ua.addr()).with("transfer = \"local\""),
        ],
        &[
            ("carrier", "", "platform"),
            ("platform", "44", "partner"),
            ("platform", "", "carrier"),
        ],
    )
    // refer_timeout_ms far below the carrier's silence: the old bug dialled after it. The
    // carrier's own BYE follows its final NOTIFY at once; handoff's (item 10, tested in
    // border_handoff_bye) must not race it on a busy machine.
    .replacen(
        "[sbc]\n",
        "[sbc]\nrefer_timeout_ms = 1000\nhandoff_bye_after_ms = 60000\n",
        1,
    )
}

#[test]
fn a_carrier_ringing_its_target_10_s_is_never_double_dialled() {
    harness::sipp();
    for (i, io) in BACKENDS.iter().enumerate() {
        let media = 24_000 + i as u16 * 200;
        let s = runtime_support::setup(io, media, 2, 5);
        let platform = Endpoint::new(s.platform.try_clone().expect("platform socket"), "platform");
        let partner = Endpoint::new(
            UdpSocket::bind("127.0.0.1:0").expect("bind the partner"),
            "partner",
        );
        let carrier: SocketAddr = format!("127.0.0.1:{CARRIER_PORT}")
            .parse()
            .expect("carrier address");
        std::fs::write(&s.config_path, config(io, &s, media, carrier, &partner))
            .expect("write the config");

        let args: Vec<String> = [
            "-sf",
            &harness::scenario("refer_uas_slow_carrier.xml")
                .display()
                .to_string(),
            "-i",
            "127.0.0.1",
            "-p",
            &CARRIER_PORT.to_string(),
            "-mp",
            &(media + 150).to_string(),
            "-m",
            "1",
            "-timeout",
            "120s",
            "-nostdin",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let mut sipp = harness::Sipp::spawn("slow_carrier", s.dir.path(), &args);
        sipp.wait_until_bound(CARRIER_PORT, Duration::from_secs(60));
        let mut handoff = Handoff::start(&s.config_path);

        // The platform dials out through the carrier (SIPp answers).
        let p_addr = platform.ua.addr();
        let call_id = format!("slow-carrier-{io}");
        platform.ua.send(
            s.sip,
            &request(
                "INVITE",
                p_addr,
                s.sip,
                DIALLED,
                &call_id,
                "ptag",
                1,
                &sdp_with(platform.rtp_port(), &[0], "sendrecv"),
            ),
        );
        let (ok, _) = platform
            .ua
            .expect(&format!("{io}: 200 to the platform's call"), WAIT, |m| {
                is_final(m, "INVITE", &call_id)
            });
        assert_status(io, &ok, 200);
        let b = Leg::new(
            &call_id,
            ok.header("from").expect("From"),
            ok.header("to").expect("To"),
            &ok.contact_uri().expect("Contact in the 200"),
            1,
        );
        platform.ua.send(s.sip, &b.ack(p_addr, 1));

        // The agent transfers the customer to TARGET.
        platform.ua.send(
            s.sip,
            &b.request(
                "REFER",
                p_addr,
                &[format!("Refer-To: <sip:{TARGET}@platform.example>")],
            ),
        );
        let (accepted, _) = platform
            .ua
            .expect(&format!("{io}: answer to the REFER"), WAIT, |m| {
                is_final(m, "REFER", &call_id)
            });
        assert_status(io, &accepted, 202);
        // 100, 180, then (after the carrier's 10 s of silence) 200: each relayed.
        let (_, seen) = notifies_until(&platform.ua, 200, Duration::from_secs(90));
        assert!(
            seen.starts_with(&[100, 180]) && seen.ends_with(&[200]),
            "{io}: NOTIFYs {seen:?}"
        );
        // The carrier's BYE releases the customer; handoff BYEs the agent's leg.
        loop {
            let (m, src) = platform
                .ua
                .expect(&format!("{io}: BYE on leg B"), WAIT, |m| {
                    is_request(m, "BYE", &call_id) || is_request(m, "NOTIFY", &call_id)
                });
            platform
                .ua
                .send(src, &response(&m, 200, "OK", "x", p_addr, ""));
            if m.method() == Some("BYE") {
                break;
            }
        }
        let record = wait_for_json_line(&s.audit_path, Duration::from_secs(30), |r| {
            r["type"] == "transfer"
        });
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["refer_status"], 202, "{io}: {record}");
        assert_eq!(record["notify_status"], 200, "{io}: {record}");
        assert_eq!(
            record["fallback_status"],
            serde_json::Value::Null,
            "{io}: {record}"
        );
        // Whatever reached the partner is still in its socket: no INVITE toward the target.
        partner
            .ua
            .expect_none(Duration::from_millis(200), |m| m.method() == Some("INVITE"));

        sipp.wait(Duration::from_secs(120))
            .assert_all_succeeded(1, "(handoff's log: the test's stderr)");
        border_support::assert_exits_cleanly(&mut handoff, io, Duration::from_secs(30));
    }
}
