//! Against the real binary, both backends, 2 shards: the blind-transfer flows of
//! `src/sim/transfer_flows.rs` that differ from the plain REFER path only in what a peer sends
//! (RFC 4488 `Refer-Sub: false`, a hold re-INVITE, a 183 with SDP) or in what ends the call
//! during a fallback (the customer's BYE, a drain). The carrier, the platform and the partner
//! (the fallback target's trunk) are raw `sipwire` agents; expectations are the RFCs' and the
//! brief's literal messages and the audit record's documented values.

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    IDENTITY, Leg, PARTNER_VOICE, REFERRED_BY, SiteOptions, TransferSite, answers_bye,
    answers_with_sdp, assert_status, audio_payloads, call_up, customer_and_partner_hear_each_other,
    customer_ends_bridged_call, direction, hangs_up, is_final, is_request, notifies_until,
    partner_answers, partner_invited, partner_is_cancelled, partner_rings,
    partner_rings_with_early_media, platform_answers_until_bye, platform_holds,
    platform_refer_answer, refer_notify, sdp_with, stream_arrives, transfer_record, transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::response;

/// The number the platform transfers to (the site routes numbers starting 44 to the partner).
const TARGET: &str = "+442071234567";
const REFER_TO: &str = "<sip:+442071234567@platform.example>";
/// The number the carrier dialled (`runtime_support::call::establish`): the DID it verified.
const DIALLED_DID: &str = "+15550001111";

fn site(io: &'static str, media: u16, drain_s: u64) -> TransferSite {
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s,
            carrier: &[
                "on_refer_failure = \"local\"",
                "headers = { \"X-Carrier-Account\" = \"acct-42\" }",
            ],
            // The customer's law: the relay forwards the partner's bytes as they are.
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

/// The platform REFERs the call to [`TARGET`] (with `extra` headers); the carrier gets the
/// REFER in its own dialog with the target in E.164 at its own host, and answers `status`.
fn refer_answered_by_carrier(site: &TransferSite, a: &Leg, b: &Leg, extra: &[&str], status: u16) {
    let io = site.io;
    let mut headers = vec![
        format!("Refer-To: {REFER_TO}"),
        format!("Referred-By: {REFERRED_BY}"),
        format!("P-Asserted-Identity: {IDENTITY}"),
    ];
    headers.extend(extra.iter().map(|h| h.to_string()));
    site.platform.ua.send(
        site.sip,
        &b.request("REFER", site.platform.ua.addr(), &headers),
    );
    let (refer, src) = site
        .carrier
        .ua
        .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
            is_request(m, "REFER", &a.call_id)
        });
    assert_eq!(
        refer.header("refer-to"),
        Some(format!("<sip:{TARGET}@{}>", site.carrier.ua.addr()).as_str()),
        "{io}"
    );
    // The brief: carriers refuse a REFER whose From is not one of their verified DIDs, or
    // whose Referred-By / P-Asserted-Identity were changed; a trunk's headers go on its REFERs.
    assert!(
        refer
            .header("from")
            .is_some_and(|f| f.contains(DIALLED_DID)),
        "{io}: REFER From is not the dialled DID: {}",
        refer.raw
    );
    assert_eq!(refer.header("referred-by"), Some(REFERRED_BY), "{io}");
    assert_eq!(refer.header("p-asserted-identity"), Some(IDENTITY), "{io}");
    assert_eq!(refer.header("x-carrier-account"), Some("acct-42"), "{io}");
    let reason = if status == 202 {
        "Accepted"
    } else {
        "Forbidden"
    };
    site.carrier.ua.send(
        src,
        &response(&refer, status, reason, "x", site.carrier.ua.addr(), ""),
    );
}

/// The platform leaves after its NOTIFY 200 (BYE on leg B, answered 200).
fn platform_leaves(site: &TransferSite, b: &Leg) {
    hangs_up(
        site,
        &site.platform.ua,
        b,
        "final response to the platform's BYE",
    );
}

/// RFC 4488 section 4: a REFER-Recipient that processes the REFER without an implicit
/// subscription "MUST insert the Refer-Sub header field set to false in the 2xx response". The
/// platform asked for none: its 202 says so and no NOTIFY reaches it, while the carrier (which
/// answered without Refer-Sub, so it has a subscription, section 4 last paragraph) gets its
/// NOTIFY answered. The carrier's BYE hands the call off.
#[test]
fn refer_sub_false_gets_202_with_refer_sub_false_and_no_notify() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 19000 + i as u16 * 100, 30);
        let (_, a, b) = call_up(&site, &format!("subfalse-{io}"));
        refer_answered_by_carrier(&site, &a, &b, &["Refer-Sub: false"], 202);
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        assert_eq!(
            accepted
                .header("refer-sub")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("false"),
            "{io}: {}",
            accepted.raw
        );

        // The carrier's subscription: NOTIFY 200 (final), answered by handoff.
        let notify = refer_notify(
            &a,
            site.carrier.ua.addr(),
            "200 OK",
            "terminated;reason=noresource",
        );
        site.carrier.ua.send(site.sip, &notify);
        let (notify_ok, _) = site.carrier.ua.expect(
            &format!("{io}: answer to the carrier's NOTIFY"),
            WAIT,
            |m| is_final(m, "NOTIFY", &a.call_id),
        );
        assert_status(io, &notify_ok, 200);

        // The carrier releases the customer: the platform gets BYE, and never a NOTIFY.
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        let (bye, src) =
            site.platform
                .ua
                .expect(&format!("{io}: BYE at the platform"), WAIT, |m| {
                    assert_ne!(
                        m.method(),
                        Some("NOTIFY"),
                        "{io}: NOTIFY despite Refer-Sub: false"
                    );
                    is_request(m, "BYE", &b.call_id)
                });
        site.platform.ua.send(
            src,
            &response(&bye, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        site.platform
            .ua
            .expect_none(Duration::from_millis(300), |m| m.method() == Some("NOTIFY"));
        site.stop();
    }
}

