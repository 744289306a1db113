//! Issue 10 item 11 against the real binary, both backends: RFC 5626 section 4.4.1 "the client
//! periodically performs a ... keep-alive ... CRLF ... ping": a datagram of "\r\n\r\n" from a
//! trunk (baresip and linphone send them) is ignored silently. Nothing is sent back, nothing is
//! logged as a rejected request ("message is empty" was), and the trunk is served as before.

mod runtime_support;

use std::time::Duration;

use runtime_support::ua::{Ua, request};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn crlf_keepalives_get_no_answer_and_no_rejection() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11000 + i as u16 * 100, 2, 1);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
        for _ in 0..4 {
            s.carrier.send_to(b"\r\n\r\n", s.sip).unwrap();
        }
        s.carrier.send_to(b"\r\n", s.sip).unwrap();
        carrier.expect_none(Duration::from_millis(700), |_| true);
        // Still served: an OPTIONS gets its 200.
        carrier.send(
            s.sip,
            &request(
                "OPTIONS",
                carrier.addr(),
                s.sip,
                "ping",
                &format!("ka-{io}"),
                "k1",
                1,
                "",
            ),
        );
        let (ok, _) = carrier.expect("200 to OPTIONS", WAIT, |m| {
            m.cseq_method() == Some("OPTIONS")
        });
        assert_eq!(ok.status(), Some(200), "{io}: {}", ok.raw);
        handoff.drain_log();
        let log = handoff.log.join("\n");
        assert!(
            !log.contains("request rejected") && !log.contains("message is empty"),
            "{io}: a keep-alive was treated as a bad request:\n{log}"
        );
    }
}
