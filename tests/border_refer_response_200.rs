//! Issue 10 (RFC 7647 section 5), against the real binary (both backends, 2 shards): a platform
//! trunk with `refer_response = 200` gets 200, not 202, to a REFER the carrier accepted (the
//! RFC: an element "MUST treat any 202 responses received as identical to a 200 response"; some
//! older clients want 200). The carrier still gets handoff's REFER and the transfer completes.

mod border_support;
mod runtime_support;

use border_support::{
    Leg, Site, TrunkSpec, assert_status, config_text_prefixed, is_final, is_request, legs_of,
    refer_notify,
};
use runtime_support::call::{Endpoint, WAIT, establish};
use runtime_support::ua::response;
use runtime_support::{BACKENDS, Handoff};

#[test]
fn a_platform_trunk_asking_for_200_gets_200() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let media = 26_000 + i as u16 * 100;
        let s = runtime_support::setup(io, media, 2, 5);
        let carrier = Endpoint::new(s.carrier.try_clone().expect("carrier socket"), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().expect("platform socket"), "platform");
        let text = config_text_prefixed(
            &Site {
                io,
                sip: s.sip,
                media,
                shards: 2,
                drain_s: 5,
                audit: &s.audit_path,
            },
            &[
                TrunkSpec::new("carrier", "carrier", carrier.ua.addr()),
                TrunkSpec::new("platform", "platform", platform.ua.addr())
                    .with("refer_response = 200"),
            ],
            &[("carrier", "", "platform"), ("platform", "", "carrier")],
        );
        std::fs::write(&s.config_path, text).expect("write the config");
        let mut handoff = Handoff::start(&s.config_path);
        let call = establish(s.sip, &carrier, &platform, &format!("r200-{io}"));
        let (a, b): (Leg, Leg) = legs_of(&call);
        platform.ua.send(
            s.sip,
            &b.request(
                "REFER",
                platform.ua.addr(),
                &["Refer-To: <sip:+15559876543@platform.example>".to_owned()],
            ),
        );
        let (refer, src) = carrier
            .ua
            .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
                is_request(m, "REFER", &a.call_id)
            });
        carrier.ua.send(
            src,
            &response(&refer, 202, "Accepted", "x", carrier.ua.addr(), ""),
        );
        let (answer, _) = platform
            .ua
            .expect(&format!("{io}: answer to the REFER"), WAIT, |m| {
                is_final(m, "REFER", &b.call_id)
            });
        assert_status(io, &answer, 200);
        carrier.ua.send(
            s.sip,
            &refer_notify(
                &a,
                carrier.ua.addr(),
                "200 OK",
                "terminated;reason=noresource",
            ),
        );
        carrier
            .ua
            .send(s.sip, &a.request("BYE", carrier.ua.addr(), &[]));
        loop {
            let (m, src) = platform
                .ua
                .expect(&format!("{io}: BYE on leg B"), WAIT, |m| {
                    is_request(m, "BYE", &b.call_id) || is_request(m, "NOTIFY", &b.call_id)
                });
            platform
                .ua
                .send(src, &response(&m, 200, "OK", "x", platform.ua.addr(), ""));
            if m.method() == Some("BYE") {
                break;
            }
        }
        border_support::assert_exits_cleanly(&mut handoff, io, std::time::Duration::from_secs(30));
    }
}
