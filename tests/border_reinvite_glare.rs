//! Glare on handoff's own re-INVITE (issue 10 item 6), against the real binary, both backends,
//! 2 shards. The platform holds the customer, then transfers; the carrier refuses the REFER and
//! the partner answers the local fallback, so handoff re-INVITEs the customer back to
//! a=sendrecv. That re-INVITE meets the customer's own:
//!
//! RFC 3261 section 14.2: "A UAS that receives an INVITE on a dialog while an INVITE it had sent
//! on that dialog is in progress MUST return a 491 (Request Pending) response to the received
//! INVITE." Section 14.1: "If a UAC receives a 491 response to a re-INVITE, it SHOULD start a
//! timer with a value T chosen as follows: [...] 2. If the UAC is not the owner of the Call-ID
//! of the dialog ID, T has a randomly chosen value of between 0 and 2 seconds in units of 10 ms.
//! When the timer fires, the UAC SHOULD attempt the re-INVITE once more". The carrier chose the
//! Call-ID of leg A, so handoff's retry comes within 2 s. A failure the RFC does not let a UAC
//! retry (488) leaves the session as it was and is audited: the `call_end` record says
//! `reinvite_failed`.

mod border_support;
mod runtime_support;

use std::time::{Duration, Instant};

use border_support::{
    IDENTITY, Leg, REFERRED_BY, SiteOptions, TransferSite, ack_for_failure, answers_with_sdp,
    assert_status, call_up, customer_ends_bridged_call, direction, hangs_up, is_final, is_request,
    notifies_until, partner_answers, partner_invited, platform_holds, platform_refer_answer,
    sdp_with, transfer_record, transfer_site, wait_for_json_line, with_body,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, response};

const TARGET: &str = "+442071234567";
const REFER_TO: &str = "<sip:+442071234567@platform.example>";

fn site(io: &'static str, media: u16) -> TransferSite {
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier: &["on_refer_failure = \"local\""],
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

/// Hold, REFER refused by the carrier (403), the partner answers leg C: returns leg C and
/// handoff's resuming re-INVITE as the customer got it (not answered yet), with its source.
fn fallback_resumes_customer(
    site: &TransferSite,
    a: &Leg,
    b: &Leg,
) -> (Leg, Msg, std::net::SocketAddr) {
    let io = site.io;
    platform_holds(site, a, b);
    site.platform.ua.send(
        site.sip,
        &b.request(
            "REFER",
            site.platform.ua.addr(),
            &[
                format!("Refer-To: {REFER_TO}"),
                format!("Referred-By: {REFERRED_BY}"),
                format!("P-Asserted-Identity: {IDENTITY}"),
            ],
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
        &response(&refer, 403, "Forbidden", "x", site.carrier.ua.addr(), ""),
    );
    assert_status(io, &platform_refer_answer(site, &b.call_id), 202);
    let (invite, src) = partner_invited(site, TARGET);
    let c = partner_answers(site, &invite, src);
    let (resume, src) = site.carrier.ua.expect(
        &format!("{io}: handoff's resuming re-INVITE at the customer"),
        WAIT,
        |m| is_request(m, "INVITE", &a.call_id),
    );
    assert_eq!(direction(&resume.body), "sendrecv", "{io}: {}", resume.body);
    (c, resume, src)
}

/// The customer takes the re-INVITE: 200 with PCMU, and handoff's ACK arrives.
fn customer_accepts(site: &TransferSite, a: &Leg, reinvite: &Msg, src: std::net::SocketAddr) {
    answers_with_sdp(
        &site.carrier.ua,
        src,
        reinvite,
        &sdp_with(site.carrier.rtp_port(), &[0], "sendrecv"),
    );
    site.carrier
        .ua
        .expect(&format!("{}: ACK of the re-INVITE", site.io), WAIT, |m| {
            is_request(m, "ACK", &a.call_id)
        });
}

/// The platform, told 200, leaves at once (before handoff's own BYE after its grace, which a
/// scripted platform would not answer).
fn platform_leaves(site: &TransferSite, b: &Leg) {
    let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
    assert!(
        !seen.iter().any(|s| *s >= 300),
        "{}: NOTIFYs {seen:?}",
        site.io
    );
    hangs_up(site, &site.platform.ua, b, "the platform's BYE answered");
}

/// The customer hangs up the bridged call; returns the `call_end` record.
fn call_ends(site: &TransferSite, a: &Leg, c: &Leg) -> serde_json::Value {
    let record = transfer_record(site);
    assert_eq!(record["outcome"], "fallback_local", "{}: {record}", site.io);
    customer_ends_bridged_call(site, a, c);
    wait_for_json_line(&site.audit, Duration::from_secs(20), |r| {
        r["type"] == "call_end"
    })
}

#[test]
fn glare_on_handoffs_reinvite_is_answered_491_and_retried_within_two_seconds() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 41300 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("glare-{io}"));
        let (c, first, src) = fallback_resumes_customer(&site, &a, &b);
        platform_leaves(&site, &b);

        // The customer's own re-INVITE crosses handoff's: 491 (section 14.2).
        let c_addr = site.carrier.ua.addr();
        site.carrier.ua.send(
            site.sip,
            &with_body(
                &a.request("INVITE", c_addr, &[]),
                "application/sdp",
                &sdp_with(site.carrier.rtp_port(), &[0], "sendonly"),
            ),
        );
        let cseq = a.cseq();
        let (pending, _) = site.carrier.ua.expect(
            &format!("{io}: handoff's answer to the customer's crossing re-INVITE"),
            WAIT,
            |m| is_final(m, "INVITE", &a.call_id) && m.message.cseq().map(|c| c.0) == Some(cseq),
        );
        assert_status(io, &pending, 491);
        site.carrier
            .ua
            .send(site.sip, &ack_for_failure(&pending, &a.target));

        // The customer answers handoff's re-INVITE 491 too; handoff tries again within 2 s.
        site.carrier.ua.send(
            src,
            &response(&first, 491, "Request Pending", "x", c_addr, ""),
        );
        let refused_at = Instant::now();
        let first_cseq = first.message.cseq().map(|c| c.0);
        let (retry, src) = site.carrier.ua.expect(
            &format!("{io}: handoff's retried re-INVITE"),
            Duration::from_secs(5),
            |m| is_request(m, "INVITE", &a.call_id) && m.message.cseq().map(|c| c.0) != first_cseq,
        );
        let waited = refused_at.elapsed();
        assert!(
            waited <= Duration::from_millis(2_500),
            "{io}: the retry came after {waited:?} (RFC 3261 14.1: 0-2 s for a non-owner)"
        );
        assert_eq!(direction(&retry.body), "sendrecv", "{io}: {}", retry.body);
        customer_accepts(&site, &a, &retry, src);
        let end = call_ends(&site, &a, &c);
        assert!(end.get("reinvite_failed").is_none(), "{io}: {end}");
        site.stop();
    }
}

#[test]
fn a_reinvite_refused_for_good_is_not_retried_and_is_audited() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 41700 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("refused-{io}"));
        let (c, first, src) = fallback_resumes_customer(&site, &a, &b);
        platform_leaves(&site, &b);
        let c_addr = site.carrier.ua.addr();
        site.carrier.ua.send(
            src,
            &response(&first, 488, "Not Acceptable Here", "x", c_addr, ""),
        );
        site.carrier
            .ua
            .expect_none(Duration::from_secs(5), |m| m.method() == Some("INVITE"));
        let end = call_ends(&site, &a, &c);
        assert_eq!(end["reinvite_failed"], 488, "{io}: {end}");
        site.stop();
    }
}
