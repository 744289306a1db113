//! What a Refer-To may not ask (real binary, both backends): RFC 3515 section 2.4.1 "A REFER
//! request MUST contain exactly one Refer-To header field value", section 2.4.2 "An agent
//! responding to a REFER method MUST return a 400 (Bad Request) if the request contained zero or
//! more than one Refer-To header field values"; a `method=` other than INVITE (RFC 3261 section
//! 19.1.1; RFC 3515 section 2.4.3: "a SIP URI indicating INVITE (using a method=INVITE URI
//! parameter for example)") gets 403: handoff does not turn a `method=BYE` REFER into a call; a URI header that would inject into
//! the request (Via, or a value smuggling CR LF) gets 400. Nothing reaches the carrier or a
//! target, and the call stays up.

mod e2e_targets_support;

use std::time::Duration;

use e2e_targets_support::*;

/// A Refer-To, the REFER's other headers, the status it must get.
type Case = (&'static str, &'static [(&'static str, &'static str)], u16);

#[test]
fn refused_refer_tos_send_nothing() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37600 + i as u16 * 40, |t| t);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        let cases: [Case; 5] = [
            (
                "<sip:+15559870000@platform.example>",
                &[("Refer-To", "<sip:+15559871111@platform.example>")],
                400,
            ),
            (
                "<sip:+15559870000@platform.example>, <sip:+15559871111@platform.example>",
                &[],
                400,
            ),
            ("<sip:+15559870000@platform.example;method=BYE>", &[], 403),
            (
                "<sip:+15559870000@platform.example?Via=SIP/2.0/UDP%20203.0.113.9>",
                &[],
                400,
            ),
            (
                "<sip:+15559870000@platform.example?X-Note=a%0D%0ARoute:%20%3Csip:203.0.113.9%3E>",
                &[],
                400,
            ),
        ];
        for (refer_to, extra, expected) in cases {
            let status = platform_refers(&mut e2e, &mut call, refer_to, extra);
            assert_eq!(status, expected, "{io}: {refer_to} {extra:?}");
        }
        assert!(
            !receives(&mut e2e, CARRIER, "REFER", Duration::from_millis(300))
                && !receives(&mut e2e, PARTNER, "INVITE", Duration::from_millis(100))
                && !receives(&mut e2e, CARRIER, "BYE", Duration::from_millis(100)),
            "{io}: a refused REFER had an effect"
        );
        e2e.stop();
    }
}
