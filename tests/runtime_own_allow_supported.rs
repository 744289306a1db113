//! Issue 10 item 11 against the real binary, both backends (seen with baresip and linphone):
//! every message handoff sends carries handoff's own Allow and Supported, never the other
//! leg's. RFC 3261 section 20.5: "The Allow header field lists the set of methods supported by
//! the UA generating the message"; section 20.37: Supported "enumerates all the extensions
//! supported by the UAC or UAS". The carrier's INVITE lists SUBSCRIBE (handoff does not accept
//! it) and extensions handoff does not support; the platform's 200 lists SUBSCRIBE and gruu.
//! Neither crosses: the platform's INVITE and the carrier's 200 both carry handoff's own.

mod runtime_support;

use runtime_support::ua::{Ua, in_dialog, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// `message` with `headers` inserted after its start line.
fn with_headers(message: &str, headers: &[&str]) -> String {
    let lines: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    message.replacen("\r\n", &format!("\r\n{lines}"), 1)
}

#[test]
fn allow_and_supported_are_handoffs_own_on_both_legs() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11200 + i as u16 * 100, 2, 1);
        let _handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Ua::new(s.platform.try_clone().unwrap(), "platform");
        let call_id = format!("own-{io}");
        let invite = request(
            "INVITE",
            carrier.addr(),
            s.sip,
            "+15550001111",
            &call_id,
            "atag",
            1,
            &sdp(7300),
        );
        carrier.send(
            s.sip,
            &with_headers(
                &invite,
                &[
                    "Allow: INVITE, ACK, CANCEL, BYE, SUBSCRIBE, NOTIFY, REFER, PRACK",
                    "Supported: 100rel, norefersub, from-change, replaces",
                ],
            ),
        );
        let (b, src) = platform.expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
        let allow = b.header("allow").unwrap_or_default();
        assert!(
            allow.contains("INVITE")
                && allow.contains("REFER")
                && !allow.contains("SUBSCRIBE")
                && !allow.contains("PRACK"),
            "{io}: leg B's Allow is not handoff's: {allow:?}"
        );
        assert_eq!(b.all("allow").len(), 1, "{io}: {}", b.raw);
        let supported = b.header("supported").unwrap_or_default();
        assert!(
            supported.contains("replaces")
                && !supported.contains("norefersub")
                && !supported.contains("from-change")
                && !supported.contains("100rel"),
            "{io}: leg B's Supported is not handoff's: {supported:?}"
        );
        let ok = response(&b, 200, "OK", "btag", platform.addr(), &sdp(7400));
        platform.send(
            src,
            &with_headers(
                &ok,
                &[
                    "Allow: INVITE, ACK, BYE, SUBSCRIBE, PUBLISH",
                    "Supported: gruu, path",
                ],
            ),
        );
        let (a_ok, _) = carrier.expect("200 to the INVITE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
        let allow = a_ok.header("allow").unwrap_or_default();
        let supported = a_ok.header("supported").unwrap_or_default();
        assert!(
            allow.contains("INVITE")
                && allow.contains("REFER")
                && !allow.contains("SUBSCRIBE")
                && !allow.contains("PUBLISH"),
            "{io}: the carrier's 200 Allow: {allow:?}\n{}",
            a_ok.raw
        );
        assert!(
            supported.contains("replaces") && !supported.contains("gruu"),
            "{io}: the carrier's 200 Supported: {supported:?}\n{}",
            a_ok.raw
        );
        // Tear down.
        let (from, to, target) = (
            a_ok.header("from").unwrap().to_owned(),
            a_ok.header("to").unwrap().to_owned(),
            a_ok.contact_uri().unwrap(),
        );
        carrier.send(
            s.sip,
            &in_dialog(
                "ACK",
                &target,
                carrier.addr(),
                &call_id,
                &from,
                &to,
                1,
                "own-ack",
            ),
        );
        carrier.send(
            s.sip,
            &in_dialog(
                "BYE",
                &target,
                carrier.addr(),
                &call_id,
                &from,
                &to,
                2,
                "own-bye",
            ),
        );
        let (bye, src) = platform.expect("BYE on leg B", WAIT, |m| m.method() == Some("BYE"));
        platform.send(src, &response(&bye, 200, "OK", "btag", platform.addr(), ""));
        carrier.expect("200 to the BYE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("BYE")
        });
    }
}
