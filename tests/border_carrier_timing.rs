//! Against the real binary, both backends, 2 shards: carrier timing around a blind transfer
//! (`slow_carrier_notifies`, `late_refer_accept_during_fallback` of
//! `src/sim/transfer_flows.rs`), with `refer_timeout_ms = 500`. RFC 3515 section 2.4.4: after
//! its 2xx the carrier owns the transfer until its final NOTIFY ("The lifetime of the state
//! being subscribed to is determined by the progress of the referenced request"); silence is
//! not failure. A carrier whose 202 comes after the timeout still goes on to call the target
//! (section 2.4.2: a recipient that accepted "MUST create a subscription and send
//! notifications"), so handoff's own call to the target is cancelled.

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    Leg, SiteOptions, TransferSite, assert_status, call_up, is_final, is_request, notifies_until,
    partner_invited, partner_is_cancelled, partner_rings_with_early_media,
    platform_answers_until_bye, platform_refer_answer, refer_notify, sipfrag_status,
    transfer_record, transfer_site_with,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, response};

const TARGET: &str = "+442071234567";
const REFER_TO: &str = "<sip:+442071234567@platform.example>";
const REFER_TIMEOUT_MS: u64 = 500;

fn site(io: &'static str, media: u16) -> TransferSite {
    transfer_site_with(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier: &["on_refer_failure = \"local\""],
            partner_codecs: "[\"PCMU\"]",
        },
        &[&format!("refer_timeout_ms = {REFER_TIMEOUT_MS}")],
    )
}

/// The platform REFERs the call to [`TARGET`]; returns the carrier's REFER and its source.
fn carrier_gets_refer(site: &TransferSite, a: &Leg, b: &Leg) -> (Msg, std::net::SocketAddr) {
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

/// The carrier NOTIFYs sipfrag `status` on leg A (final when `terminated`); handoff answers 200.
fn carrier_notifies(site: &TransferSite, a: &Leg, status: &str, terminated: bool) {
    let state = if terminated {
        "terminated;reason=noresource"
    } else {
        "active;expires=60"
    };
    let notify = refer_notify(a, site.carrier.ua.addr(), status, state);
    site.carrier.ua.send(site.sip, &notify);
    let (ok, _) = site.carrier.ua.expect(
        &format!("{}: answer to the carrier's NOTIFY {status}", site.io),
        WAIT,
        |m| {
            // This NOTIFY's answer, not a late copy of an earlier one's.
            is_final(m, "NOTIFY", &a.call_id)
                && m.header("cseq") == Some(format!("{} NOTIFY", a.cseq()).as_str())
        },
    );
    assert_status(site.io, &ok, 200);
}

/// The carrier releases the customer: the platform's leg gets BYE (NOTIFYs on the way
/// answered and returned).
fn carrier_releases(site: &TransferSite, a: &Leg, b: &Leg) -> Vec<u16> {
    site.carrier
        .ua
        .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
    platform_answers_until_bye(site, b)
}

fn assert_handed_off(site: &TransferSite) {
    let record = transfer_record(site);
    let io = site.io;
    assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
    assert_eq!(record["refer_status"], 202, "{io}: {record}");
    assert_eq!(record["notify_status"], 200, "{io}: {record}");
}

/// NOTIFY 100, then silence four times as long as `refer_timeout_ms`, then NOTIFY 200 and the
/// carrier's BYE: handoff never calls the target itself, the platform hears only what the
/// carrier said, and the call is handed off.
#[test]
fn a_carrier_silent_after_its_202_keeps_the_transfer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 22600 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("slow-{io}"));
        let (refer, src) = carrier_gets_refer(&site, &a, &b);
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        carrier_notifies(&site, &a, "100 Trying", false);
        let (_, seen) = notifies_until(&site.platform.ua, 100, WAIT);
        assert_eq!(seen, [100], "{io}");

        // The carrier's silence: a window, not a wait for a condition. A busy machine can only
        // make this check miss an INVITE, never see one that was not sent.
        site.partner
            .ua
            .expect_none(Duration::from_millis(4 * REFER_TIMEOUT_MS), |m| {
                m.method() == Some("INVITE")
            });
        site.platform
            .ua
            .expect_none(Duration::from_millis(10), |m| {
                m.method() == Some("NOTIFY") && sipfrag_status(&m.body) != Some(100)
            });

        carrier_notifies(&site, &a, "200 OK", true);
        let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
        assert!(
            seen.iter().all(|s| [100, 200].contains(s)),
            "{io}: {seen:?}"
        );
        let more = carrier_releases(&site, &a, &b);
        assert!(
            more.iter().all(|s| [100, 200].contains(s)),
            "{io}: {more:?}"
        );
        site.partner
            .ua
            .expect_none(Duration::from_millis(10), |m| m.method() == Some("INVITE"));
        assert_handed_off(&site);
        site.stop();
    }
}

