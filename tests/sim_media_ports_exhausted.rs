//! When the shard's media ports run out, new calls get 503; ports come back when calls end.

use std::sync::Arc;

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, scenarios, standard_config};

#[test]
fn no_ports_gives_503_until_a_call_ends() {
    let mut config = standard_config();
    // two RTP ports for the single shard: exactly one call (one port per leg)
    config.sbc.media_ports = (20000, 20004);
    let mut sim = Sim::new(SimOptions::default().shards(1).config(Arc::new(config)));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    assert_eq!(sim.media_ports_in_use(), 2);
    let refused = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(refused, "INVITE").is_some(),
        5_000
    ));
    assert_eq!(
        sim.ua_ref(CARRIER).final_status(refused, "INVITE"),
        Some(503)
    );
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 5_000));
    assert_eq!(sim.media_ports_in_use(), 0);
    let again = sim
        .ua(CARRIER)
        .invite("+15551230002", Some(offer_sdp("10.0.0.1", 4004)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    assert!(sim.run_until(|s| s.ua_ref(CARRIER).dialog(again).is_confirmed(), 5_000));
}
