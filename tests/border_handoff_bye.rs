//! Issue 10, item 10, against the real binary (both backends, 2 shards): a carrier that behaves
//! as an RFC 5589 transferee (baresip, seen in the field) NOTIFYs 200 and then waits for the
//! transferor's BYE instead of sending its own. handoff ends the carrier leg itself
//! `handoff_bye_after_ms` (default 2 s) after the final NOTIFY, BYEs the agent's leg too, and
//! the record says `handed_off` with `ended_by = "handoff"` (not `no_carrier_bye` 32 s later).
//!
//! RFC 5589 section 6.1 (basic transfer): after "NOTIFY (200 OK)" the transferor sends "BYE" to
//! the transferee.

mod border_support;
mod runtime_support;

use border_support::{
    SiteOptions, assert_status, call_up, is_final, is_request, notifies_until,
    platform_answers_until_bye, platform_refer_answer, refer_notify, transfer_record,
    transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::response;

#[test]
fn handoff_byes_a_carrier_that_waits_after_its_final_notify() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = transfer_site(
            io,
            &SiteOptions {
                media: 23_800 + i as u16 * 100,
                drain_s: 30,
                carrier: &[],
                partner_codecs: "[\"PCMU\"]",
            },
        );
        let (_, a, b) = call_up(&site, &format!("bye-{io}"));
        site.platform.ua.send(
            site.sip,
            &b.request(
                "REFER",
                site.platform.ua.addr(),
                &["Refer-To: <sip:+15559876543@platform.example>".to_owned()],
            ),
        );
        let (refer, src) =
            site.carrier
                .ua
                .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
                    is_request(m, "REFER", &a.call_id)
                });
        site.carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        assert_status(io, &platform_refer_answer(&site, &b.call_id), 202);
        for (status, state) in [
            ("100 Trying", "active;expires=60"),
            ("200 OK", "terminated;reason=noresource"),
        ] {
            site.carrier.ua.send(
                site.sip,
                &refer_notify(&a, site.carrier.ua.addr(), status, state),
            );
            let (ok, _) =
                site.carrier
                    .ua
                    .expect(&format!("{io}: answer to NOTIFY {status}"), WAIT, |m| {
                        is_final(m, "NOTIFY", &a.call_id)
                            && m.header("cseq") == Some(format!("{} NOTIFY", a.cseq()).as_str())
                    });
            assert_status(io, &ok, 200);
        }
        notifies_until(&site.platform.ua, 200, WAIT);
        // The carrier sends no BYE: handoff's comes (2 s after the NOTIFY 200).
        let (bye, src) =
            site.carrier
                .ua
                .expect(&format!("{io}: handoff's BYE at the carrier"), WAIT, |m| {
                    is_request(m, "BYE", &a.call_id)
                });
        site.carrier.ua.send(
            src,
            &response(&bye, 200, "OK", "x", site.carrier.ua.addr(), ""),
        );
        platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["reason"], "handoff_bye", "{io}: {record}");
        assert_eq!(record["ended_by"], "handoff", "{io}: {record}");
        site.stop();
    }
}
