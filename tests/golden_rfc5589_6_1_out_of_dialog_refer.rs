//! Golden, real binary (both backends, 2 shards): RFC 5589 section 6.1 (Figure 1), the basic
//! transfer with the REFER sent outside the dialog. The messages are the RFC's
//! (tests/fixtures/rfc5589/, adjusted as its README says): handoff is the transferee, its F1
//! INVITE to the platform is matched, the platform answers with F2 and sends F3 (REFER outside
//! any dialog, `Require: tdialog`, `Target-Dialog: ...;local-tag=<handoff's tag>;remote-tag=
//! 31kdl4i3k`, folded as printed). RFC 7647 section 4: a UA that accepts REFER processes
//! Target-Dialog; RFC 4538 section 3: the tags are the recipient's view. handoff must transfer
//! the call as for an in-dialog REFER (REFER to the carrier on leg A, E.164 Refer-To, no
//! platform identifier), answer 202 creating dialog 2, and NOTIFY in dialog 2 (F4: 100, F6:
//! 200, RFC 3515 section 2.4.4); the record says `handed_off`.

mod border_support;
mod golden_support;
mod runtime_support;

use border_support::{SiteOptions, answers_bye, transfer_record, transfer_site};
use golden_support::{
    carrier_notifies, carrier_refer, check, golden_call, platform_final, platform_notify, send,
};
use handoff::sim::golden::{
    RFC5589_6_1_202, RFC5589_6_1_F1, RFC5589_6_1_F2, RFC5589_6_1_F3, RFC5589_6_1_F4, RFC5589_6_1_F6,
};
use runtime_support::BACKENDS;

#[test]
fn rfc5589_6_1_replayed_against_the_binary() {
    for io in BACKENDS {
        replayed_on(io);
    }
}

fn replayed_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 31000,
            drain_s: 1,
            carrier: &[],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    let (mut bound, a, b) = golden_call(
        &site,
        &format!("golden61-{io}"),
        RFC5589_6_1_F1,
        RFC5589_6_1_F2,
        "31kdl4i3k",
    );
    bound.insert("TARGET".into(), "+15559876543".into());
    send(&site, &site.platform.ua, RFC5589_6_1_F3, &bound);

    let refer = carrier_refer(&site, &a, 202);
    assert_eq!(
        refer.header("refer-to"),
        Some(format!("<sip:+15559876543@{}>", site.carrier.ua.addr()).as_str()),
        "{io}: {}",
        refer.raw
    );
    assert!(
        refer.header("target-dialog").is_none(),
        "{io}: {}",
        refer.raw
    );
    for id in [
        bound["B1_CALL_ID"].as_str(),
        bound["B1_TAG"].as_str(),
        "31kdl4i3k",
        "a84b4c76e66710",
        "1928301774",
    ] {
        assert!(
            !refer.raw.contains(id),
            "{io}: platform identifier {id} leaked:\n{}",
            refer.raw
        );
    }

    let mut notifies = Vec::new();
    let accepted = platform_final(&site, "a84b4c76e66710", "REFER", &mut notifies);
    check(io, "202", RFC5589_6_1_202, &accepted, &mut bound);
    carrier_notifies(&site, &a, 100, false);
    let f4 = platform_notify(&site, 100, &mut notifies);
    check(io, "F4", RFC5589_6_1_F4, &f4, &mut bound);
    carrier_notifies(&site, &a, 200, true);
    let f6 = platform_notify(&site, 200, &mut notifies);
    check(io, "F6", RFC5589_6_1_F6, &f6, &mut bound);
    assert!(
        notifies
            .iter()
            .all(|n| n.header("call-id") == Some("a84b4c76e66710")),
        "{io}: a NOTIFY went outside dialog 2"
    );

    // The carrier releases its leg; handoff ends the platform's (dialog 1).
    site.carrier
        .ua
        .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
    answers_bye(&site.platform.ua, &b.call_id, "BYE on dialog 1");
    let record = transfer_record(&site);
    assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
    assert_eq!(record["request"], "out_of_dialog_refer", "{io}: {record}");
    site.stop();
}
