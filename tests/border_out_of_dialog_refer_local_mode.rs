//! Real binary (both backends, 2 shards): an out-of-dialog REFER (RFC 5589 section 6.1) on a
//! call whose carrier trunk has `transfer = "local"` is taken exactly as an in-dialog one: handoff
//! answers 202 itself, INVITEs the target on the partner trunk (leg C), bridges it, and every
//! NOTIFY of its own making (up to the final 200) goes in the dialog the REFER's 202 created
//! (RFC 3515 section 2.4.4: Call-ID of the REFER, To = its From with the phone's tag, From tag
//! = the 202's To tag, Request-URI = the REFER's Contact), never in the call's dialog; no REFER
//! reaches the carrier.

mod border_support;
mod golden_support;
mod runtime_support;

use std::time::Duration;

use border_support::{
    SiteOptions, answers_bye, call_up, is_final, partner_answers, partner_invited, tag_of,
    transfer_site,
};
use golden_support::platform_notify;
use runtime_support::BACKENDS;
use runtime_support::WAIT;

#[test]
fn out_of_dialog_refer_on_a_local_trunk() {
    for io in BACKENDS {
        local_on(io);
    }
}

fn local_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 32000,
            drain_s: 1,
            carrier: &["transfer = \"local\""],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    let (_call, a, b) = call_up(&site, &format!("ood-local-{io}"));
    let target_dialog = format!(
        "{};local-tag={};remote-tag={}",
        b.call_id,
        tag_of(&b.to),
        tag_of(&b.from)
    );
    let platform = &site.platform.ua;
    let p_addr = platform.addr();
    let refer = format!(
        "REFER sip:handoff@{sbc} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {p_addr};branch=z9hG4bK-ood-local\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:handoff@{sbc}>\r\n\
         From: <sip:agent@platform.example>;tag=phone1\r\n\
         Call-ID: ood-local-refer-{io}\r\n\
         CSeq: 7 REFER\r\n\
         Require: tdialog\r\n\
         Refer-To: <sip:+442071234567@platform.example>\r\n\
         Target-Dialog: {target_dialog}\r\n\
         Contact: <sip:phone@{p_addr}>\r\n\
         Content-Length: 0\r\n\r\n",
        sbc = site.sip
    );
    platform.send(site.sip, &refer);
    let call_id = format!("ood-local-refer-{io}");
    let (answer, _) = platform.expect(&format!("{io}: answer to the REFER"), WAIT, |m| {
        is_final(m, "REFER", &call_id)
    });
    assert_eq!(answer.status(), Some(202), "{io}: {}", answer.first_line);
    let dialog2_tag = answer.tag("to").expect("the 202 creates a dialog: To tag");
    assert!(answer.contact_uri().is_some(), "{io}: 202 without Contact");

    let (invite, src) = partner_invited(&site, "+442071234567");
    let _c = partner_answers(&site, &invite, src);
    let mut notifies = Vec::new();
    let notify = platform_notify(&site, 200, &mut notifies);
    for n in &notifies {
        assert_eq!(
            n.header("call-id"),
            Some(call_id.as_str()),
            "{io}: {}",
            n.raw
        );
        assert_eq!(n.tag("to").as_deref(), Some("phone1"), "{io}: {}", n.raw);
        assert_eq!(n.tag("from"), Some(dialog2_tag.clone()), "{io}: {}", n.raw);
        assert!(
            n.first_line
                .starts_with(&format!("NOTIFY sip:phone@{p_addr} ")),
            "{io}: {}",
            n.first_line
        );
    }
    assert!(
        notify
            .header("subscription-state")
            .is_some_and(|s| s.starts_with("terminated"))
    );
    site.carrier
        .ua
        .expect_none(Duration::from_millis(200), |m| m.method() == Some("REFER"));

    // The platform leaves; the carrier ends the call with the partner.
    platform.send(site.sip, &b.request("BYE", p_addr, &[]));
    platform.expect(&format!("{io}: 200 to the platform's BYE"), WAIT, |m| {
        is_final(m, "BYE", &b.call_id)
    });
    site.carrier
        .ua
        .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
    answers_bye(
        &site.partner.ua,
        invite.header("call-id").unwrap_or_default(),
        "BYE on leg C",
    );
    site.stop();
}
