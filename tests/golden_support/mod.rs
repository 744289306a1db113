//! Helpers of the `golden_*` real-binary tests: the RFC messages of tests/fixtures/rfc5589 and
//! rfc4538 (filled and matched by `handoff::sim::golden`, written on `sipwire`) exchanged with
//! the real binary over UDP, on a `border_support::TransferSite` (2 shards). handoff is the
//! transferee (RFC 5589) / the caller (RFC 4538 section 10): it INVITEs the platform on leg B.
#![allow(dead_code)]

use std::net::SocketAddr;

use crate::border_support::{Leg, TransferSite, is_final, is_request};
use crate::runtime_support::WAIT;
use crate::runtime_support::ua::{Msg, Ua, in_dialog, request, response, sdp};
use handoff::sim::golden::{Vars, fill, matches, vars};

/// `fixture` filled with `bound`, sent from `ua` to handoff.
pub fn send(site: &TransferSite, ua: &Ua, fixture: &str, bound: &Vars) {
    let bytes = fill(fixture, bound);
    ua.socket.send_to(&bytes, site.sip).expect("send");
}

/// Checks `message` against `fixture`, binding its placeholders; panics with the difference.
pub fn check(io: &str, what: &str, fixture: &str, message: &Msg, bound: &mut Vars) {
    if let Err(error) = matches(fixture, message.raw.as_bytes(), bound) {
        panic!("{io}: {what}: {error}");
    }
}

