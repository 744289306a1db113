//! A new config applies to new calls only; a call keeps the config it started with.

use std::sync::Arc;

use handoff::core::{Event, ShardId, ShardMessage};
use handoff::sim::{
    CARRIER, PARTNER, PLATFORM, Sim, SimOptions, offer_sdp, scenarios, standard_config,
};

#[test]
fn new_routes_apply_to_new_calls_only() {
    let mut sim = Sim::new(SimOptions::default().shards(2));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    // Reroute the carrier's calls to the partner and drop the platform trunk's codecs to PCMA.
    let mut config = standard_config();
    config.routes[0].to = 2;
    let config = Arc::new(config);
    for shard in 0..2 {
        sim.send_shard_message(ShardId(shard), ShardMessage::Config(config.clone()));
    }
    sim.run_for(10);
    let second = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    let invite = sim.expect_request(PARTNER, "INVITE");
    // partner allows PCMA only
    let body = String::from_utf8(sim.ua_ref(PARTNER).incoming(invite).body()).unwrap();
    assert!(body.contains("RTP/AVP 8 101"), "{body}");
    sim.ua(PARTNER)
        .answer(invite, 200, Some(offer_sdp("10.0.0.3", 6000)));
    assert!(sim.run_until(|s| s.ua_ref(CARRIER).dialog(second).is_confirmed(), 5_000));
    // The first call still runs against the platform.
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 5_000));
    let to_trunks: Vec<String> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CallStarted { to_trunk, .. } => Some(to_trunk.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(to_trunks, vec!["platform", "partner"]);
}

#[test]
fn established_call_keeps_its_advertised_address() {
    let mut sim = Sim::new(SimOptions::default().shards(1));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    let mut config = standard_config();
    config.sbc.advertise = "10.0.0.11".parse().unwrap();
    sim.send_shard_message(ShardId(0), ShardMessage::Config(Arc::new(config)));
    sim.run_for(10);
    // A new call advertises the new address...
    sim.ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let contact = sim
        .ua_ref(PLATFORM)
        .incoming(invite)
        .header("Contact")
        .unwrap();
    assert_eq!(contact, "<sip:handoff@10.0.0.11:5060>");
    // ...the old one keeps its own in the BYE handoff sends.
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 5_000));
    let bye = sim
        .ua_ref(PLATFORM)
        .received
        .iter()
        .rev()
        .find(|d| d.starts_with(b"BYE "))
        .unwrap();
    let bye = String::from_utf8_lossy(bye);
    assert!(bye.contains("Via: SIP/2.0/UDP 10.0.0.10:5060"), "{bye}");
    assert!(!bye.contains("10.0.0.11"), "{bye}");
}
