//! Against the real binary, both backends: a dialer call (the platform calls a customer out
//! through the carrier, so the carrier's leg is leg B) is transferred by the platform's REFER
//! exactly as an inbound call would be. The carrier gets the REFER in its own dialog with the
//! target in E.164 at its own host (the carrier trunk has no `refer_domain`: its peer address),
//! Referred-By and P-Asserted-Identity as the platform sent them; its 202 and NOTIFY reach the
//! platform, its BYE ends the call, and the audit records the handoff.

mod border_support;
mod runtime_support;

use std::net::SocketAddr;
use std::time::Duration;

use border_support::{
    IDENTITY, REFERRED_BY, assert_exits_cleanly, expect_all, wait_for_json_line, with_body,
    with_headers,
};
use runtime_support::call::{Endpoint, WAIT};
use runtime_support::ua::{Msg, in_dialog, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, setup};

const CUSTOMER: &str = "+15557654321";
const REFER_TO: &str = "<sip:5559876543@platform.example>";

#[test]
fn dialer_call_refer_is_handed_off_to_the_carrier() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 18600 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let (p_addr, c_addr) = (platform.ua.addr(), carrier.ua.addr());

        // The platform dials the customer; the default routes send it to the carrier.
        let call_id = format!("dialer-{io}");
        platform.ua.send(
            s.sip,
            &request(
                "INVITE",
                p_addr,
                s.sip,
                CUSTOMER,
                &call_id,
                "ptag",
                1,
                &sdp(platform.rtp_port()),
            ),
        );
        let (c_invite, c_src) = carrier.ua.expect(
            &format!("{io}: the dialer's INVITE at the carrier"),
            WAIT,
            |m| m.method() == Some("INVITE"),
        );
        assert_eq!(c_src, s.sip);
        assert!(
            c_invite.first_line.contains(CUSTOMER),
            "{io}: {}",
            c_invite.first_line
        );
        carrier.ua.send(
            c_src,
            &response(
                &c_invite,
                200,
                "OK",
                "ctag",
                c_addr,
                &sdp(carrier.rtp_port()),
            ),
        );
        let (p_ok, _) = platform
            .ua
            .expect(&format!("{io}: 200 to the dialer"), WAIT, |m| {
                m.status() == Some(200) && m.cseq_method() == Some("INVITE")
            });
        // The platform's dialog (it is the caller) and the carrier's (it is the callee).
        let p_from = p_ok.header("from").unwrap().to_owned();
        let p_to = p_ok.header("to").unwrap().to_owned();
        let p_target = p_ok.contact_uri().expect("Contact in the 200");
        let c_call_id = c_invite.header("call-id").unwrap().to_owned();
        let c_from = format!("{};tag=ctag", c_invite.header("to").unwrap());
        let c_to = c_invite.header("from").unwrap().to_owned();
        let c_target = c_invite.contact_uri().expect("Contact in the INVITE");
        assert_ne!(c_call_id, call_id, "{io}: B2BUA: the carrier's own Call-ID");
        platform.ua.send(
            s.sip,
            &in_dialog("ACK", &p_target, p_addr, &call_id, &p_from, &p_to, 1, "ack"),
        );
        carrier
            .ua
            .expect(&format!("{io}: ACK at the carrier"), WAIT, |m| {
                m.method() == Some("ACK")
            });

        // The agent transfers the customer.
        let refer = with_headers(
            &in_dialog(
                "REFER", &p_target, p_addr, &call_id, &p_from, &p_to, 2, "refer",
            ),
            &[
                format!("Refer-To: {REFER_TO}"),
                format!("Referred-By: {REFERRED_BY}"),
                format!("P-Asserted-Identity: {IDENTITY}"),
            ],
        );
        platform.ua.send(s.sip, &refer);
        let (c_refer, c_src) =
            carrier
                .ua
                .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
                    m.method() == Some("REFER")
                });
        assert_eq!(c_src, s.sip);
        assert_eq!(
            c_refer.header("call-id"),
            Some(c_call_id.as_str()),
            "{io}: the REFER is in the carrier's own dialog"
        );
        assert_eq!(c_refer.tag("to").as_deref(), Some("ctag"), "{io}");
        assert_eq!(c_refer.tag("from"), c_invite.tag("from"), "{io}");
        assert_eq!(
            c_refer.header("refer-to"),
            Some(format!("<sip:+15559876543@{c_addr}>").as_str()),
            "{io}"
        );
        assert_eq!(c_refer.header("referred-by"), Some(REFERRED_BY), "{io}");
        assert_eq!(
            c_refer.header("p-asserted-identity"),
            Some(IDENTITY),
            "{io}"
        );

        // 202 -> the platform's 202.
        carrier.ua.send(
            c_src,
            &response(&c_refer, 202, "Accepted", "ctag", c_addr, ""),
        );
        let (p_202, _) = platform.ua.expect(
            &format!("{io}: a final response to the platform's REFER"),
            WAIT,
            |m| m.status().is_some_and(|s| s >= 200) && m.cseq_method() == Some("REFER"),
        );
        assert_eq!(p_202.status(), Some(202), "{io}: {}", p_202.first_line);

        // The carrier's final NOTIFY -> a NOTIFY with that sipfrag at the platform.
        let notify = with_body(
            &with_headers(
                &in_dialog(
                    "NOTIFY", &c_target, c_addr, &c_call_id, &c_from, &c_to, 1, "notify",
                ),
                &[
                    "Event: refer".to_owned(),
                    "Subscription-State: terminated;reason=noresource".to_owned(),
                ],
            ),
            "message/sipfrag",
            "SIP/2.0 200 OK\r\n",
        );
        carrier.ua.send(s.sip, &notify);
        let (c_notify_ok, p_notify) = {
            let found = expect_all_answering_notifies(&carrier, &platform, io);
            (found.0, found.1)
        };
        assert_eq!(c_notify_ok.status(), Some(200), "{io}");
        assert_eq!(
            p_notify.header("call-id"),
            Some(call_id.as_str()),
            "{io}: the NOTIFY is in the platform's dialog"
        );
        assert_eq!(p_notify.header("event"), Some("refer"), "{io}");
        assert!(
            p_notify
                .header("content-type")
                .is_some_and(|c| c.starts_with("message/sipfrag")),
            "{io}: {:?}",
            p_notify.header("content-type")
        );

        // The carrier releases the customer: the platform gets BYE.
        carrier.ua.send(
            s.sip,
            &in_dialog(
                "BYE", &c_target, c_addr, &c_call_id, &c_from, &c_to, 2, "bye",
            ),
        );
        let (p_bye, p_src) = platform
            .ua
            .expect(&format!("{io}: BYE at the platform"), WAIT, |m| {
                m.method() == Some("BYE")
            });
        assert_eq!(p_bye.header("call-id"), Some(call_id.as_str()), "{io}");
        platform
            .ua
            .send(p_src, &response(&p_bye, 200, "OK", "ptag", p_addr, ""));
        carrier
            .ua
            .expect(&format!("{io}: 200 to the BYE"), WAIT, |m| {
                m.status() == Some(200) && m.cseq_method() == Some("BYE")
            });

        let record = wait_for_json_line(&s.audit_path, Duration::from_secs(10), |r| {
            r["type"] == "transfer"
        });
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["trunk"], "carrier", "{io}: {record}");
        assert_eq!(record["target_e164"], "+15559876543", "{io}: {record}");
        // Issue 9: the record names who asked for the transfer (the REFER's source).
        assert_eq!(
            record["source"],
            platform.ua.addr().to_string(),
            "{io}: {record}"
        );

        assert_exits_cleanly(&mut handoff, io, Duration::from_secs(20));
    }
}