/// The call of the golden flows: the carrier INVITEs (Call-ID `call_id`), handoff's INVITE on
/// leg B is checked against `f1`, the platform answers with `f2` (the RFC's 200, its tag
/// `platform_tag`), the ACKs go through. Returns the bound values (B1_CALL_ID, B1_TAG,
/// HANDOFF_CONTACT_URI, PLATFORM...), the carrier's leg A and the platform's leg B.
pub fn golden_call(
    site: &TransferSite,
    call_id: &str,
    f1: &str,
    f2: &str,
    platform_tag: &str,
) -> (Vars, Leg, Leg) {
    let io = site.io;
    let (carrier, platform) = (&site.carrier, &site.platform);
    let a_addr = carrier.ua.addr();
    let invite = request(
        "INVITE",
        a_addr,
        site.sip,
        "+15550001111",
        call_id,
        "atag",
        1,
        &sdp(carrier.rtp_port()),
    );
    carrier.ua.send(site.sip, &invite);
    let (f1_msg, src) = platform.ua.expect(&format!("{io}: F1 INVITE"), WAIT, |m| {
        m.method() == Some("INVITE")
    });
    let platform_addr = platform.ua.addr().to_string();
    let mut bound = vars(&[("PLATFORM", &platform_addr)]);
    check(io, "F1", f1, &f1_msg, &mut bound);
    bound.insert("F1_VIA".into(), f1_msg.all("via").join(", "));
    bound.insert(
        "F1_TO".into(),
        f1_msg.header("to").unwrap_or_default().into(),
    );
    bound.insert(
        "F1_FROM".into(),
        f1_msg.header("from").unwrap_or_default().into(),
    );
    bound.insert("SDP".into(), sdp(platform.rtp_port()));
    let f2_bytes = fill(f2, &bound);
    platform.ua.socket.send_to(&f2_bytes, src).expect("send F2");
    let (ok, _) = carrier
        .ua
        .expect(&format!("{io}: 200 at the carrier"), WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
    let a_from = ok.header("from").unwrap_or_default().to_owned();
    let a_to = ok.header("to").unwrap_or_default().to_owned();
    let a_target = ok.contact_uri().expect("Contact in the 200");
    carrier.ua.send(
        site.sip,
        &in_dialog(
            "ACK",
            &a_target,
            a_addr,
            call_id,
            &a_from,
            &a_to,
            1,
            &format!("{call_id}-ack"),
        ),
    );
    platform
        .ua
        .expect(&format!("{io}: ACK on leg B"), WAIT, |m| {
            m.method() == Some("ACK")
        });
    let a = Leg::new(call_id, &a_from, &a_to, &a_target, 1);
    let b = Leg::new(
        &bound["B1_CALL_ID"],
        &format!("{};tag={platform_tag}", bound["F1_TO"]),
        &bound["F1_FROM"],
        &bound["HANDOFF_CONTACT_URI"],
        0,
    );
    (bound, a, b)
}

/// The carrier's REFER in its dialog `a` (answered `status`), returned.
pub fn carrier_refer(site: &TransferSite, a: &Leg, status: u16) -> Msg {
    let (refer, src) =
        site.carrier
            .ua
            .expect(&format!("{}: REFER at the carrier", site.io), WAIT, |m| {
                is_request(m, "REFER", &a.call_id)
            });
    let reason = if status == 202 {
        "Accepted"
    } else {
        "Whatever"
    };
    site.carrier.ua.send(
        src,
        &response(&refer, status, reason, "x", site.carrier.ua.addr(), ""),
    );
    refer
}

/// The carrier NOTIFYs sipfrag `status` in its dialog `a` and gets handoff's 200.
pub fn carrier_notifies(site: &TransferSite, a: &Leg, status: u16, terminated: bool) {
    let state = if terminated {
        "Subscription-State: terminated;reason=noresource"
    } else {
        "Subscription-State: active;expires=60"
    };
    let notify = crate::border_support::with_body(
        &a.request(
            "NOTIFY",
            site.carrier.ua.addr(),
            &["Event: refer".to_owned(), state.to_owned()],
        ),
        "message/sipfrag;version=2.0",
        &format!("SIP/2.0 {status} Whatever\r\n"),
    );
    site.carrier.ua.send(site.sip, &notify);
    let (ok, _) = site.carrier.ua.expect(
        &format!("{}: 200 to the carrier's NOTIFY {status}", site.io),
        WAIT,
        |m| is_final(m, "NOTIFY", &a.call_id),
    );
    assert_eq!(ok.status(), Some(200), "{}: {}", site.io, ok.first_line);
}

/// The final response the platform gets to the request with Call-ID `call_id` and CSeq method
/// `method`, skipping (and answering 200) anything else, NOTIFYs included (kept in `notifies`).
pub fn platform_final(
    site: &TransferSite,
    call_id: &str,
    method: &str,
    notifies: &mut Vec<Msg>,
) -> Msg {
    loop {
        let (m, src) = site.platform.ua.expect(
            &format!("{}: final response to the {method} {call_id}", site.io),
            WAIT,
            |_| true,
        );
        if is_final(&m, method, call_id) {
            return m;
        }
        if m.method() == Some("NOTIFY") {
            answer_ok(&site.platform.ua, src, &m);
            notifies.push(m);
        }
    }
}

/// Answers `request` 200 from `ua`.
pub fn answer_ok(ua: &Ua, src: SocketAddr, request: &Msg) {
    ua.send(src, &response(request, 200, "OK", "x", ua.addr(), ""));
}

/// The platform's NOTIFYs (answered 200, kept in `notifies`) until one with sipfrag `status`.
pub fn platform_notify(site: &TransferSite, status: u16, notifies: &mut Vec<Msg>) -> Msg {
    let sipfrag = |m: &Msg| crate::border_support::sipfrag_status(&m.body);
    if let Some(found) = notifies.iter().find(|m| sipfrag(m) == Some(status)) {
        return found.clone();
    }
    loop {
        let (m, src) = site.platform.ua.expect(
            &format!("{}: NOTIFY {status} at the platform", site.io),
            WAIT,
            |m| m.method() == Some("NOTIFY"),
        );
        answer_ok(&site.platform.ua, src, &m);
        notifies.push(m.clone());
        if sipfrag(&m) == Some(status) {
            return m;
        }
    }
}

/// After the carrier's 202: it reports 200 and releases leg A; handoff ends the platform's
/// leg `b`, whose BYE the platform answers (NOTIFYs on the way are skipped).
pub fn carrier_completes(site: &TransferSite, a: &Leg, b: &Leg) {
    carrier_notifies(site, a, 200, true);
    site.carrier
        .ua
        .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
    crate::border_support::answers_bye(&site.platform.ua, &b.call_id, "BYE on leg B");
}
