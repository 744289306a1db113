//! CANCEL before answer: 200 to the CANCEL, 487 to the INVITE, CANCEL propagated to leg B.

use handoff::sim::{Sim, SimOptions, scenarios};

#[test]
fn cancel_before_answer_ends_both_legs_with_487() {
    let mut sim = Sim::new(SimOptions::default().seed(11));
    scenarios::cancel_before_answer(&mut sim).unwrap();
}

/// RFC 3261 9.1: the CANCEL toward leg B waits until B sent a provisional.
#[test]
fn cancel_toward_b_waits_for_a_provisional() {
    use handoff::sim::{CARRIER, PLATFORM, offer_sdp};
    let mut sim = Sim::new(SimOptions::default().seed(12));
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim.ua_ref(PLATFORM).incoming(invite).dialog.unwrap();
    // The platform stays silent (not even 100); the caller cancels.
    sim.ua(CARRIER).cancel(caller);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(487),
        5_000
    ));
    sim.run_for(2_000);
    let cancels = |s: &Sim| {
        s.ua_ref(PLATFORM)
            .received
            .iter()
            .filter(|d| d.starts_with(b"CANCEL "))
            .count()
    };
    assert_eq!(cancels(&sim), 0, "CANCEL sent before any provisional");
    sim.ua(PLATFORM).answer(invite, 180, None);
    assert!(sim.run_until(
        |s| s.ua_ref(PLATFORM).dialog(callee).final_status == Some(487),
        5_000
    ));
    assert!(cancels(&sim) >= 1);
    assert_eq!(sim.media_ports_in_use(), 0);
}
