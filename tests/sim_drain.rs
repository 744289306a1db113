//! Drain: new INVITEs get 503; at the deadline the calls still up are hung up on both legs.

use handoff::core::{ShardId, ShardMessage};
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp, scenarios};

#[test]
fn drain_refuses_new_calls_then_hangs_up_the_rest() {
    let mut sim = Sim::new(SimOptions::default().shards(2));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    let deadline = sim.now.plus_millis(5_000);
    for shard in 0..2 {
        sim.send_shard_message(ShardId(shard), ShardMessage::Drain { deadline });
    }
    sim.run_for(10);
    let refused = sim
        .ua(CARRIER)
        .invite("+15551230001", Some(offer_sdp("10.0.0.1", 4002)));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(refused, "INVITE").is_some(),
        2_000
    ));
    assert_eq!(
        sim.ua_ref(CARRIER).final_status(refused, "INVITE"),
        Some(503)
    );
    // The established call continues until the deadline...
    sim.run_for(3_000);
    assert_eq!(sim.calls_active(), 1);
    assert!(!sim.ua_ref(CARRIER).dialog(caller).bye_received);
    // ...then both legs get a BYE.
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).dialog(caller).bye_received
            && s.ua_ref(PLATFORM).dialog(callee).bye_received,
        5_000
    ));
    let ends = sim.call_ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, "drain");
    assert_eq!(sim.media_ports_in_use(), 0);
}