/// The carrier's 200 to its NOTIFY, and the platform's NOTIFY carrying the 200 sipfrag; NOTIFYs
/// the platform gets on the way (e.g. a 100 Trying sipfrag of handoff's own) are answered 200.
fn expect_all_answering_notifies(carrier: &Endpoint, platform: &Endpoint, io: &str) -> (Msg, Msg) {
    let is_notify = |m: &Msg| m.method() == Some("NOTIFY");
    let mut last = None;
    for _ in 0..5 {
        let (notify, src): (Msg, SocketAddr) =
            platform
                .ua
                .expect(&format!("{io}: NOTIFY at the platform"), WAIT, is_notify);
        platform.ua.send(
            src,
            &response(&notify, 200, "OK", "ptag", platform.ua.addr(), ""),
        );
        if notify.body == "SIP/2.0 200 OK\r\n" {
            last = Some(notify);
            break;
        }
    }
    let p_notify = last.unwrap_or_else(|| panic!("{io}: no NOTIFY with the 200 sipfrag"));
    let found = expect_all(
        &carrier.ua,
        WAIT,
        &[("200 to the carrier's NOTIFY", &|m: &Msg| {
            m.status().is_some() && m.cseq_method() == Some("NOTIFY")
        })],
    );
    (found[0].0.clone(), p_notify)
}
