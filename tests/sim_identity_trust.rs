//! Identity trust per trunk. RFC 3325 section 5: "If the proxy received the message from an
//! element that it does not trust and there is a P-Asserted-Identity header present which
//! contains a SIP or SIPS URI, the proxy MUST replace that SIP or SIPS URI with a single SIP or
//! SIPS URI or remove this header field" (section 2: B2BUAs in a Trust Domain behave as proxies).
//! Toward an untrusted node the RFC requires removal when the user asked for privacy (section 4);
//! handoff, a border between networks that do not trust each other, removes it always: an
//! untrusted trunk (`trust_identity = false`) is told no identity. The default (true) carries
//! both headers intact (carriers check them on transfers, see the brief).

use std::sync::Arc;

use handoff::sim::scenarios::PLATFORM_NUMBER;
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, standard_config};

const PAI: &str = "<sip:+15551112222@carrier.example>";
const PPI: &str = "<sip:+15551112222@carrier.example>";

/// The carrier calls with both identity headers; what the platform's INVITE carries.
fn identities_at_the_platform(carrier_trusted: bool, platform_trusted: bool) -> (bool, bool) {
    let mut config = standard_config();
    config.trunks[CARRIER].trust_identity = carrier_trusted;
    config.trunks[PLATFORM].trust_identity = platform_trusted;
    let mut sim = Sim::new(SimOptions::default().seed(41).config(Arc::new(config)));
    sim.ua(CARRIER).invite_with(
        PLATFORM_NUMBER,
        Some(offer_sdp("10.0.0.1", 4000)),
        &[("P-Asserted-Identity", PAI), ("P-Preferred-Identity", PPI)],
    );
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let incoming = sim.ua_ref(PLATFORM).incoming(invite);
    (
        incoming.header("P-Asserted-Identity").as_deref() == Some(PAI),
        incoming.header("P-Preferred-Identity").is_some(),
    )
}

#[test]
fn identities_cross_between_trusted_trunks_intact() {
    assert_eq!(identities_at_the_platform(true, true), (true, true));
}

#[test]
fn an_untrusted_trunk_asserts_nothing_onward() {
    assert_eq!(identities_at_the_platform(false, true), (false, false));
}

#[test]
fn an_untrusted_trunk_is_told_no_identity() {
    assert_eq!(identities_at_the_platform(true, false), (false, false));
}

/// The platform's transfer: its P-Asserted-Identity goes on the REFER to a trusted carrier, and
/// not when the platform's trunk is outside the trust domain. Referred-By (RFC 3892) is no
/// trust-domain header and is kept either way.
#[test]
fn a_refer_carries_the_platforms_identity_only_within_the_trust_domain() {
    use handoff::sim::transfer_flows::{PLATFORM_IDENTITY, PLATFORM_REFERRED_BY, call_and_refer};
    for platform_trusted in [true, false] {
        let mut config = standard_config();
        config.trunks[PLATFORM].trust_identity = platform_trusted;
        let mut sim = Sim::new(SimOptions::default().seed(42).config(Arc::new(config)));
        call_and_refer(&mut sim, true).expect("call and REFER");
        let refer = sim.expect_request(CARRIER, "REFER");
        let incoming = sim.ua_ref(CARRIER).incoming(refer);
        assert_eq!(
            incoming.header("P-Asserted-Identity").as_deref(),
            platform_trusted.then_some(PLATFORM_IDENTITY),
            "platform trusted: {platform_trusted}"
        );
        assert_eq!(
            incoming.header("Referred-By").as_deref(),
            Some(PLATFORM_REFERRED_BY)
        );
    }
}
