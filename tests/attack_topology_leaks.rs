//! Attack (reconnaissance), against the real binary on both backends: what does handoff tell one
//! side about the other, and about itself? Issue 9 protection #11 (topology hiding):
//! - SDP attributes that carry the other side's addresses or identities (`a=ssrc ... cname`,
//!   `a=candidate`, `a=rtcp` addresses, `a=fingerprint`) are rewritten or removed;
//! - handoff names itself by `sbc.identity` (default neutral), never "handoff";
//! - reason phrases sent to peers are generic (also those relayed from the other side); details
//!   go to the log;
//! - refusals and drops are logged at info level, one line per source per minute, with the
//!   source address (the fail2ban line).
//!
//! The platform (127.0.0.2) calls out through the carrier trunk (127.0.0.3); every datagram
//! handoff sends to either side during the call, and the answers to refused requests, is
//! recorded and scanned for the other side's address, the word "handoff" and reason phrases
//! other than RFC 3261's.

mod runtime_support;

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, Ua, in_dialog, request, response};
use runtime_support::{BACKENDS, Handoff, config_text, netns, sip_addr};

const PLATFORM_IP: &str = "127.0.0.2";
const CARRIER_IP: &str = "127.0.0.3";
const STRANGER_IP: &str = "127.0.0.9";

/// RFC 3261 section 21's reason phrases for the codes this test can see (written from the RFC,
/// not from handoff's table).
fn rfc3261_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        other => panic!("status {other}: add RFC 3261's phrase for it"),
    }
}

/// An offer as a WebRTC-capable platform phone writes it: its addresses in c=, a=rtcp and ICE
/// candidates (RFC 8839), its identity in the RFC 5576 cname, and its DTLS fingerprint.
fn leaky_sdp(ip: &str, port: u16, user: &str) -> String {
    format!(
        "v=0\r\n\
o={user} 3916398740 3916398740 IN IP4 {ip}\r\n\
s=call from {user}\r\n\
c=IN IP4 {ip}\r\n\
t=0 0\r\n\
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF\r\n\
m=audio {port} RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:{rtcp} IN IP4 {ip}\r\n\
a=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\n\
a=ssrc:2893215034 cname:sip:{user}@{ip}\r\n\
a=ssrc:2893215034 msid:stream-{user} track-1\r\n\
a=setup:actpass\r\n\
a=sendrecv\r\n",
        rtcp = port + 1,
    )
}

/// Every datagram one side received, as text.
struct Recorder<'a> {
    ua: &'a Ua,
    seen: RefCell<Vec<Msg>>,
}

