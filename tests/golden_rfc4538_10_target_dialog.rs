//! Golden, real binary (both backends, 2 shards): RFC 4538 section 10 (Figure 5) with the RFC's
//! messages (tests/fixtures/rfc4538/). handoff is the caller: its INVITE (message 1) is matched,
//! the platform answers with tag 6544 (message 5) and, as "Server B", sends message 8: REFER
//! outside the dialog, `Require: tdialog`, `Target-Dialog: <Call-ID>;local-tag=<handoff's tag>;
//! remote-tag=6544` (folded as printed), i.e. local-tag = the tag of the REFER's recipient, as
//! section 3 says. handoff recognises the dialog (the REFER is authorised, section 4) and so
//! answers as it would the same REFER in the dialog: 400, its Refer-To
//! (`http://serverB.example.org/ui-component.html`) names nothing handoff can transfer to. The
//! same message with the tags in the sender's view names no dialog of handoff's: ignored
//! (section 4), so not authorised: 403. Nothing reaches the carrier; the call goes on.

mod border_support;
mod golden_support;
mod runtime_support;

use border_support::{SiteOptions, platform_hangs_up, transfer_site};
use golden_support::{golden_call, platform_final};
use handoff::sim::golden::{RFC4538_10_MSG1, RFC4538_10_MSG5, RFC4538_10_MSG8, fill};
use runtime_support::BACKENDS;
use std::time::Duration;

#[test]
fn rfc4538_10_replayed_against_the_binary() {
    for io in BACKENDS {
        replayed_on(io);
    }
}

fn replayed_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 31400,
            drain_s: 1,
            carrier: &[],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    let (bound, a, b) = golden_call(
        &site,
        &format!("golden4538-{io}"),
        RFC4538_10_MSG1,
        RFC4538_10_MSG5,
        "6544",
    );
    let msg8 = String::from_utf8(fill(RFC4538_10_MSG8, &bound)).expect("UTF-8");
    site.platform.ua.send(site.sip, &msg8);
    let mut notifies = Vec::new();
    let call_id = "86d65asfklzll8f7asdr@host.example.com";
    let answer = platform_final(&site, call_id, "REFER", &mut notifies);
    assert_eq!(
        answer.status(),
        Some(400),
        "{io}: message 8 got {}",
        answer.first_line
    );

    // The sender's view of the same dialog (local-tag = the platform's own tag).
    let handoff_tag = &bound["B1_TAG"];
    let swapped = msg8
        .replace(&format!(";local-tag={handoff_tag}"), ";local-tag=6544")
        .replace(";remote-tag=6544", &format!(";remote-tag={handoff_tag}"))
        .replace("z9hG4bK9zz10", "z9hG4bK9zz11")
        .replace(call_id, "86d65asfklzll8f7asdr-2@host.example.com");
    site.platform.ua.send(site.sip, &swapped);
    let answer = platform_final(
        &site,
        "86d65asfklzll8f7asdr-2@host.example.com",
        "REFER",
        &mut notifies,
    );
    assert_eq!(
        answer.status(),
        Some(403),
        "{io}: swapped message 8 got {}",
        answer.first_line
    );
    assert!(notifies.is_empty(), "{io}: NOTIFYs for a refused REFER");
    site.carrier
        .ua
        .expect_none(Duration::from_millis(300), |m| m.method() == Some("REFER"));
    platform_hangs_up(&site, &a, &b);
    site.stop();
}
