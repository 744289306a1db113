//! Against the real binary, both backends: a trunk's `sources` say who may speak for it. The
//! carrier trunk lists its signalling socket and a second IP (`127.0.0.2`, any port; all of
//! 127.0.0.0/8 is loopback on Linux): a health checker there on a random port gets 200 to
//! OPTIONS, a host outside the sources (127.0.0.3) gets 403 to an INVITE, and a call set up from
//! the carrier's main socket is hung up by a BYE from its second IP. `handoff check` rejects a
//! config whose trunks' sources overlap, at the place, naming both trunks.

mod border_support;
mod runtime_support;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use border_support::{Site, TrunkSpec, config_text};
use runtime_support::call::{Endpoint, WAIT, establish, exchange_rtp};
use runtime_support::ua::{Ua, in_dialog, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

fn bind(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

#[test]
fn carrier_speaks_from_every_listed_source_and_nobody_else_does() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let media = 18400 + i as u16 * 100;
        let s = setup(io, media, 2, 30);
        let carrier_at = s.carrier.local_addr().unwrap();
        let mut carrier_trunk = TrunkSpec::new("carrier", "carrier", carrier_at);
        carrier_trunk.sources = vec![carrier_at.to_string(), "127.0.0.2".to_owned()];
        let text = config_text(
            &Site {
                io,
                sip: s.sip,
                media,
                shards: 2,
                drain_s: 30,
                audit: &s.audit_path,
            },
            &[
                carrier_trunk,
                TrunkSpec::new("platform", "platform", s.platform.local_addr().unwrap()),
            ],
            &[("carrier", "platform"), ("platform", "carrier")],
        );
        std::fs::write(&s.config_path, text).unwrap();
        let mut handoff = Handoff::start(&s.config_path);

        // A health checker on the carrier's second IP, on whatever port it got.
        let checker = Ua::new(bind("127.0.0.2"), "checker");
        checker.send(
            s.sip,
            &request(
                "OPTIONS",
                checker.addr(),
                s.sip,
                "ping",
                &format!("options-{io}"),
                "ctag",
                1,
                "",
            ),
        );
        let (ok, _) = checker.expect("a final response to OPTIONS", WAIT, |m| {
            m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("OPTIONS")
        });
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);

        // A host outside every trunk's sources may not place a call.
        let outsider = Ua::new(bind("127.0.0.3"), "outsider");
        outsider.send(
            s.sip,
            &request(
                "INVITE",
                outsider.addr(),
                s.sip,
                "+15550001111",
                &format!("outsider-{io}"),
                "otag",
                1,
                &sdp(40000),
            ),
        );
        // Default `unknown_source = "drop"`: handoff drops it (and says so in its log), and the
        // outsider hears nothing at all (no 100, no 403: a scanner learns nothing).
        handoff.wait_for_log(
            &format!("from={} reason=unknown_source", outsider.addr()),
            WAIT,
        );
        outsider.expect_none(Duration::from_millis(500), |_| true);

        // A call from the carrier's main socket, hung up from its second IP (same dialog).
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let call = establish(s.sip, &carrier, &platform, &format!("sources-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 3);
        let second_ip = Ua::new(bind("127.0.0.2"), "carrier's second IP");
        second_ip.send(
            s.sip,
            &in_dialog(
                "BYE",
                &call.a_target,
                second_ip.addr(),
                &call.call_id,
                &call.a_from,
                &call.a_to,
                call.a_cseq + 1,
                &format!("{}-bye-second-ip", call.call_id),
            ),
        );
        let (bye, src) = platform.ua.expect(
            &format!("{io}: BYE on leg B after the carrier's BYE from 127.0.0.2"),
            WAIT,
            |m| m.method() == Some("BYE"),
        );
        assert_eq!(bye.header("call-id"), Some(call.b_call_id.as_str()));
        platform.ua.send(
            src,
            &response(&bye, 200, "OK", "btag", platform.ua.addr(), ""),
        );
        let (ok, _) = second_ip.expect("a final response to the BYE", WAIT, |m| {
            m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("BYE")
        });
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);

        handoff.signal("TERM");
        assert!(
            handoff
                .wait_exit(Duration::from_secs(20))
                .is_some_and(|s| s.success()),
            "{io}: handoff did not exit cleanly"
        );
    }
}

#[test]
fn check_rejects_overlapping_sources_naming_both_trunks() {
    for io in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let mut carrier = TrunkSpec::new("carrier", "carrier", "127.0.0.1:5070".parse().unwrap());
        carrier.sources = vec!["127.0.0.0/8".to_owned()];
        let mut platform =
            TrunkSpec::new("platform", "platform", "127.0.0.1:5080".parse().unwrap());
        platform.sources = vec!["127.0.0.1:5080".to_owned()];
        let text = config_text(
            &Site {
                io,
                sip: "127.0.0.1:5060".parse().unwrap(),
                media: 18400,
                shards: 1,
                drain_s: 1,
                audit: &audit,
            },
            &[carrier, platform],
            &[("carrier", "platform"), ("platform", "carrier")],
        );
        // Line numbers (1-based) of the carrier's name and the platform's sources list.
        let lines: Vec<&str> = text.lines().collect();
        let carrier_name = 1 + lines
            .iter()
            .position(|l| *l == "name = \"carrier\"")
            .unwrap();
        let platform_sources = 1 + lines
            .iter()
            .position(|l| *l == "sources = [\"127.0.0.1:5080\"]")
            .unwrap();
        let path = dir.path().join("overlap.toml");
        std::fs::write(&path, &text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .arg("check")
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run handoff check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{io}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "{}:{platform_sources}:11: trunk \"platform\": source 127.0.0.1:5080 overlaps trunk \
                 \"carrier\"'s source 127.0.0.0/8 (defined on line {carrier_name}); a source must \
                 belong to one trunk\n",
                path.display()
            ),
            "{io}"
        );
    }
}
