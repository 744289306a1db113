//! Against the real binary, both backends, 2 shards: a REFER sent by the carrier's leg
//! (take-back by the network, `src/sim/dialer_flows.rs`). By default (`carrier_refer =
//! "reject"`) it gets 403 and the platform sees nothing; with `carrier_refer = "relay"` it
//! reaches the platform in the platform's dialog, with the target in E.164 at the platform
//! trunk's host (its peer: the trunk has no `refer_domain`), and the platform's answer goes back
//! to the carrier. Either way the call goes on, and the attempt is on record as
//! carrier-initiated.

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    Leg, SiteOptions, TransferSite, assert_status, call_up, is_final, is_request,
    platform_hangs_up, tag_of, transfer_record, transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::{WAIT, exchange_rtp};
use runtime_support::ua::{Msg, response};

fn site(io: &'static str, media: u16, carrier: &[&str]) -> TransferSite {
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier,
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

/// The carrier REFERs the call on leg A to `refer_to`.
fn carrier_refers(site: &TransferSite, a: &Leg, refer_to: &str) {
    site.carrier.ua.send(
        site.sip,
        &a.request(
            "REFER",
            site.carrier.ua.addr(),
            &[format!("Refer-To: {refer_to}")],
        ),
    );
}

/// The carrier's final response to its REFER on leg A.
fn carrier_refer_answer(site: &TransferSite, a: &Leg) -> Msg {
    site.carrier
        .ua
        .expect(
            &format!("{}: answer to the carrier's REFER", site.io),
            WAIT,
            |m| is_final(m, "REFER", &a.call_id),
        )
        .0
}

#[test]
fn carrier_refer_is_refused_by_default_and_the_call_goes_on() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 20800 + i as u16 * 100, &[]);
        let (call, a, b) = call_up(&site, &format!("carrier-refer-{io}"));
        carrier_refers(&site, &a, "<sip:+19005550199@carrier.example>");
        let refused = carrier_refer_answer(&site, &a);
        assert_status(io, &refused, 403);
        let record = transfer_record(&site);
        assert_eq!(record["kind"], "carrier_initiated", "{io}: {record}");
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        assert_eq!(record["trunk"], "carrier", "{io}: {record}");
        site.platform
            .ua
            .expect_none(Duration::from_millis(200), |m| m.method().is_some());
        site.partner
            .ua
            .expect_none(Duration::from_millis(50), |m| m.method().is_some());
        exchange_rtp(&call, &site.carrier, &site.platform, 0, 3);
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}

#[test]
fn carrier_refer_is_relayed_to_the_platform_when_configured() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 21000 + i as u16 * 100, &["carrier_refer = \"relay\""]);
        let (call, a, b) = call_up(&site, &format!("carrier-relay-{io}"));
        carrier_refers(&site, &a, "<sip:5559876543@carrier.example>");
        let (refer, src) =
            site.platform
                .ua
                .expect(&format!("{io}: the relayed REFER"), WAIT, |m| {
                    is_request(m, "REFER", &b.call_id)
                });
        assert_eq!(
            refer.header("refer-to"),
            Some(format!("<sip:+15559876543@{}>", site.platform.ua.addr()).as_str()),
            "{io}"
        );
        // In the platform's dialog, from handoff (the From tag the platform knows as its peer's).
        assert_eq!(refer.tag("from"), Some(tag_of(&b.to)), "{io}");
        site.platform.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.platform.ua.addr(), ""),
        );
        let accepted = carrier_refer_answer(&site, &a);
        assert_status(io, &accepted, 202);
        let record = transfer_record(&site);
        assert_eq!(record["kind"], "carrier_initiated", "{io}: {record}");
        assert_eq!(record["outcome"], "relayed", "{io}: {record}");
        exchange_rtp(&call, &site.carrier, &site.platform, 0, 3);
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}

/// A REFER the carrier's trunk relays meets the rules a platform REFER meets: RFC 3515 section
/// 2.4.2 ("MUST return a 400 (Bad Request) if the request contained zero or more than one
/// Refer-To header field values"), RFC 3261 section 19.1.5 (headers in a URI that would make an
/// unsafe request: here Via and Call-ID, which would inject into the platform's dialog), and
/// section 2.4.3 (handoff refers only INVITE: a `method=BYE` gets 403). handoff answers them
/// itself, the platform never sees them, each is on record as refused, and the call goes on.
#[test]
fn a_relayed_carrier_refer_with_an_unsafe_refer_to_is_answered_by_handoff() {
    let cases: [(&str, u16); 4] = [
        (
            "<sip:5559876543@carrier.example?Via=SIP%2F2.0%2FUDP%20evil.example>",
            400,
        ),
        ("<sip:5559876543@carrier.example?Call-ID=hijack>", 400),
        (
            "<sip:5559876543@carrier.example>, <sip:5551112222@carrier.example>",
            400,
        ),
        ("<sip:5559876543@carrier.example;method=BYE>", 403),
    ];
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 21200 + i as u16 * 100, &["carrier_refer = \"relay\""]);
        let (call, a, b) = call_up(&site, &format!("carrier-relay-refused-{io}"));
        for (refer_to, status) in cases {
            carrier_refers(&site, &a, refer_to);
            let answer = carrier_refer_answer(&site, &a);
            assert_status(io, &answer, status);
            let record = border_support::wait_for_json_line(&site.audit, WAIT, |r| {
                r["type"] == "transfer" && r["target"] == refer_to
            });
            assert_eq!(record["kind"], "carrier_initiated", "{io}: {record}");
            assert_eq!(record["outcome"], "refused", "{io}: {record}");
            assert_eq!(record["answer_status"], status, "{io}: {record}");
            assert_eq!(record["requester_trunk"], "carrier", "{io}: {record}");
        }
        site.platform
            .ua
            .expect_none(Duration::from_millis(200), |m| m.method() == Some("REFER"));
        exchange_rtp(&call, &site.carrier, &site.platform, 0, 3);
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}
