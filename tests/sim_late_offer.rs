//! Late offer: an INVITE without SDP; the offer comes in the 2xx and the answer in the ACK, which
//! handoff relays (rewritten) in its own ACK to the answering side.

use handoff::core::MediaCommand;
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};

#[test]
fn answer_in_the_ack_is_relayed() {
    let mut sim = Sim::new(SimOptions::default().seed(8));
    sim.ua(CARRIER).ack_sdp = Some(offer_sdp("10.0.0.1", 4100));
    let caller = sim.ua(CARRIER).invite("+15551230000", None);
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim.ua_ref(PLATFORM).incoming(invite).dialog.unwrap();
    assert!(sim.ua_ref(PLATFORM).incoming(invite).body().is_empty());
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    assert!(sim.run_until(
        |s| s.ua_ref(PLATFORM).dialog(callee).acks_received > 0,
        5_000
    ));
    // The carrier saw the platform's offer, rewritten to handoff's address.
    let offer = String::from_utf8(
        sim.ua_ref(CARRIER)
            .dialog(caller)
            .remote_sdp
            .clone()
            .unwrap(),
    )
    .unwrap();
    assert!(offer.contains("c=IN IP4 10.0.0.10"), "{offer}");
    // The platform got the carrier's answer in handoff's ACK, rewritten too.
    let answer = String::from_utf8(
        sim.ua_ref(PLATFORM)
            .dialog(callee)
            .remote_sdp
            .clone()
            .unwrap(),
    )
    .unwrap();
    assert!(answer.contains("c=IN IP4 10.0.0.10"), "{answer}");
    assert!(!answer.contains("4100"), "{answer}");
    assert_eq!(sim.calls_active(), 1);
    // The relay learned the caller's media address from the ACK.
    let last = sim.media.iter().rev().find_map(|(_, c)| match c {
        MediaCommand::Update { a, .. } => Some(a.clone()),
        _ => None,
    });
    assert_eq!(
        last.and_then(|a| a.remote_rtp),
        Some("10.0.0.1:4100".parse().unwrap())
    );
}
