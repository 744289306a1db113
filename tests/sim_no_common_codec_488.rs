//! An offer with no codec the trunks allow gets 488; the codec list of the B trunk filters the
//! offer (telephone-event always passes).

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, sdp_with};

#[test]
fn g729_only_offer_gets_488() {
    let mut sim = Sim::new(SimOptions::default());
    // carrier allows PCMU/PCMA only
    let call = sim.ua(CARRIER).invite(
        "+15551230000",
        Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[18])),
    );
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(call, "INVITE").is_some(),
        5_000
    ));
    assert_eq!(sim.ua_ref(CARRIER).final_status(call, "INVITE"), Some(488));
    assert!(!sim.ua_ref(PLATFORM).has_request("INVITE"));
    assert_eq!(sim.media_ports_in_use(), 0);
}

#[test]
fn codecs_outside_both_trunks_are_filtered_from_the_offer() {
    let mut sim = Sim::new(SimOptions::default());
    sim.ua(CARRIER).invite(
        "+15551230000",
        Some(sdp_with("10.0.0.1", 4000, "sendrecv", &[18, 0, 9])),
    );
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let body = String::from_utf8(sim.ua_ref(PLATFORM).incoming(invite).body()).unwrap();
    let m_line = body.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(
        m_line.ends_with("RTP/AVP 0 101"),
        "m-line {m_line:?}\n{body}"
    );
    assert!(body.contains("telephone-event"));
    assert!(!body.contains("G729") && !body.contains("G722"));
}
