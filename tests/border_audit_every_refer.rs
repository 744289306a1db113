//! A transfer record for every REFER handoff receives, and for every INVITE with Replaces
//! (issue 10, "Audit": "A record for every REFER handoff receives: relayed, refused,
//! out-of-dialog, carrier-initiated, and INVITE/Replaces. Each record carries the requester's
//! trunk and source address."), against the real binary, both backends, 2 shards:
//!
//! - a platform REFER without Refer-To: 400 (RFC 3515 section 2.4.1: "A REFER request MUST
//!   contain exactly one Refer-To header field value") -> `outcome: refused`, `answer_status`;
//! - a REFER outside any dialog that names none of ours (no Target-Dialog) -> `refused`,
//!   `request: out_of_dialog_refer`;
//! - an INVITE whose Replaces names no dialog of ours: 481 (RFC 3891 section 3) -> `refused`,
//!   `request: invite_replaces`;
//! - a carrier's REFER (`carrier_refer = "reject"`): 403 -> `kind: carrier_initiated`.
//!
//! Each names the requester's trunk (`requester_trunk`) and its `ip:port` (`source`).

mod border_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    SiteOptions, assert_status, call_up, is_final, platform_hangs_up, transfer_site,
    wait_for_json_line,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::request;

#[test]
fn every_refused_refer_and_invite_with_replaces_is_on_record() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = transfer_site(
            io,
            &SiteOptions {
                media: 42700 + i as u16 * 100,
                drain_s: 30,
                carrier: &[],
                partner_codecs: "[\"PCMA\"]",
            },
        );
        let (p_addr, c_addr) = (site.platform.ua.addr(), site.carrier.ua.addr());
        let record = |what: &str, want: &dyn Fn(&serde_json::Value) -> bool| {
            let found = wait_for_json_line(&site.audit, Duration::from_secs(20), |r| {
                r["type"] == "transfer" && want(r)
            });
            println!("{io}: {what}: {found}");
            found
        };
        let (_, a, b) = call_up(&site, &format!("audit-{io}"));

        // 1. In the dialog, no Refer-To: 400.
        site.platform
            .ua
            .send(site.sip, &b.request("REFER", p_addr, &[]));
        let (answer, _) = site.platform.ua.expect(
            &format!("{io}: answer to the REFER without Refer-To"),
            WAIT,
            |m| is_final(m, "REFER", &b.call_id),
        );
        assert_status(io, &answer, 400);
        let refused = record("refused REFER", &|r| {
            r["outcome"] == "refused" && r["answer_status"] == 400
        });
        assert_eq!(refused["requester_trunk"], "platform", "{io}: {refused}");
        assert_eq!(refused["source"], p_addr.to_string(), "{io}: {refused}");
        assert_eq!(refused["trunk"], "carrier", "{io}: {refused}");
        assert_eq!(refused["reason"], "request_refused", "{io}: {refused}");
        assert!(refused["refer_status"].is_null(), "{io}: {refused}");

        // 2. Outside any dialog (no To tag), naming no dialog of ours.
        let ood = request(
            "REFER",
            p_addr,
            site.sip,
            "+15550001111",
            &format!("ood-{io}"),
            "oodtag",
            1,
            "",
        )
        .replacen(
            "Content-Length",
            "Refer-To: <sip:+15559870000@platform.example>\r\nContent-Length",
            1,
        );
        site.platform.ua.send(site.sip, &ood);
        let ood_id = format!("ood-{io}");
        let (answer, _) = site.platform.ua.expect(
            &format!("{io}: answer to the out-of-dialog REFER"),
            WAIT,
            |m| is_final(m, "REFER", &ood_id),
        );
        assert!(
            answer.status().is_some_and(|s| s >= 400),
            "{io}: {}",
            answer.first_line
        );
        let out_of_dialog = record("out-of-dialog REFER", &|r| {
            r["request"] == "out_of_dialog_refer"
        });
        assert_eq!(out_of_dialog["outcome"], "refused", "{io}: {out_of_dialog}");
        assert_eq!(out_of_dialog["requester_trunk"], "platform", "{io}");
        assert_eq!(out_of_dialog["source"], p_addr.to_string(), "{io}");
        assert_eq!(
            out_of_dialog["answer_status"],
            answer.status().unwrap_or(0),
            "{io}"
        );

        // 3. INVITE with Replaces naming no dialog of ours: 481.
        let replaces = request(
            "INVITE",
            p_addr,
            site.sip,
            "pickup",
            &format!("rep-{io}"),
            "reptag",
            1,
            "",
        )
        .replacen(
            "Content-Length",
            "Replaces: nosuch@10.9.9.9;to-tag=hf0000aaaaaaaaaaaaaaaa;from-tag=zz\r\nContent-Length",
            1,
        );
        site.platform.ua.send(site.sip, &replaces);
        let rep_id = format!("rep-{io}");
        let (answer, _) = site.platform.ua.expect(
            &format!("{io}: answer to the INVITE with Replaces"),
            WAIT,
            |m| is_final(m, "INVITE", &rep_id),
        );
        assert_status(io, &answer, 481);
        let replaced = record("INVITE with Replaces", &|r| {
            r["request"] == "invite_replaces"
        });
        assert_eq!(replaced["outcome"], "refused", "{io}: {replaced}");
        assert_eq!(replaced["answer_status"], 481, "{io}: {replaced}");
        assert_eq!(replaced["requester_trunk"], "platform", "{io}");
        assert_eq!(replaced["source"], p_addr.to_string(), "{io}");

        // 4. The carrier REFERs (default carrier_refer = "reject"): 403.
        site.carrier.ua.send(
            site.sip,
            &a.request(
                "REFER",
                c_addr,
                &["Refer-To: <sip:+15559876543@10.0.0.1>".to_owned()],
            ),
        );
        let (answer, _) =
            site.carrier
                .ua
                .expect(&format!("{io}: answer to the carrier's REFER"), WAIT, |m| {
                    is_final(m, "REFER", &a.call_id)
                });
        assert_status(io, &answer, 403);
        let carrier = record("carrier REFER", &|r| r["kind"] == "carrier_initiated");
        assert_eq!(carrier["requester_trunk"], "carrier", "{io}: {carrier}");
        assert_eq!(carrier["source"], c_addr.to_string(), "{io}: {carrier}");

        platform_hangs_up(&site, &a, &b);
        site.stop();
    }
}
