//! Attack (toll fraud), against the real binary on both backends: the platform side names a
//! premium-rate number as a transfer target. The carrier trunk's `transfer_deny` covers it, so
//! handoff refuses the REFER with 403 "transfer target not allowed" before anything leaves: no
//! REFER to the carrier, no INVITE of its own, the call stays up, and the audit records the
//! attempt as `denied` with the number it named.

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    REFERRED_BY, SiteOptions, assert_status, call_up, is_request, platform_hangs_up,
    platform_refer_answer, transfer_record, transfer_site,
};

#[test]
fn a_refer_to_a_denied_number_is_refused_and_nothing_is_dialled() {
    for (i, io) in runtime_support::BACKENDS.iter().enumerate() {
        let mut site = transfer_site(
            io,
            &SiteOptions {
                media: 19200 + i as u16 * 100,
                drain_s: 30,
                carrier: &["transfer_deny = [\"+1900\", \"+1976\"]"],
                partner_codecs: "[\"PCMU\"]",
            },
        );
        let (_call, a, b) = call_up(&site, &format!("premium-{io}"));
        // A national number the platform's agent typed: +1 900 555 0199 once normalised.
        let headers = vec![
            "Refer-To: <sip:9005550199@platform.example>".to_string(),
            format!("Referred-By: {REFERRED_BY}"),
        ];
        site.platform.ua.send(
            site.sip,
            &b.request("REFER", site.platform.ua.addr(), &headers),
        );
        let answer = platform_refer_answer(&site, &b.call_id);
        assert_status(io, &answer, 403);
        // The peer gets the generic phrase (topology hiding); the reason is in the log.
        assert_eq!(answer.first_line, "SIP/2.0 403 Forbidden", "{io}");
        let detail = site.handoff.wait_for_log(
            "detail=Forbidden (transfer target not allowed)",
            runtime_support::WAIT,
        );
        // Nothing went out: no REFER on the carrier's leg, no INVITE to any trunk.
        site.carrier
            .ua
            .expect_none(Duration::from_millis(500), |m| {
                is_request(m, "REFER", &a.call_id)
            });
        site.partner
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("INVITE"));
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "denied", "{io}: {record}");
        assert_eq!(record["reason"], "target_not_allowed", "{io}: {record}");
        assert_eq!(record["target_e164"], "+19005550199", "{io}: {record}");
        // The log line names the call (issue 11: the conversation id on call-related lines).
        let conversation = record["conversation"].as_str().unwrap();
        assert!(
            detail.contains(&format!("conversation={conversation} ")),
            "{io}: {detail}"
        );
        // The call is as it was: the platform ends it normally.
        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}
