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