/// The platform holds the customer (re-INVITE with a=sendonly, RFC 3264 section 8.4; the
/// carrier answers a=recvonly) before transferring. The carrier refuses the REFER (403), the
/// partner answers the fallback: the customer, now talking to the partner, is re-INVITEd back
/// to a=sendrecv with G.711 only, and hears the partner.
#[test]
fn held_customer_is_resumed_after_the_local_fallback() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 19200 + i as u16 * 100, 30);
        let (call, a, b) = call_up(&site, &format!("held-{io}"));

        // Hold: platform re-INVITE sendonly -> carrier answers recvonly.
        let hold = platform_holds(&site, &a, &b);
        assert_eq!(direction(&hold.body), "sendonly", "{io}: {}", hold.body);

        refer_answered_by_carrier(&site, &a, &b, &[], 403);
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET);
        let leg_c_port = invite.sdp_audio().expect("SDP offer on leg C");
        let c = partner_answers(&site, &invite, src);

        // The customer is taken off hold.
        let (resume, src) = site.carrier.ua.expect(
            &format!("{io}: resuming re-INVITE at the carrier"),
            WAIT,
            |m| is_request(m, "INVITE", &a.call_id),
        );
        assert_eq!(direction(&resume.body), "sendrecv", "{io}: {}", resume.body);
        let payloads = audio_payloads(&resume.body);
        assert!(
            !payloads.is_empty()
                && payloads
                    .iter()
                    .all(|p| ["0", "8", "101"].contains(&p.as_str())),
            "{io}: the resuming offer is not G.711: {}",
            resume.body
        );
        answers_with_sdp(
            &site.carrier.ua,
            src,
            &resume,
            &sdp_with(site.carrier.rtp_port(), &[0], "sendrecv"),
        );
        site.carrier
            .ua
            .expect(&format!("{io}: ACK of the resume"), WAIT, |m| {
                is_request(m, "ACK", &a.call_id)
            });

        let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
        assert!(!seen.iter().any(|s| *s >= 300), "{io}: NOTIFYs {seen:?}");
        platform_leaves(&site, &b);
        customer_and_partner_hear_each_other(&site, call.handoff_rtp_for_a, leg_c_port);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        assert_eq!(record["fallback_status"], 200, "{io}: {record}");
        customer_ends_bridged_call(&site, &a, &c);
        site.stop();
    }
}

/// Leg C rings (180), then sends early media (183 with SDP, RFC 3261 section 13.2.1 / RFC
/// 3960): the customer hears the target's stream before the answer; after the 200 the two
/// hear each other and the platform is told 200.
#[test]
fn early_media_of_the_fallback_target_reaches_the_customer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 19400 + i as u16 * 100, 30);
        let (call, a, b) = call_up(&site, &format!("early-{io}"));
        refer_answered_by_carrier(&site, &a, &b, &[], 403);
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET);
        let leg_c_port = invite.sdp_audio().expect("SDP offer on leg C");
        partner_rings_with_early_media(&site, &invite, src);
        let early = stream_arrives(
            &site.partner.rtp,
            leg_c_port,
            &site.carrier.rtp,
            call.handoff_rtp_for_a,
            PARTNER_VOICE,
            50,
        );
        assert!(
            early >= 35,
            "{io}: {early} of 50 early-media packets reached the customer"
        );

        let c = partner_answers(&site, &invite, src);
        let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
        assert!(!seen.iter().any(|s| *s >= 300), "{io}: NOTIFYs {seen:?}");
        platform_leaves(&site, &b);
        customer_and_partner_hear_each_other(&site, call.handoff_rtp_for_a, leg_c_port);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        customer_ends_bridged_call(&site, &a, &c);
        site.stop();
    }
}

/// The customer hangs up while leg C rings: leg C is CANCELled, the platform's leg is ended,
/// and the attempt is on record as cancelled.
#[test]
fn customer_hanging_up_during_the_fallback_cancels_the_target() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 19600 + i as u16 * 100, 30);
        let (_, a, b) = call_up(&site, &format!("hangup-{io}"));
        refer_answered_by_carrier(&site, &a, &b, &[], 403);
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET);
        partner_rings(&site, &invite, src);

        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        partner_is_cancelled(&site, &invite);
        let (ok, _) =
            site.carrier
                .ua
                .expect(&format!("{io}: answer to the customer's BYE"), WAIT, |m| {
                    is_final(m, "BYE", &a.call_id)
                });
        assert_status(io, &ok, 200);
        platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "cancelled", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        site.stop();
    }
}

/// SIGTERM while leg C rings: at the drain deadline the customer's and the platform's legs
/// get BYE, leg C is CANCELled, the attempt is on record as cancelled, and handoff exits 0.
#[test]
fn drain_during_the_fallback_ends_all_three_legs() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut site = site(io, 19800 + i as u16 * 100, 2);
        let (_, a, b) = call_up(&site, &format!("drain-{io}"));
        refer_answered_by_carrier(&site, &a, &b, &[], 403);
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET);
        partner_rings(&site, &invite, src);

        site.handoff.signal("TERM");
        partner_is_cancelled(&site, &invite);
        answers_bye(
            &site.carrier.ua,
            &a.call_id,
            "BYE on leg A at the drain deadline",
        );
        platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "cancelled", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        let status = site.handoff.wait_exit(WAIT + Duration::from_secs(2));
        assert!(status.is_some_and(|s| s.success()), "{io}: exit {status:?}");
    }
}
