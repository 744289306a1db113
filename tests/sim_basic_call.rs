//! Basic call through handoff: carrier -> platform, answered, torn down from either side.

use handoff::core::Event;
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};
use handoff::vocab::StatusCode;

fn answered_call(seed: u64) -> (Sim, handoff::sim::DialogId, handoff::sim::DialogId) {
    let mut sim = Sim::new(SimOptions::default().seed(seed));
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim
        .ua_ref(PLATFORM)
        .incoming(invite)
        .dialog
        .expect("INVITE made a dialog");
    sim.ua(PLATFORM).answer(invite, 180, None);
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    assert!(
        sim.run_until(
            |s| s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0,
            10_000
        ),
        "call not answered end to end"
    );
    (sim, caller, callee)
}

#[test]
fn answered_call_relays_ringing_and_answer_and_hides_topology() {
    let (sim, caller, callee) = answered_call(1);
    let carrier = sim.ua_ref(CARRIER);
    assert_eq!(carrier.statuses(caller, "INVITE"), vec![100, 180, 200]);
    let invite = &sim.ua_ref(PLATFORM).received[0];
    let text = String::from_utf8_lossy(invite);
    // Nothing of the carrier's side leaks to the platform.
    let carrier_call_id = &carrier.dialog(caller).call_id;
    assert!(
        !text.contains(carrier_call_id.as_str()),
        "Call-ID leaked:\n{text}"
    );
    for leak in [
        "10.0.0.1:5060",
        "IP4 10.0.0.1\r\n",
        "m=audio 4000",
        "carrier-",
    ] {
        assert!(
            !text.contains(leak),
            "carrier detail {leak:?} leaked:\n{text}"
        );
    }
    assert_ne!(
        sim.ua_ref(PLATFORM).dialog(callee).call_id,
        *carrier_call_id
    );
    // The SDP the platform got points at handoff's media port.
    assert!(
        text.contains("c=IN IP4 10.0.0.10"),
        "SDP not rewritten:\n{text}"
    );
    let started = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::CallStarted { .. }))
        .count();
    let answered = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::CallAnswered { .. }))
        .count();
    assert_eq!((started, answered), (1, 1));
    assert_eq!(sim.calls_active(), 1);
}

#[test]
fn caller_hangs_up() {
    let (mut sim, caller, callee) = answered_call(2);
    sim.run_for(3_000);
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 10_000));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200),
        10_000
    ));
    let ends = sim.call_ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, "bye_from_a");
    assert_eq!(ends[0].setup_status, Some(StatusCode::OK));
    assert!(
        ends[0].duration_ms >= 3_000,
        "duration {}",
        ends[0].duration_ms
    );
    assert_eq!(sim.calls_active(), 0);
    assert_eq!(sim.media_ports_in_use(), 0);
}

#[test]
fn callee_hangs_up() {
    let (mut sim, caller, callee) = answered_call(3);
    sim.ua(PLATFORM).bye(callee);
    assert!(sim.run_until(|s| s.ua_ref(CARRIER).dialog(caller).bye_received, 10_000));
    assert!(sim.run_until(
        |s| s.ua_ref(PLATFORM).final_status(callee, "BYE") == Some(200),
        10_000
    ));
    let ends = sim.call_ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, "bye_from_b");
    assert_eq!(sim.media_ports_in_use(), 0);
    // Ended calls are forgotten after 64*T1.
    sim.run_for(40_000);
    assert_eq!(
        sim.shards().iter().map(|s| s.calls_held()).sum::<usize>(),
        0
    );
}
