//! Issue 10, item 4 (real binary, both backends, 2 shards): "Desk-phone targets are refused.
//! `Refer-To: <sip:2002@pbx.local>` (an extension) gets 400 `target_not_a_number`". Now a target
//! that is not a telephone number is transferred locally when a route takes it, by `domain`
//! (`pbx.local` -> partner) or by extension prefix, even on a `transfer = "refer"` trunk: no
//! REFER reaches the carrier (carriers route E.164 only). A name no route takes gets 404.

mod e2e_targets_support;

use std::time::Duration;

use e2e_targets_support::*;

#[test]
fn an_extension_at_a_routed_domain_is_transferred_locally() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37000 + i as u16 * 40, with_pbx_domain_route);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        let status = platform_refers(&mut e2e, &mut call, "<sip:2002@pbx.local>", &[]);
        assert_eq!(status, 202, "{io}");
        let invite = request_at(&mut e2e, PARTNER, "INVITE");
        assert!(
            request_uri(&invite).starts_with("sip:2002@"),
            "{io}: leg C to {}",
            invite.first_line
        );
        target_answers(&mut e2e, &invite);
        assert!(
            !receives(&mut e2e, CARRIER, "REFER", Duration::from_millis(300)),
            "{io}: an extension was REFERed to the carrier"
        );
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "fallback_local", "{record}");
        assert_eq!(record["reason"], "local_target", "{record}");
        assert_eq!(record["method"], "local", "{record}");
        assert_eq!(record["target"], "sip:2002@pbx.local", "{record}");
        assert!(record["target_e164"].is_null(), "{record}");
        e2e.stop();
    }
}

#[test]
fn a_name_no_route_takes_gets_404() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37100 + i as u16 * 40, with_pbx_domain_route);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        let status = platform_refers(&mut e2e, &mut call, "<sip:sales-desk@nowhere.example>", &[]);
        assert_eq!(status, 404, "{io}");
        assert!(
            !receives(&mut e2e, PARTNER, "INVITE", Duration::from_millis(300)),
            "{io}: an unroutable name was dialled"
        );
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "failed", "{record}");
        assert_eq!(record["reason"], "target_not_a_number", "{record}");
        e2e.stop();
    }
}

fn own_pbx(text: String) -> String {
    format!("{text}\n[[route]]\nfrom = \"platform\"\ndomain = \"pbx.local\"\nto = \"platform\"\n")
}

/// A desk phone on the platform's own PBX: a `domain` route may send the transfer back to the
/// trunk the REFER came from (it routes transfer targets only); leg C reaches the platform.
#[test]
fn an_extension_on_the_platforms_own_pbx_is_reached_through_it() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37160 + i as u16 * 40, own_pbx);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        let status = platform_refers(&mut e2e, &mut call, "<sip:2002@pbx.local>", &[]);
        assert_eq!(status, 202, "{io}");
        let invite = request_at(&mut e2e, PLATFORM, "INVITE");
        assert!(
            request_uri(&invite).starts_with("sip:2002@"),
            "{io}: leg C to {}",
            invite.first_line
        );
        e2e.cast[PLATFORM]
            .answer(&invite, "desk-2002")
            .expect("200");
        e2e.cast
            .wait(PLATFORM, "NOTIFY 200", STEP, |m| {
                m.is_request("NOTIFY") && m.sipfrag_status() >= Some(200)
            })
            .expect("platform NOTIFYed 200");
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "fallback_local", "{record}");
        assert_eq!(record["reason"], "local_target", "{record}");
        e2e.stop();
    }
}
