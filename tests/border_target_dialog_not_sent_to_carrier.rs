//! Real binary (both backends, 2 shards): the platform's Target-Dialog never reaches the
//! carrier (issue 10 item 2: a Target-Dialog from the platform "reaches the carrier
//! untranslated, carrying platform-side identifiers: a topology leak"). handoff writes the
//! carrier's Target-Dialog itself, and only where it helps (RFC 4538 section 1: it tells the
//! recipient which of its dialogs a request is about): beside a Replaces naming another dialog.
//!
//! 1. A blind REFER in the platform's dialog whose Target-Dialog names that dialog as handoff
//!    sees it (RFC 4538 section 3: local-tag = the recipient's tag): the carrier's REFER, in its
//!    own dialog, carries no Target-Dialog and none of the platform's identifiers.
//! 2. An attended REFER (Refer-To with `?Replaces=` naming call 2) whose Target-Dialog names no
//!    dialog of handoff's: the carrier's REFER carries a Target-Dialog naming A1 as the carrier
//!    sees it (local-tag = the carrier's tag), not the platform's value.

mod border_support;
mod golden_support;
mod runtime_support;

use border_support::{SiteOptions, call_up, platform_dials, tag_of, transfer_site};
use golden_support::{carrier_completes, carrier_refer};
use runtime_support::BACKENDS;

#[test]
fn the_platforms_target_dialog_stays_on_the_platform_side() {
    for io in BACKENDS {
        stays_on(io);
    }
}

fn stays_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 31800,
            drain_s: 1,
            carrier: &[],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    // 1. Blind, with the platform's correct Target-Dialog.
    let (_call, a, b) = call_up(&site, &format!("td-blind-{io}"));
    let (handoff_tag, platform_tag) = (tag_of(&b.to), tag_of(&b.from));
    let target_dialog = format!(
        "{};local-tag={handoff_tag};remote-tag={platform_tag}",
        b.call_id
    );
    site.platform.ua.send(
        site.sip,
        &b.request(
            "REFER",
            site.platform.ua.addr(),
            &[
                "Refer-To: <sip:+15559876543@platform.example>".to_owned(),
                format!("Target-Dialog: {target_dialog}"),
            ],
        ),
    );
    let refer = carrier_refer(&site, &a, 202);
    assert!(
        refer.header("target-dialog").is_none(),
        "{io}: {}",
        refer.raw
    );
    for id in [b.call_id.as_str(), &handoff_tag, &platform_tag] {
        assert!(
            !refer.raw.contains(id),
            "{io}: {id} reached the carrier:\n{}",
            refer.raw
        );
    }
    carrier_completes(&site, &a, &b);

    // 2. Attended, with a Target-Dialog naming no dialog of handoff's.
    let (_call, a1, b1) = call_up(&site, &format!("td-attended-{io}"));
    let call2 = platform_dials(
        &site,
        "+15559876543",
        &format!("td-call2-{io}"),
        ("ptag2", "ctag2"),
        site.carrier.rtp_port(),
    );
    let b2_handoff_tag = tag_of(&call2.platform.to);
    let replaces = format!(
        "{}%3Bto-tag%3D{b2_handoff_tag}%3Bfrom-tag%3Dptag2",
        call2.platform.call_id
    );
    site.platform.ua.send(
        site.sip,
        &b1.request(
            "REFER",
            site.platform.ua.addr(),
            &[
                format!("Refer-To: <sip:+15559876543@platform.example?Replaces={replaces}>"),
                "Target-Dialog: ghost-4711@platform.example;local-tag=ghostlocal;remote-tag=ghostremote"
                    .to_owned(),
            ],
        ),
    );
    let refer = carrier_refer(&site, &a1, 202);
    let target = refer.header("target-dialog").unwrap_or_default();
    let mut params: Vec<&str> = target.split(';').skip(1).map(str::trim).collect();
    params.sort();
    let a1_handoff_tag = tag_of(&a1.to);
    assert_eq!(
        (target.split(';').next().unwrap_or_default(), params),
        (
            a1.call_id.as_str(),
            vec![
                "local-tag=atag",
                &format!("remote-tag={a1_handoff_tag}") as &str
            ]
        ),
        "{io}: {}",
        refer.raw
    );
    assert!(!refer.raw.contains("ghost"), "{io}: {}", refer.raw);
    carrier_completes(&site, &a1, &b1);
    let carrier_addr = site.carrier.ua.addr();
    site.carrier
        .ua
        .send(site.sip, &call2.carrier.request("BYE", carrier_addr, &[]));
    border_support::answers_bye(&site.platform.ua, &call2.platform.call_id, "BYE on B2");
    site.stop();
}
