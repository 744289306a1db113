//! Issue 10, item 5, against the real binary (both backends, 2 shards): the refer subscription
//! toward the platform and from the carrier, per RFC 3515 and RFC 6665.
//!
//! - RFC 3515 section 2.4.4: "The creation of a subscription as defined by [2] always results
//!   in an immediate NOTIFY": when handoff itself accepts the REFER (here: the carrier refused
//!   it, 403, and handoff transfers locally), the platform gets NOTIFY `SIP/2.0 100 Trying` at
//!   once, with `Subscription-State: active;expires=` at least `transfer_timeout_s` (120).
//! - RFC 3515 section 2.4.4: "If a SUBSCRIBE request for event refer is received for a
//!   subscription that does not already exist, it MUST be rejected with a 403."
//! - RFC 3515 section 2.4.6: NOTIFYs for "the second and subsequent REFER requests a UA
//!   receives in a given dialog" carry `Event: refer;id=<CSeq of that REFER>`, and a NOTIFY
//!   naming an older REFER matches no subscription (481, RFC 6665 section 4.1.3).
//! - RFC 6665 section 4.1.3 / RFC 3515 section 2.4.4: a carrier may end its subscription on
//!   its first NOTIFY ("agents accepting REFER and not wishing to hold subscription state can
//!   terminate the subscription with this initial NOTIFY"); its BYE then is the handoff, and
//!   the record says `carrier_subscription_ended`.

mod border_support;
mod runtime_support;

use std::net::SocketAddr;

use border_support::{
    Leg, SiteOptions, TransferSite, assert_status, call_up, customer_ends_bridged_call, hangs_up,
    is_final, is_request, notifies_until, partner_answers, partner_invited,
    platform_answers_until_bye, platform_hangs_up, platform_refer_answer, refer_notify,
    transfer_record, transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, response};

const TARGET: &str = "+442071234567";
const REFER_TO: &str = "<sip:+442071234567@platform.example>";

fn site(io: &'static str, media: u16, carrier: &'static [&'static str]) -> TransferSite {
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

/// The platform REFERs on leg B; returns the REFER as the carrier got it and its source.
fn refer_reaches_carrier(site: &TransferSite, a: &Leg, b: &Leg) -> (Msg, SocketAddr) {
    site.platform.ua.send(
        site.sip,
        &b.request(
            "REFER",
            site.platform.ua.addr(),
            &[format!("Refer-To: {REFER_TO}")],
        ),
    );
    site.carrier
        .ua
        .expect(&format!("{}: REFER at the carrier", site.io), WAIT, |m| {
            is_request(m, "REFER", &a.call_id)
        })
}

/// The carrier sends a NOTIFY on leg A with these Event and Subscription-State values; returns
/// handoff's answer code.
fn carrier_notify(site: &TransferSite, a: &Leg, event: &str, status: &str, state: &str) -> u16 {
    let notify = refer_notify(a, site.carrier.ua.addr(), status, state).replacen(
        "Event: refer\r\n",
        &format!("Event: {event}\r\n"),
        1,
    );
    site.carrier.ua.send(site.sip, &notify);
    let cseq = format!("{} NOTIFY", a.cseq());
    let (answer, _) = site.carrier.ua.expect(
        &format!("{}: answer to NOTIFY {status} ({event})", site.io),
        WAIT,
        |m| is_final(m, "NOTIFY", &a.call_id) && m.header("cseq") == Some(cseq.as_str()),
    );
    answer.status().unwrap_or(0)
}

#[test]
fn handoff_accepting_a_refer_notifies_100_at_once() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            24_400 + i as u16 * 100,
            &["on_refer_failure = \"local\""],
        );
        let (_, a, b) = call_up(&site, &format!("n100-{io}"));
        let (refer, src) = refer_reaches_carrier(&site, &a, &b);
        site.carrier.ua.send(
            src,
            &response(&refer, 403, "Forbidden", "x", site.carrier.ua.addr(), ""),
        );
        assert_status(io, &platform_refer_answer(&site, &b.call_id), 202);
        // The first NOTIFY, before the target even rings: 100, active, expires >= 120.
        let (first, src) =
            site.platform
                .ua
                .expect(&format!("{io}: the immediate NOTIFY"), WAIT, |m| {
                    is_request(m, "NOTIFY", &b.call_id)
                });
        site.platform.ua.send(
            src,
            &response(&first, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        assert!(first.body.starts_with("SIP/2.0 100"), "{io}: {}", first.raw);
        assert_eq!(first.header("event"), Some("refer"), "{io}");
        assert_eq!(
            first.header("subscription-state"),
            Some("active;expires=120"),
            "{io}"
        );
        let (invite, src) = partner_invited(&site, TARGET);
        let c = partner_answers(&site, &invite, src);
        notifies_until(&site.platform.ua, 200, WAIT);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        hangs_up(&site, &site.platform.ua, &b, "answer to the agent's BYE");
        customer_ends_bridged_call(&site, &a, &c);
        site.stop();
    }
}

#[test]
fn a_subscribe_for_refer_without_a_subscription_gets_403() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 24_600 + i as u16 * 100, &[]);
        let (_, a, b) = call_up(&site, &format!("sub403-{io}"));
        let subscribe = b.request(
            "SUBSCRIBE",
            site.platform.ua.addr(),
            &["Event: refer".to_owned(), "Expires: 60".to_owned()],
        );
        site.platform.ua.send(site.sip, &subscribe);
        let (answer, _) =
            site.platform
                .ua
                .expect(&format!("{io}: answer to the SUBSCRIBE"), WAIT, |m| {
                    is_final(m, "SUBSCRIBE", &b.call_id)
                });
        assert_status(io, &answer, 403);
        site.carrier
            .ua
            .expect_none(std::time::Duration::from_millis(100), |m| {
                m.method() == Some("SUBSCRIBE")
            });
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}

