//! Attack, against the real binary on both backends: requests from an address that belongs to no
//! trunk. A scanner (SIPVicious' svmap sends OPTIONS and INVITEs) and a spoofed source must learn
//! nothing and get no reflected traffic:
//! - default `sbc.unknown_source = "drop"`: no answer at all (no 100 Trying, no 403), each drop
//!   logged with the source; the trunks are served as before;
//! - `"reject"`: one stateless 403 Forbidden per request, never retransmitted (a stateful 403 to
//!   an INVITE is re-sent by Timer G until an ACK that a spoofed source never sends: the
//!   amplification the trust issue measured, 100 + 11 x 403 for one 202-byte INVITE).

mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use runtime_support::call::WAIT;
use runtime_support::ua::{Ua, request, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

fn stranger() -> Ua {
    Ua::new(UdpSocket::bind("127.0.0.1:0").expect("bind"), "stranger")
}

/// A raw INVITE from `ua`, as a scanner sends it (it never ACKs what comes back).
fn scanner_invite(ua: &Ua, sip: std::net::SocketAddr, call_id: &str) -> String {
    request(
        "INVITE",
        ua.addr(),
        sip,
        "100",
        call_id,
        "scan",
        1,
        &sdp(40000),
    )
}

#[test]
fn strangers_get_silence_by_default_and_trunks_are_still_served() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 18800 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let scanner = stranger();
        scanner.send(
            s.sip,
            &scanner_invite(&scanner, s.sip, &format!("scan-{io}")),
        );
        scanner.send(
            s.sip,
            &request(
                "OPTIONS",
                scanner.addr(),
                s.sip,
                "100",
                &format!("scan-options-{io}"),
                "scan",
                1,
                "",
            ),
        );
        // Dropped, and handoff says so with the source (for fail2ban-style tooling).
        handoff.wait_for_log(
            &format!("from={} reason=unknown_source", scanner.addr()),
            WAIT,
        );
        // At info level too, in the refusal line fail2ban reads (once per source per minute).
        let line = handoff.wait_for_log(
            &format!(
                "refused source={} port={} status=drop reason=unknown_source",
                scanner.addr().ip(),
                scanner.addr().port()
            ),
            WAIT,
        );
        assert!(line.contains(" INFO "), "{io}: {line}");
        // Past Timer G's first retransmission (T1 = 500 ms): nothing came back.
        scanner.expect_none(Duration::from_millis(1500), |_| true);

        // A trunk is served as before.
        let carrier = Ua::new(s.carrier.try_clone().expect("clone"), "carrier");
        carrier.send(
            s.sip,
            &request(
                "OPTIONS",
                carrier.addr(),
                s.sip,
                "ping",
                &format!("keepalive-{io}"),
                "ka",
                1,
                "",
            ),
        );
        let (ok, _) = carrier.expect("the carrier's keepalive answered", WAIT, |m| {
            m.cseq_method() == Some("OPTIONS") && m.status().is_some()
        });
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);
        assert!(
            handoff.child.try_wait().expect("wait").is_none(),
            "{io}: handoff exited"
        );
    }
}

#[test]
fn strangers_get_one_stateless_403_when_configured_to_reject() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 19000 + i as u16 * 100, 2, 30);
        let text = std::fs::read_to_string(&s.config_path).expect("config");
        let text = text.replacen("[sbc]\n", "[sbc]\nunknown_source = \"reject\"\n", 1);
        std::fs::write(&s.config_path, text).expect("write config");
        let _handoff = Handoff::start(&s.config_path);
        let scanner = stranger();
        scanner.send(
            s.sip,
            &scanner_invite(&scanner, s.sip, &format!("reject-{io}")),
        );
        let (refused, _) = scanner.expect("a 403 to the stranger's INVITE", WAIT, |m| {
            m.status().is_some()
        });
        assert_eq!(refused.status(), Some(403), "{io}: {}", refused.first_line);
        assert_eq!(
            refused.first_line, "SIP/2.0 403 Forbidden",
            "{io}: no detail about handoff's configuration to a stranger"
        );
        // Never ACKed: a stateful 403 would be re-sent at T1 = 500 ms, 1 s, 2 s...
        scanner.expect_none(Duration::from_millis(2500), |_| true);
    }
}
