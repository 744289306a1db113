//! Forking on leg B: a second 2xx with another To tag is ACKed and hung up at once; the call
//! keeps the first dialog and the caller sees one answer.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};
use sipwire::{Builder, Message};

#[test]
fn second_fork_answer_is_acked_and_byed() {
    let mut sim = Sim::new(SimOptions::default().seed(9));
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim.ua_ref(PLATFORM).incoming(invite).dialog.unwrap();
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    assert!(sim.run_until(
        |s| s.ua_ref(PLATFORM).dialog(callee).acks_received > 0,
        5_000
    ));
    // Another fork answers the same INVITE.
    let request = sim.ua_ref(PLATFORM).incoming(invite).bytes.clone();
    let fork = Builder::response_to(&Message::parse(&request).unwrap(), 200, "OK")
        .to_tag("fork2")
        .header("Contact", "<sip:fork2@10.0.0.2:5060>")
        .body("application/sdp", offer_sdp("10.0.0.2", 5002))
        .build();
    sim.ua(PLATFORM).send_raw(fork);
    sim.run_for(2_000);
    let to_fork = |method: &[u8]| {
        sim.ua_ref(PLATFORM)
            .received
            .iter()
            .filter(|d| d.starts_with(method) && String::from_utf8_lossy(d).contains("tag=fork2"))
            .count()
    };
    assert_eq!(to_fork(b"ACK "), 1);
    assert_eq!(to_fork(b"BYE "), 1);
    assert_eq!(
        sim.ua_ref(CARRIER)
            .statuses(caller, "INVITE")
            .iter()
            .filter(|s| **s == 200)
            .count(),
        1
    );
    assert_eq!(sim.calls_active(), 1);
    assert!(!sim.ua_ref(PLATFORM).dialog(callee).bye_received);
}
