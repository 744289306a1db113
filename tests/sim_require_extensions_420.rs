//! 100rel and session timers are negotiated away: Require gets 420 + Unsupported, the INVITE
//! onward carries handoff's own Supported (no 100rel, no timer), Session-Expires/Min-SE are not
//! relayed.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};

#[test]
fn require_100rel_gets_420_unsupported() {
    for extension in ["100rel", "timer"] {
        let mut sim = Sim::new(SimOptions::default());
        let call = sim.ua(CARRIER).invite_with(
            "+15551230000",
            Some(offer_sdp("10.0.0.1", 4000)),
            &[("Require", extension)],
        );
        assert!(sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(call, "INVITE").is_some(),
            5_000
        ));
        assert_eq!(sim.ua_ref(CARRIER).final_status(call, "INVITE"), Some(420));
        let response =
            String::from_utf8_lossy(&sim.ua_ref(CARRIER).responses.last().unwrap().bytes)
                .into_owned();
        assert!(
            response.contains(&format!("Unsupported: {extension}")),
            "{response}"
        );
        assert_eq!(sim.media_ports_in_use(), 0);
    }
}

#[test]
fn supported_100rel_and_timer_are_stripped_outward() {
    let mut sim = Sim::new(SimOptions::default());
    sim.ua(CARRIER).invite_with(
        "+15551230000",
        Some(offer_sdp("10.0.0.1", 4000)),
        &[
            ("Supported", "100rel, timer, replaces"),
            ("Session-Expires", "1800;refresher=uac"),
            ("Min-SE", "90"),
        ],
    );
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let request = sim.ua_ref(PLATFORM).incoming(invite);
    // handoff sends its own Supported (issue 10 item 11), never the caller's: no 100rel, no
    // timer, whatever the caller listed.
    let supported = request.header("Supported").unwrap_or_default();
    assert!(supported.contains("replaces"), "{supported}");
    assert!(
        !supported.contains("100rel") && !supported.contains("timer"),
        "{supported}"
    );
    assert_eq!(request.header("Session-Expires"), None);
    assert_eq!(request.header("Min-SE"), None);
}
