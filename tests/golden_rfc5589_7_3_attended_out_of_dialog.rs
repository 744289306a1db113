//! Golden, real binary (both backends, 2 shards): RFC 5589 section 7.3 (Figure 7), the attended
//! transfer, with the RFC's messages (tests/fixtures/rfc5589/, adjusted as its README says,
//! including F5's two printing errors). Dialog 1: handoff's F1 INVITE to the platform is
//! matched, the platform answers F2 (tag 31431). Dialog 2: the platform sends F3 (Call-ID
//! 592435881734450904, tag 763231) through handoff to the carrier. Then F5: REFER outside any
//! dialog, `Target-Dialog` naming dialog 1 as handoff sees it, Refer-To with `?Replaces=`
//! naming dialog 2 as handoff sees it (RFC 3891 section 3). The carrier's REFER comes in A1
//! with the Replaces naming A2 and a Target-Dialog naming A1, both as the carrier sees them
//! (RFC 4538 section 3), and nothing of the platform's identifiers; the platform gets the 202
//! and the final NOTIFY in the REFER's dialog.

mod border_support;
mod golden_support;
mod runtime_support;

use border_support::{
    Leg, SiteOptions, answers_bye, answers_with_sdp, is_final, tag_of, transfer_site,
};
use golden_support::{
    carrier_notifies, carrier_refer, check, golden_call, platform_final, platform_notify, send,
};
use handoff::sim::golden::{
    RFC5589_6_1_202, RFC5589_6_1_F1, RFC5589_6_1_F6, RFC5589_7_3_F2, RFC5589_7_3_F3,
    RFC5589_7_3_F5, fill,
};
use runtime_support::BACKENDS;
use runtime_support::WAIT;
use runtime_support::ua::{in_dialog, sdp};

/// The parameters of a `callid;name=value...` value, unescaped first when `escaped`.
fn parts(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = value.split(';');
    let call_id = pieces.next().unwrap_or_default().trim().to_owned();
    let mut params: Vec<(String, String)> = pieces
        .filter_map(|p| {
            let (n, v) = p.split_once('=')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    params.sort();
    (call_id, params)
}

fn unescape(value: &str) -> String {
    value
        .replace("%3B", ";")
        .replace("%3b", ";")
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%40", "@")
}

#[test]
fn rfc5589_7_3_replayed_against_the_binary() {
    for io in BACKENDS {
        replayed_on(io);
    }
}

fn replayed_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 31200,
            drain_s: 1,
            carrier: &[],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    let (mut bound, a1, _b1) = golden_call(
        &site,
        &format!("golden73-{io}"),
        RFC5589_6_1_F1,
        RFC5589_7_3_F2,
        "31431",
    );
    // Dialog 2: F3, routed platform -> carrier.
    bound.insert("TARGET".into(), "+15559876543".into());
    bound.insert("SBC".into(), site.sip.to_string());
    bound.insert("SDP".into(), sdp(site.platform.rtp_port()));
    let f3 = fill(RFC5589_7_3_F3, &bound);
    site.platform
        .ua
        .socket
        .send_to(&f3, site.sip)
        .expect("send F3");
    let (a2_invite, src) = site
        .carrier
        .ua
        .expect(&format!("{io}: A2's INVITE"), WAIT, |m| {
            m.method() == Some("INVITE")
        });
    answers_with_sdp(
        &site.carrier.ua,
        src,
        &a2_invite,
        &sdp(site.carrier.rtp_port()),
    );
    let (ok, _) = site
        .platform
        .ua
        .expect(&format!("{io}: 200 to F3"), WAIT, |m| {
            is_final(m, "INVITE", "592435881734450904")
        });
    assert_eq!(ok.status(), Some(200), "{io}: {}", ok.first_line);
    let b2_tag = ok.tag("to").expect("handoff's tag on B2");
    let b2_target = ok.contact_uri().expect("Contact");
    site.platform.ua.send(
        site.sip,
        &in_dialog(
            "ACK",
            &b2_target,
            site.platform.ua.addr(),
            "592435881734450904",
            "<sips:transferor@atlanta.example.com>;tag=763231",
            ok.header("to").unwrap_or_default(),
            29887,
            "golden73-ack2",
        ),
    );
    let (a2_ack, _) = site
        .carrier
        .ua
        .expect(&format!("{io}: ACK on A2"), WAIT, |m| {
            m.method() == Some("ACK")
        });
    let a2_call_id = a2_ack.header("call-id").unwrap_or_default().to_owned();
    let a2_handoff_tag = tag_of(a2_ack.header("from").unwrap_or_default());

    // F5.
    bound.insert("B2_TAG".into(), b2_tag.clone());
    send(&site, &site.platform.ua, RFC5589_7_3_F5, &bound);
    let refer = carrier_refer(&site, &a1, 202);
    let refer_to = refer.header("refer-to").unwrap_or_default();
    let escaped = refer_to
        .split_once("?Replaces=")
        .map(|(_, r)| r.trim_end_matches('>'))
        .expect("a Replaces in the carrier's Refer-To");
    // A2 as the carrier sees it: to-tag = the carrier's own ("x", its answer's tag).
    assert_eq!(
        parts(&unescape(escaped)),
        parts(&format!("{a2_call_id};to-tag=x;from-tag={a2_handoff_tag}")),
        "{io}: {refer_to}"
    );
    // A1 as the carrier sees it: local-tag = the carrier's tag ("atag"), remote-tag = handoff's.
    let a1_handoff_tag = tag_of(&a1.to);
    assert_eq!(
        parts(refer.header("target-dialog").unwrap_or_default()),
        parts(&format!(
            "{};local-tag=atag;remote-tag={a1_handoff_tag}",
            a1.call_id
        )),
        "{io}: {}",
        refer.raw
    );
    for id in [
        bound["B1_CALL_ID"].as_str(),
        bound["B1_TAG"].as_str(),
        b2_tag.as_str(),
        "592435881734450904",
        "31431",
        "763231",
        "a84b4c76e66710",
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
    carrier_notifies(&site, &a1, 200, true);
    let notify = platform_notify(&site, 200, &mut notifies);
    check(io, "NOTIFY (200 OK)", RFC5589_6_1_F6, &notify, &mut bound);

    // The carrier joined its two calls: it releases both of handoff's carrier legs, and handoff
    // ends dialog 1 and relays the end of dialog 2 to the platform.
    let a2 = Leg::new(
        &a2_call_id,
        &format!("{};tag=x", a2_invite.header("to").unwrap_or_default()),
        a2_invite.header("from").unwrap_or_default(),
        &a2_invite.contact_uri().expect("A2's Contact"),
        0,
    );
    let carrier_addr = site.carrier.ua.addr();
    site.carrier
        .ua
        .send(site.sip, &a1.request("BYE", carrier_addr, &[]));
    site.carrier
        .ua
        .send(site.sip, &a2.request("BYE", carrier_addr, &[]));
    answers_bye(&site.platform.ua, &bound["B1_CALL_ID"], "BYE on dialog 1");
    answers_bye(&site.platform.ua, "592435881734450904", "BYE on dialog 2");
    site.stop();
}
