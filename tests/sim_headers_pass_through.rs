//! P-Asserted-Identity, Referred-By, Target-Dialog and X- headers pass from one leg to the other
//! (an INVITE with Replaces is not relayed: handoff is the UAS of the dialog it names, see
//! tests/sim_replaces_seed_sweep.rs); Max-Forwards is decremented; vendor headers (User-Agent) do not pass.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};

#[test]
fn identity_and_custom_headers_pass_both_ways() {
    let mut sim = Sim::new(SimOptions::default());
    let call = sim.ua(CARRIER).invite_with(
        "+15551230000",
        Some(offer_sdp("10.0.0.1", 4000)),
        &[
            ("P-Asserted-Identity", "<sip:+15550001111@carrier.example>"),
            ("Referred-By", "<sip:agent@platform.example>"),
            ("Target-Dialog", "def@y;local-tag=3;remote-tag=4"),
            ("X-Conversation", "c-42"),
            ("User-Agent", "CarrierSwitch 9.1"),
            (
                "Proxy-Authorization",
                "Digest username=\"carrier\", realm=\"handoff\"",
            ),
        ],
    );
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let request = sim.ua_ref(PLATFORM).incoming(invite).clone();
    assert_eq!(
        request.header("P-Asserted-Identity").as_deref(),
        Some("<sip:+15550001111@carrier.example>")
    );
    assert_eq!(
        request.header("Referred-By").as_deref(),
        Some("<sip:agent@platform.example>")
    );
    assert_eq!(
        request.header("Target-Dialog").as_deref(),
        Some("def@y;local-tag=3;remote-tag=4")
    );
    assert_eq!(request.header("X-Conversation").as_deref(), Some("c-42"));
    assert_eq!(request.header("User-Agent"), None);
    assert_eq!(request.header("Proxy-Authorization"), None);
    assert_eq!(request.header("Max-Forwards").as_deref(), Some("69"));
    sim.ua(PLATFORM).answer_with(
        invite,
        200,
        Some(offer_sdp("10.0.0.2", 5000)),
        &[
            ("P-Asserted-Identity", "<sip:+15552223333@platform.example>"),
            ("X-Agent", "7"),
            ("Server", "Platform 1.0"),
        ],
    );
    assert!(sim.run_until(|s| s.ua_ref(CARRIER).dialog(call).is_confirmed(), 5_000));
    let ok = sim
        .ua_ref(CARRIER)
        .responses
        .iter()
        .find(|r| r.status == 200)
        .unwrap();
    let text = String::from_utf8_lossy(&ok.bytes);
    assert!(
        text.contains("P-Asserted-Identity: <sip:+15552223333@platform.example>"),
        "{text}"
    );
    assert!(text.contains("X-Agent: 7"), "{text}");
    assert!(!text.contains("Platform 1.0"), "{text}");
    assert!(
        !text.contains("10.0.0.2"),
        "platform address leaked:\n{text}"
    );
}