#[test]
fn a_second_refer_names_its_notifies_by_id_and_a_late_notify_of_the_first_gets_481() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            24_800 + i as u16 * 100,
            &["on_refer_failure = \"reject\""],
        );
        let (_, a, b) = call_up(&site, &format!("ids-{io}"));
        // REFER #1: accepted, then the carrier's target is busy.
        let (refer, src) = refer_reaches_carrier(&site, &a, &b);
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        assert_status(io, &platform_refer_answer(&site, &b.call_id), 202);
        let failed = carrier_notify(
            &site,
            &a,
            "refer",
            "486 Busy Here",
            "terminated;reason=noresource",
        );
        assert_eq!(failed, 200, "{io}");
        let (first, _) = notifies_until(&site.platform.ua, 486, WAIT);
        assert_eq!(first.header("event"), Some("refer"), "{io}");
        // REFER #2 in the same dialogs.
        let (refer, src) = refer_reaches_carrier(&site, &a, &b);
        let carrier_cseq: u32 = refer
            .header("cseq")
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
            .expect("CSeq of REFER #2");
        let platform_cseq = b.cseq();
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        assert_status(io, &platform_refer_answer(&site, &b.call_id), 202);
        // A late NOTIFY of REFER #1 (no id: the first REFER's) matches nothing.
        let late = carrier_notify(&site, &a, "refer", "200 OK", "terminated;reason=noresource");
        assert_eq!(late, 481, "{io}");
        let with_id = format!("refer;id={carrier_cseq}");
        assert_eq!(
            carrier_notify(&site, &a, &with_id, "100 Trying", "active;expires=60"),
            200,
            "{io}"
        );
        let (trying, seen) = notifies_until(&site.platform.ua, 100, WAIT);
        assert_eq!(
            seen,
            [100],
            "{io}: the late 200 of REFER #1 reached the platform"
        );
        let expected = format!("refer;id={platform_cseq}");
        assert_eq!(trying.header("event"), Some(expected.as_str()), "{io}");
        assert_eq!(
            carrier_notify(
                &site,
                &a,
                &with_id,
                "200 OK",
                "terminated;reason=noresource"
            ),
            200,
            "{io}"
        );
        let (done, _) = notifies_until(&site.platform.ua, 200, WAIT);
        assert_eq!(done.header("event"), Some(expected.as_str()), "{io}");
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        platform_answers_until_bye(&site, &b);
        site.stop();
    }
}

#[test]
fn a_carrier_ending_its_subscription_early_hands_off_with_its_bye() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 25_000 + i as u16 * 100, &[]);
        let (_, a, b) = call_up(&site, &format!("early-{io}"));
        let (refer, src) = refer_reaches_carrier(&site, &a, &b);
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        assert_status(io, &platform_refer_answer(&site, &b.call_id), 202);
        let answered = carrier_notify(
            &site,
            &a,
            "refer",
            "100 Trying",
            "terminated;reason=noresource",
        );
        assert_eq!(answered, 200, "{io}");
        notifies_until(&site.platform.ua, 100, WAIT);
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        let notified = platform_answers_until_bye(&site, &b);
        assert!(!notified.iter().any(|s| *s >= 300), "{io}: {notified:?}");
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["carrier_subscription_ended"], true, "{io}: {record}");
        site.stop();
    }
}

/// A carrier whose REFERs are relayed (`carrier_refer = "relay"`) owns a subscription at the
/// platform: its SUBSCRIBE for event refer is relayed to the platform, not answered 403.
#[test]
fn a_relayed_carriers_subscribe_reaches_the_platform() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 26_400 + i as u16 * 100, &["carrier_refer = \"relay\""]);
        let (_, a, b) = call_up(&site, &format!("relaysub-{io}"));
        site.carrier.ua.send(
            site.sip,
            &a.request(
                "REFER",
                site.carrier.ua.addr(),
                &["Refer-To: <sip:5559876543@carrier.example>".to_owned()],
            ),
        );
        let (refer, src) =
            site.platform
                .ua
                .expect(&format!("{io}: relayed REFER at the platform"), WAIT, |m| {
                    is_request(m, "REFER", &b.call_id)
                });
        site.platform.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.platform.ua.addr(), ""),
        );
        let (accepted, _) = site.carrier.ua.expect(
            &format!("{io}: the platform's 202 at the carrier"),
            WAIT,
            |m| is_final(m, "REFER", &a.call_id),
        );
        assert_status(io, &accepted, 202);
        site.carrier.ua.send(
            site.sip,
            &a.request(
                "SUBSCRIBE",
                site.carrier.ua.addr(),
                &["Event: refer".to_owned(), "Expires: 60".to_owned()],
            ),
        );
        let (subscribe, src) = site.platform.ua.expect(
            &format!("{io}: relayed SUBSCRIBE at the platform"),
            WAIT,
            |m| is_request(m, "SUBSCRIBE", &b.call_id),
        );
        site.platform.ua.send(
            src,
            &response(&subscribe, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        let (answer, _) = site.carrier.ua.expect(
            &format!("{io}: answer to the carrier's SUBSCRIBE"),
            WAIT,
            |m| is_final(m, "SUBSCRIBE", &a.call_id),
        );
        assert_status(io, &answer, 200);
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}
