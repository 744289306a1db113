//! Issue 10, item 1, against the real binary (both backends, 2 shards): `transfer_timeout_s`
//! bounds the carrier's work from its 2xx to its final NOTIFY (here the carrier trunk's own
//! `transfer_timeout_s = 2`), nothing else does.
//!
//! RFC 3515 section 2.4.4: "Terminating a subscription ... is not an indication that the
//! referenced request should be withdrawn or abandoned": when the bound runs out the carrier may
//! still connect the target, so with the agent on the call handoff NOTIFYs 408 and gives the
//! customer back to the agent without dialling the target; with the agent gone,
//! `on_refer_failure = "local"` makes handoff call the target so the caller is not left in
//! silence, and the record says why (`transfer_timeout`).

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    Leg, SiteOptions, TransferSite, assert_status, call_up, hangs_up, is_final, is_request,
    notifies_until, partner_answers, partner_invited, platform_refer_answer, refer_notify,
    transfer_record, transfer_site_with,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::response;

const TARGET: &str = "+442071234567";
const REFER_TO: &str = "<sip:+442071234567@platform.example>";

fn site(io: &'static str, media: u16) -> TransferSite {
    transfer_site_with(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier: &["on_refer_failure = \"local\"", "transfer_timeout_s = 2"],
            partner_codecs: "[\"PCMU\"]",
        },
        // refer_timeout_ms bounds only the REFER's final response.
        &["refer_timeout_ms = 500"],
    )
}

/// The platform REFERs; the carrier accepts (202) and NOTIFYs 100, then says nothing.
fn carrier_accepts_then_goes_quiet(site: &TransferSite, a: &Leg, b: &Leg) {
    let io = site.io;
    site.platform.ua.send(
        site.sip,
        &b.request(
            "REFER",
            site.platform.ua.addr(),
            &[format!("Refer-To: {REFER_TO}")],
        ),
    );
    let (refer, src) = site
        .carrier
        .ua
        .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
            is_request(m, "REFER", &a.call_id)
        });
    site.carrier.ua.send(
        src,
        &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
    );
    assert_status(io, &platform_refer_answer(site, &b.call_id), 202);
    let notify = refer_notify(
        a,
        site.carrier.ua.addr(),
        "100 Trying",
        "active;expires=300",
    );
    site.carrier.ua.send(site.sip, &notify);
    let (ok, _) = site
        .carrier
        .ua
        .expect(&format!("{io}: answer to NOTIFY 100"), WAIT, |m| {
            is_final(m, "NOTIFY", &a.call_id)
        });
    assert_status(io, &ok, 200);
}

#[test]
fn with_the_agent_on_the_call_it_hears_408_and_keeps_the_customer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23_400 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("tt-agent-{io}"));
        carrier_accepts_then_goes_quiet(&site, &a, &b);
        // The platform hears 100, then (2 s after the 202) 408, terminated.
        let (last, seen) = notifies_until(&site.platform.ua, 408, WAIT);
        assert!(
            seen.iter().all(|s| [100, 408].contains(s)),
            "{io}: {seen:?}"
        );
        assert!(
            last.header("subscription-state")
                .is_some_and(|v| v.starts_with("terminated")),
            "{io}: {}",
            last.raw
        );
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["reason"], "transfer_timeout", "{io}: {record}");
        // The customer is still with the agent: the agent's BYE reaches the carrier.
        hangs_up_through(&site, &a, &b);
        site.partner
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("INVITE"));
        site.stop();
    }
}

/// The platform's BYE on leg B reaches the carrier on leg A (the two are still bridged).
fn hangs_up_through(site: &TransferSite, a: &Leg, b: &Leg) {
    site.platform
        .ua
        .send(site.sip, &b.request("BYE", site.platform.ua.addr(), &[]));
    border_support::answers_bye(
        &site.carrier.ua,
        &a.call_id,
        "the agent's BYE at the carrier",
    );
    let (ok, _) = site.platform.ua.expect(
        &format!("{}: answer to the agent's BYE", site.io),
        WAIT,
        |m| is_final(m, "BYE", &b.call_id),
    );
    assert_status(site.io, &ok, 200);
}

#[test]
fn with_the_agent_gone_on_refer_failure_local_calls_the_target() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23_600 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("tt-gone-{io}"));
        site.platform.ua.send(
            site.sip,
            &b.request(
                "REFER",
                site.platform.ua.addr(),
                &[format!("Refer-To: {REFER_TO}")],
            ),
        );
        let (refer, src) =
            site.carrier
                .ua
                .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
                    is_request(m, "REFER", &a.call_id)
                });
        // The agent leaves before the carrier accepts: the transfer timeout, armed at the
        // carrier's 202, cannot run out before handoff knows the agent is gone.
        hangs_up(&site, &site.platform.ua, &b, "answer to the agent's BYE");
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        let notify = refer_notify(
            &a,
            site.carrier.ua.addr(),
            "100 Trying",
            "active;expires=300",
        );
        site.carrier.ua.send(site.sip, &notify);
        // 2 s after the 202: handoff calls the target itself.
        let (invite, src) = partner_invited(&site, TARGET);
        let c = partner_answers(&site, &invite, src);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["reason"], "transfer_timeout", "{io}: {record}");
        assert_eq!(record["refer_status"], 202, "{io}: {record}");
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("BYE"));
        border_support::customer_ends_bridged_call(&site, &a, &c);
        site.stop();
    }
}

/// The agent gone and `on_refer_failure = "reject"`: nobody is left on handoff's side, so when
/// `transfer_timeout_s` runs out the customer is released (BYE) and the target is never dialled;
/// the record says failed / transfer_timeout (sim twin: `transfer_timeout_agent_gone_reject`).
#[test]
fn with_the_agent_gone_on_refer_failure_reject_releases_the_customer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = transfer_site_with(
            io,
            &SiteOptions {
                media: 23_800 + i as u16 * 100,
                drain_s: 30,
                carrier: &["on_refer_failure = \"reject\"", "transfer_timeout_s = 2"],
                partner_codecs: "[\"PCMU\"]",
            },
            &["refer_timeout_ms = 500"],
        );
        let (_, a, b) = call_up(&site, &format!("tt-reject-{io}"));
        carrier_accepts_then_goes_quiet(&site, &a, &b);
        hangs_up(&site, &site.platform.ua, &b, "answer to the agent's BYE");
        // 2 s after the 202: the customer is released.
        border_support::answers_bye(&site.carrier.ua, &a.call_id, "the customer's release");
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["reason"], "transfer_timeout", "{io}: {record}");
        assert_eq!(record["refer_status"], 202, "{io}: {record}");
        site.partner
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("INVITE"));
        site.stop();
    }
}
