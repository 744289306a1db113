//! Issue 10, items 5 and 1 (audit), against the real binary (both backends, 2 shards): what the
//! platform's REFER is answered and what the record says when the carrier's work ends without a
//! handoff.
//!
//! - RFC 7647 section 5: an element "MUST treat any 202 responses received as identical to a
//!   200 response": a carrier's 200 to the REFER is an acceptance; handoff answers the
//!   platform 202 unless the platform trunk says `refer_response = 200`.
//! - The customer hanging up while the carrier works (its BYE after NOTIFY 100, no result) is
//!   `abandoned`, not `handed_off`.
//! - RFC 4488 `Refer-Sub: false` with `on_refer_failure = "reject"`: the carrier's final NOTIFY
//!   of a failure does not release the customer, who stays with the agent.

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    Leg, SiteOptions, TransferSite, assert_status, call_up, is_final, is_request,
    platform_answers_until_bye, platform_refer_answer, refer_notify, transfer_record,
    transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::response;

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

/// The platform REFERs (with `extra` headers); the carrier answers `status`; returns the
/// platform's final response code.
fn refer_answered(site: &TransferSite, a: &Leg, b: &Leg, status: u16, extra: &[String]) -> u16 {
    refer_answered_to(site, a, b, "+15559876543", status, extra)
}

/// [`refer_answered`] for the target `number` (numbers starting 44 route to the partner trunk).
fn refer_answered_to(
    site: &TransferSite,
    a: &Leg,
    b: &Leg,
    number: &str,
    status: u16,
    extra: &[String],
) -> u16 {
    let mut headers = vec![format!("Refer-To: <sip:{number}@platform.example>")];
    headers.extend_from_slice(extra);
    site.platform.ua.send(
        site.sip,
        &b.request("REFER", site.platform.ua.addr(), &headers),
    );
    let (refer, src) =
        site.carrier
            .ua
            .expect(&format!("{}: REFER at the carrier", site.io), WAIT, |m| {
                is_request(m, "REFER", &a.call_id)
            });
    site.carrier.ua.send(
        src,
        &response(&refer, status, "OK", "x", site.carrier.ua.addr(), ""),
    );
    platform_refer_answer(site, &b.call_id)
        .status()
        .unwrap_or(0)
}

fn carrier_notifies(site: &TransferSite, a: &Leg, status: &str, state: &str) {
    site.carrier.ua.send(
        site.sip,
        &refer_notify(a, site.carrier.ua.addr(), status, state),
    );
    let cseq = format!("{} NOTIFY", a.cseq());
    let (ok, _) = site.carrier.ua.expect(
        &format!("{}: answer to NOTIFY {status}", site.io),
        WAIT,
        |m| is_final(m, "NOTIFY", &a.call_id) && m.header("cseq") == Some(cseq.as_str()),
    );
    assert_status(site.io, &ok, 200);
}

#[test]
fn a_carrier_200_to_the_refer_is_an_acceptance_and_the_platform_gets_202() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 25_200 + i as u16 * 100, &[]);
        let (_, a, b) = call_up(&site, &format!("r200-{io}"));
        assert_eq!(refer_answered(&site, &a, &b, 200, &[]), 202, "{io}");
        carrier_notifies(&site, &a, "200 OK", "terminated;reason=noresource");
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["refer_status"], 200, "{io}: {record}");
        site.stop();
    }
}

#[test]
fn the_customer_hanging_up_while_the_carrier_works_is_abandoned() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 25_400 + i as u16 * 100, &[]);
        let (_, a, b) = call_up(&site, &format!("abandon-{io}"));
        assert_eq!(refer_answered(&site, &a, &b, 202, &[]), 202, "{io}");
        carrier_notifies(&site, &a, "100 Trying", "active;expires=60");
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        let notified = platform_answers_until_bye(&site, &b);
        assert!(
            !notified.contains(&200),
            "{io}: the platform heard 200: {notified:?}"
        );
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "abandoned", "{io}: {record}");
        assert_eq!(record["reason"], "customer_hung_up", "{io}: {record}");
        site.stop();
    }
}

#[test]
fn refer_sub_false_and_reject_keep_the_customer_after_a_failed_final_notify() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            25_600 + i as u16 * 100,
            &["on_refer_failure = \"reject\""],
        );
        let (_, a, b) = call_up(&site, &format!("rsf-{io}"));
        let code = refer_answered(&site, &a, &b, 202, &["Refer-Sub: false".to_owned()]);
        assert_eq!(code, 202, "{io}");
        carrier_notifies(&site, &a, "100 Trying", "active;expires=60");
        carrier_notifies(&site, &a, "486 Busy Here", "terminated;reason=noresource");
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["notify_status"], 486, "{io}: {record}");
        // The customer stays with the agent: no BYE, no NOTIFY to the platform.
        site.carrier
            .ua
            .expect_none(Duration::from_millis(300), |m| m.method() == Some("BYE"));
        site.platform
            .ua
            .expect_none(Duration::from_millis(10), |m| m.method() == Some("NOTIFY"));
        border_support::platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}

/// `Refer-Sub: false` and `reject`, but the agent has hung up before the carrier's failure:
/// nobody could hear a rejection, and releasing would drop the caller, so handoff transfers the
/// customer locally (sim twin: `refer_sub_false_reject_agent_gone`); the record says
/// fallback_local / sipfrag_failure.
#[test]
fn refer_sub_false_and_reject_with_the_agent_gone_transfer_locally() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(
            io,
            25_800 + i as u16 * 100,
            &["on_refer_failure = \"reject\""],
        );
        let (_, a, b) = call_up(&site, &format!("rsf-gone-{io}"));
        let extra = ["Refer-Sub: false".to_owned()];
        let code = refer_answered_to(&site, &a, &b, "+442071234567", 202, &extra);
        assert_eq!(code, 202, "{io}");
        border_support::hangs_up(&site, &site.platform.ua, &b, "answer to the agent's BYE");
        carrier_notifies(&site, &a, "486 Busy Here", "terminated;reason=noresource");
        let (invite, src) = border_support::partner_invited(&site, "+442071234567");
        let c = border_support::partner_answers(&site, &invite, src);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["reason"], "sipfrag_failure", "{io}: {record}");
        assert_eq!(record["notify_status"], 486, "{io}: {record}");
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("BYE"));
        border_support::customer_ends_bridged_call(&site, &a, &c);
        site.stop();
    }
}
