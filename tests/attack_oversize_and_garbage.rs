//! Attack, against the real binary on both backends: oversized datagrams and garbage. A trunk's
//! request over `sbc.max_message_bytes` (default 8,192) gets 513 Message Too Large (RFC 3261
//! section 21.5.7) without being parsed; the same from a stranger, and a stranger's garbage, get
//! nothing at all (no 400 naming a parse error: that tells a scanner what handoff is); each drop
//! is logged with its source. A trunk's garbage still gets its 400.

mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use runtime_support::call::WAIT;
use runtime_support::ua::{Ua, request};
use runtime_support::{BACKENDS, Handoff, setup};

/// An OPTIONS padded with a header to `size` bytes.
fn padded_options(ua: &Ua, sip: std::net::SocketAddr, call_id: &str, size: usize) -> String {
    let base = request("OPTIONS", ua.addr(), sip, "ping", call_id, "big", 1, "");
    let padding = size.saturating_sub(base.len() + "X-Padding: \r\n".len());
    base.replacen(
        "\r\n\r\n",
        &format!("\r\nX-Padding: {}\r\n\r\n", "a".repeat(padding)),
        1,
    )
}

#[test]
fn oversized_and_garbage_datagrams_are_refused_to_trunks_and_silent_to_strangers() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 19400 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().expect("clone"), "carrier");
        let stranger = Ua::new(UdpSocket::bind("127.0.0.1:0").expect("bind"), "stranger");

        // A trunk's oversized request: 513, unparsed.
        let big = padded_options(&carrier, s.sip, &format!("big-{io}"), 9000);
        assert!(big.len() > 8192);
        carrier.send(s.sip, &big);
        let (too_large, _) = carrier.expect("a response to the oversized OPTIONS", WAIT, |m| {
            m.status().is_some()
        });
        assert_eq!(
            too_large.first_line, "SIP/2.0 513 Message Too Large",
            "{io}"
        );

        // A stranger's oversized request and its garbage: nothing, each logged.
        let big = padded_options(&stranger, s.sip, &format!("big-stranger-{io}"), 9000);
        stranger.send(s.sip, &big);
        handoff.wait_for_log(&format!("from={} reason=too_large", stranger.addr()), WAIT);
        stranger.send(s.sip, "HELLO handoff\r\nVia: nonsense\r\n\r\n");
        handoff.wait_for_log(
            &format!("from={} reason=unknown_source", stranger.addr()),
            WAIT,
        );
        stranger.expect_none(Duration::from_millis(500), |_| true);

        // A trunk's garbage (salvageable Via) still gets its 400.
        carrier.send(
            s.sip,
            &format!(
                "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKgarbage-{io}\r\n\
                 From: <sip:c@x>;tag=g\r\nTo: <sip:x@y>\r\nCall-ID: garbage-{io}\r\n\
                 CSeq: abc OPTIONS\r\nContent-Length: 0\r\n\r\n",
                carrier.addr()
            ),
        );
        let (bad, _) = carrier.expect("a response to the malformed OPTIONS", WAIT, |m| {
            m.status().is_some()
        });
        assert_eq!(bad.status(), Some(400), "{io}: {}", bad.first_line);
        assert!(
            handoff.child.try_wait().expect("wait").is_none(),
            "{io}: handoff exited"
        );
    }
}