impl<'a> Recorder<'a> {
    fn new(ua: &'a Ua) -> Recorder<'a> {
        Recorder {
            ua,
            seen: RefCell::new(Vec::new()),
        }
    }

    fn expect(&self, what: &str, want: impl Fn(&Msg) -> bool) -> (Msg, SocketAddr) {
        self.ua.expect(what, WAIT, |m| {
            self.seen
                .borrow_mut()
                .push(Msg::parse(m.raw.as_bytes()).expect("reparse"));
            want(m)
        })
    }

    /// Records whatever else arrives within `within` (retransmissions, late responses).
    fn settle(&self, within: Duration) {
        self.ua.expect_none(within, |m| {
            self.seen
                .borrow_mut()
                .push(Msg::parse(m.raw.as_bytes()).expect("reparse"));
            false
        });
    }

    /// Checks every recorded message: none names `foreign_ip`, the product or the other side's
    /// SDP identity; every status line carries RFC 3261's phrase.
    fn check(&self, io: &str, side: &str, foreign_ip: &str, foreign_user: &str) {
        let seen = self.seen.borrow();
        assert!(!seen.is_empty(), "{io}: {side} received nothing");
        for m in seen.iter() {
            let raw = &m.raw;
            let lower = raw.to_ascii_lowercase();
            assert!(
                !raw.contains(foreign_ip),
                "{io}: {side} was told the other side's address {foreign_ip}:\n{raw}"
            );
            assert!(
                !raw.contains(foreign_user),
                "{io}: {side} was told the other side's SDP identity {foreign_user}:\n{raw}"
            );
            assert!(
                !lower.contains("handoff"),
                "{io}: {side} was told the product name:\n{raw}"
            );
            for attribute in ["a=candidate", "a=ssrc", "a=fingerprint", "a=setup", "cname"] {
                assert!(
                    !lower.contains(attribute),
                    "{io}: {side} got {attribute} (the other side's identity):\n{raw}"
                );
            }
            if let Some(code) = m.status() {
                assert_eq!(
                    m.first_line,
                    format!("SIP/2.0 {code} {}", rfc3261_phrase(code)),
                    "{io}: {side}: a reason phrase with details:\n{raw}"
                );
            }
        }
    }
}

fn bind(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).expect("bind a loopback address of the namespace");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

#[test]
fn nothing_handoff_sends_names_the_other_side_or_itself() {
    for (i, io) in BACKENDS.iter().enumerate() {
        // A namespace of the test's own: 127.0.0.2 and .3 are loopback addresses there.
        netns::enter();
        let dir = tempfile::tempdir().unwrap();
        let platform = Ua::new(bind(PLATFORM_IP), "platform");
        let carrier = Ua::new(bind(CARRIER_IP), "carrier");
        let sip = sip_addr();
        let config_path = dir.path().join("handoff.toml");
        let audit = dir.path().join("audit.jsonl");
        std::fs::write(
            &config_path,
            config_text(
                io,
                sip,
                27000 + i as u16 * 100,
                1,
                30,
                carrier.addr(),
                platform.addr(),
                &audit,
                &["PCMU", "PCMA"],
            ),
        )
        .unwrap();
        let mut handoff = Handoff::start(&config_path);
        let at_carrier = Recorder::new(&carrier);
        let at_platform = Recorder::new(&platform);

        // The platform dials out; its offer carries everything that could leak.
        let call_id = format!("leak-{io}");
        let mut invite = request(
            "INVITE",
            platform.addr(),
            sip,
            "+15557654321",
            &call_id,
            "ptag",
            1,
            &leaky_sdp(PLATFORM_IP, 41000, "agent-007"),
        );
        invite = invite.replacen(
            "\r\n\r\n",
            &format!(
                "\r\nUser-Agent: agent-phone\r\nRecord-Route: <sip:{PLATFORM_IP}:5099;lr>\r\n\r\n"
            ),
            1,
        );
        platform.send(sip, &invite);
        let (b_invite, b_src) = at_carrier.expect("INVITE on the carrier leg", |m| {
            m.method() == Some("INVITE")
        });
        let carrier_addr = carrier.addr();
        carrier.send(
            b_src,
            // A chatty phrase naming the carrier's host: relayed as the generic one.
            &response(
                &b_invite,
                180,
                &format!("Ringing via carrier-sbc-9 at {CARRIER_IP}"),
                "ctag",
                carrier_addr,
                "",
            ),
        );
        carrier.send(
            b_src,
            &response(
                &b_invite,
                200,
                "OK",
                "ctag",
                carrier_addr,
                &leaky_sdp(CARRIER_IP, 42000, "carrier-sbc-9"),
            ),
        );
        let (ok, _) = at_platform.expect("200 to the platform's INVITE", |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
        let a_target = ok.contact_uri().expect("Contact in the 200");
        let a_from = ok.header("from").unwrap().to_owned();
        let a_to = ok.header("to").unwrap().to_owned();
        platform.send(
            sip,
            &in_dialog(
                "ACK",
                &a_target,
                platform.addr(),
                &call_id,
                &a_from,
                &a_to,
                1,
                &format!("{call_id}-ack"),
            ),
        );
        at_carrier.expect("ACK on the carrier leg", |m| m.method() == Some("ACK"));

        // The platform hangs up.
        platform.send(
            sip,
            &in_dialog(
                "BYE",
                &a_target,
                platform.addr(),
                &call_id,
                &a_from,
                &a_to,
                2,
                &format!("{call_id}-bye"),
            ),
        );
        let (bye, bye_src) =
            at_carrier.expect("BYE on the carrier leg", |m| m.method() == Some("BYE"));
        carrier.send(
            bye_src,
            &response(&bye, 200, "OK", "ctag", carrier_addr, ""),
        );
        at_platform.expect("200 to the BYE", |m| {
            m.status() == Some(200) && m.cseq_method() == Some("BYE")
        });

        // Refused requests: an INVITE that accepts no SDP (406; the phrase once said what
        // handoff answers with), and a request that does not parse (400; once named the parse
        // error and carried "Warning: 399 handoff").
        let no_sdp = request(
            "INVITE",
            platform.addr(),
            sip,
            "+15557654321",
            &format!("refused-{io}"),
            "rtag",
            1,
            &leaky_sdp(PLATFORM_IP, 41100, "agent-007"),
        )
        .replacen("\r\n\r\n", "\r\nAccept: text/plain\r\n\r\n", 1);
        platform.send(sip, &no_sdp);
        at_platform.expect("406 to the INVITE without SDP in Accept", |m| {
            m.status() == Some(406)
        });
        let garbage = request(
            "OPTIONS",
            carrier.addr(),
            sip,
            "ping",
            &format!("garbage-{io}"),
            "gtag",
            1,
            "",
        )
        .replacen("Max-Forwards: 70", "Max-Forwards: many", 1);
        assert!(garbage.contains("Max-Forwards: many"), "{garbage}");
        carrier.send(sip, &garbage);
        at_carrier.expect("400 to the unparsable OPTIONS", |m| m.status() == Some(400));

        at_carrier.settle(Duration::from_millis(300));
        at_platform.settle(Duration::from_millis(300));
        at_carrier.check(io, "the carrier", PLATFORM_IP, "agent-007");
        at_platform.check(io, "the platform", CARRIER_IP, "carrier-sbc-9");

        // The carrier-facing INVITE names handoff by its neutral default identity.
        let contact = b_invite.header("contact").expect("Contact on leg B");
        assert!(contact.starts_with("<sip:sbc@"), "{io}: {contact}");
        let b_call_id = b_invite.header("call-id").unwrap();
        assert!(b_call_id.ends_with("@sbc"), "{io}: {b_call_id}");
        assert!(b_invite.body.contains("o=sbc "), "{io}: {}", b_invite.body);

        // The details the peers did not get are in handoff's log, at info level, with the
        // source address in the refusal line fail2ban reads.
        let line = handoff.wait_for_log(
            &format!(
                "refused source={PLATFORM_IP} port={} status=406 reason=rejected",
                platform.addr().port()
            ),
            WAIT,
        );
        assert!(line.contains(" INFO "), "{io}: {line}");
        assert!(
            line.contains("detail=\"Not Acceptable (handoff answers with application/sdp)\""),
            "{io}: {line}"
        );
        let line = handoff.wait_for_log(
            &format!(
                "refused source={CARRIER_IP} port={} status=400 reason=rejected",
                carrier.addr().port()
            ),
            WAIT,
        );
        assert!(line.contains("Max-Forwards"), "{io}: {line}");
        drop(handoff);
    }
}

#[test]
fn one_refusal_line_per_source_per_minute() {
    for (i, io) in BACKENDS.iter().enumerate() {
        netns::enter();
        let dir = tempfile::tempdir().unwrap();
        let platform = bind(PLATFORM_IP);
        let carrier = bind(CARRIER_IP);
        let sip = sip_addr();
        let config_path = dir.path().join("handoff.toml");
        std::fs::write(
            &config_path,
            config_text(
                io,
                sip,
                27400 + i as u16 * 100,
                1,
                30,
                carrier.local_addr().unwrap(),
                platform.local_addr().unwrap(),
                &dir.path().join("audit.jsonl"),
                &["PCMU"],
            ),
        )
        .unwrap();
        let mut handoff = Handoff::start(&config_path);
        let stranger = Ua::new(bind(STRANGER_IP), "stranger");
        const SCANS: usize = 8;
        for n in 0..SCANS {
            stranger.send(
                sip,
                &request(
                    "OPTIONS",
                    stranger.addr(),
                    sip,
                    "100",
                    &format!("scan-{io}-{n}"),
                    "scan",
                    1,
                    "",
                ),
            );
        }
        // Wait until every one was dropped (the debug line per datagram)...
        let dropped = format!("from={} reason=unknown_source", stranger.addr());
        let deadline = Instant::now() + WAIT;
        while handoff.count_log(&dropped) < SCANS {
            assert!(
                Instant::now() < deadline,
                "{io}: not every scan was dropped:\n{}",
                handoff.log.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // ...then: one info line for the source, not one per datagram (the window is a minute,
        // driven by a virtual clock in border_log's unit tests; this run lasts far less).
        let needle = format!("refused source={STRANGER_IP} ");
        assert_eq!(
            handoff.count_log(&needle),
            1,
            "{io}: {}",
            handoff.log.join("\n")
        );
        let line = handoff.wait_for_log(&needle, WAIT);
        assert!(line.contains(" INFO "), "{io}: {line}");
        assert!(
            line.contains(&format!(
                "refused source={STRANGER_IP} port={} status=drop reason=unknown_source suppressed=0",
                stranger.addr().port()
            )),
            "{io}: {line}"
        );
        // Nothing came back to the scanner.
        stranger.expect_none(Duration::from_millis(200), |_| true);
    }
}
