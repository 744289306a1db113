//! A new config applies to new calls only; a call keeps the config it started with.

use std::sync::Arc;

use handoff::core::{Event, ShardId, ShardMessage};
use handoff::sim::{
    CARRIER, PARTNER, PLATFORM, Sim, SimOptions, offer_sdp, scenarios, sdp_with, standard_config,
};

#[test]
fn new_routes_apply_to_new_calls_only() {
    let mut sim = Sim::new(SimOptions::default().shards(2));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    // Reroute the carrier's calls to the partner.
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

/// The m= line of an SDP body, without its port: `m=audio RTP/AVP 0 8 101`.
fn media_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .find(|line| line.starts_with("m=audio "))
        .unwrap_or_else(|| panic!("no m=audio line in {text}"));
    let mut fields: Vec<&str> = line.split(' ').collect();
    fields.remove(1);
    fields.join(" ")
}

/// The platform trunk's codec list goes from PCMU, PCMA, G729 to PCMA only while a call is up.
/// The established call keeps the list it started with: the carrier's re-INVITE offering PCMU
/// and PCMA reaches the platform still offering both. A new call gets the new list: the same
/// offer reaches the platform as PCMA only. (An offer lists the codecs the offerer is willing
/// to use, RFC 3264 section 5.1; telephone-event 101 is not a codec and stays.)
#[test]
fn new_codec_list_applies_to_new_calls_only() {
    let mut sim = Sim::new(SimOptions::default().shards(2));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    let mut config = standard_config();
    let platform = config
        .trunks
        .iter_mut()
        .find(|trunk| trunk.name == "platform")
        .expect("the standard config has a platform trunk");
    assert_eq!(platform.codecs, ["PCMU", "PCMA", "G729"]);
    platform.codecs = vec!["PCMA".to_string()];
    let config = Arc::new(config);
    for shard in 0..2 {
        sim.send_shard_message(ShardId(shard), ShardMessage::Config(config.clone()));
    }
    sim.run_for(10);

    // The established call: a re-INVITE from the carrier offering PCMU and PCMA.
    let before = sim.ua_ref(CARRIER).statuses(caller, "INVITE").len();
    sim.ua(CARRIER)
        .reinvite(caller, offer_sdp("10.0.0.1", 4010));
    let reinvite = sim.expect_request(PLATFORM, "INVITE");
    let incoming = sim.ua_ref(PLATFORM).incoming(reinvite);
    assert!(
        incoming.header("To").is_some_and(|to| to.contains("tag=")),
        "expected the re-INVITE of the first call, got a new INVITE"
    );
    assert_eq!(media_line(&incoming.body()), "m=audio RTP/AVP 0 8 101");
    sim.ua(PLATFORM)
        .answer(reinvite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    // ...and its 2xx comes back to the carrier.
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).statuses(caller, "INVITE")[before..].contains(&200),
        5_000
    ));

    // A new call: the same offer reaches the platform with PCMA only.
    let second = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4020)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let incoming = sim.ua_ref(PLATFORM).incoming(invite);
    assert!(
        incoming.header("To").is_some_and(|to| !to.contains("tag=")),
        "expected the second call's INVITE"
    );
    assert_eq!(media_line(&incoming.body()), "m=audio RTP/AVP 8 101");
    sim.ua(PLATFORM).answer(
        invite,
        200,
        Some(sdp_with("10.0.0.2", 5002, "sendrecv", &[8])),
    );
    assert!(sim.run_until(|s| s.ua_ref(CARRIER).dialog(second).is_confirmed(), 5_000));

    // Both calls end normally.
    sim.ua(CARRIER).bye(caller);
    sim.ua(CARRIER).bye(second);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 5_000));
    assert!(sim.run_until(|s| s.calls_active() == 0, 5_000));
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
    assert_eq!(
        contact,
        format!("<sip:{}@10.0.0.11:5060>", handoff::config::DEFAULT_IDENTITY)
    );
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