/// The carrier's 202 comes after `refer_timeout_ms`, while handoff's own call to the target
/// (leg C) is in early media: leg C is CANCELled, the carrier's NOTIFY 200 reaches the platform
/// (never a 408), and its BYE hands the call off.
#[test]
fn a_late_carrier_202_cancels_the_local_fallback() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 22800 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("late-{io}"));
        let (refer, src) = carrier_gets_refer(&site, &a, &b);
        // No answer yet: the timeout makes handoff accept the REFER and call the target.
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        let (invite, c_src) = partner_invited(&site, TARGET);
        partner_rings_with_early_media(&site, &invite, c_src);

        // The carrier accepts after all.
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        partner_is_cancelled(&site, &invite);
        carrier_notifies(&site, &a, "100 Trying", false);
        carrier_notifies(&site, &a, "200 OK", true);
        let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
        let more = carrier_releases(&site, &a, &b);
        assert!(
            !seen.contains(&408) && !more.contains(&408),
            "{io}: the platform heard 408: {seen:?} {more:?}"
        );
        site.partner
            .ua
            .expect_none(Duration::from_millis(10), |m| m.method() == Some("BYE"));
        assert_handed_off(&site);
        site.stop();
    }
}

/// The carrier's final NOTIFY and its BYE sent back to back, in each order (one socket on
/// loopback: they reach handoff in the order sent). A dialog "continues to exist until the last
/// usage is terminated" (RFC 5057 section 2): a BYE ends the invite usage, the NOTIFY with
/// `Subscription-State: terminated` the refer subscription (section 3.1, F3 and F4), whichever
/// comes first. So both get 200, never 481, and each call is handed off.
#[test]
fn final_notify_and_bye_back_to_back_both_get_200_in_either_order() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23000 + i as u16 * 100);
        for bye_first in [false, true] {
            let (_, a, b) = call_up(&site, &format!("race-{bye_first}-{io}"));
            let (refer, src) = carrier_gets_refer(&site, &a, &b);
            site.carrier.ua.send(
                src,
                &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
            );
            let accepted = platform_refer_answer(&site, &b.call_id);
            assert_status(io, &accepted, 202);

            let notify = refer_notify(
                &a,
                site.carrier.ua.addr(),
                "200 OK",
                "terminated;reason=noresource",
            );
            let bye = a.request("BYE", site.carrier.ua.addr(), &[]);
            let (first, second) = if bye_first {
                (&bye, &notify)
            } else {
                (&notify, &bye)
            };
            site.carrier.ua.send(site.sip, first);
            site.carrier.ua.send(site.sip, second);

            let notified = platform_answers_until_bye(&site, &b);
            let found = border_support::expect_all(
                &site.carrier.ua,
                WAIT,
                &[
                    ("answer to the NOTIFY", &|m: &Msg| {
                        is_final(m, "NOTIFY", &a.call_id)
                    }),
                    ("answer to the BYE", &|m: &Msg| {
                        is_final(m, "BYE", &a.call_id)
                    }),
                ],
            );
            for (answer, _) in &found {
                assert_eq!(
                    answer.status(),
                    Some(200),
                    "{io} (bye first: {bye_first}): {}",
                    answer.first_line
                );
            }
            assert!(
                !notified.iter().any(|s| *s >= 300),
                "{io} (bye first: {bye_first}): NOTIFYs {notified:?}"
            );
            let record =
                border_support::wait_for_json_line(&site.audit, Duration::from_secs(20), |r| {
                    r["type"] == "transfer"
                        && r["outcome"] == "handed_off"
                        && r["conversation"].is_string()
                });
            assert_eq!(record["refer_status"], 202, "{io}: {record}");
        }
        // One handed-off record per call.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&site.audit).unwrap_or_default();
            let handed_off = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|r| r["type"] == "transfer" && r["outcome"] == "handed_off")
                .count();
            if handed_off == 2 {
                break;
            }
            assert!(
                handed_off < 2 && std::time::Instant::now() < deadline,
                "{io}: {handed_off} handed-off records:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        site.stop();
    }
}
