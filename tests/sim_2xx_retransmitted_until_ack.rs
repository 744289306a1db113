//! handoff retransmits its 2xx to INVITE until the ACK arrives, and gives up after 64*T1.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, scenarios};

#[test]
fn two_xx_is_retransmitted_until_the_ack() {
    let mut sim = Sim::new(SimOptions::default().seed(17));
    scenarios::retransmit_2xx_until_ack(&mut sim, 3).unwrap();
    let retransmitted: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().retransmitted_2xx)
        .sum();
    assert_eq!(retransmitted, 3);
}

#[test]
fn no_ack_at_all_hangs_up_both_legs_after_64_t1() {
    let mut sim = Sim::new(SimOptions::default().seed(18));
    sim.ua(CARRIER).drop_acks = u32::MAX;
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim.ua_ref(PLATFORM).incoming(invite).dialog.unwrap();
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 60_000));
    let ends = sim.call_ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, "ack_timeout");
    // T1 doubling up to T2 within 32 s: 0.5, 1, 2, 4, 4, 4, ... -> 10 retransmissions.
    let seen = sim.ua_ref(CARRIER).dialog(caller).invite_2xx_received;
    assert!((9..=12).contains(&seen), "2xx seen {seen} times");
    assert_eq!(sim.media_ports_in_use(), 0);
}
