//! A number no route matches gets 404 (and no call, no ports).

use handoff::vocab::StatusCode;
use std::sync::Arc;

use handoff::core::Event;

use handoff::sim::{CARRIER, Sim, SimOptions, offer_sdp, standard_config};

#[test]
fn unrouted_number_gets_404() {
    let mut config = standard_config();
    // carrier may only reach numbers starting 1800
    config.routes[0].prefix = "1800".to_string();
    let mut sim = Sim::new(SimOptions::default().config(Arc::new(config)));
    let call = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(call, "INVITE").is_some(),
        5_000
    ));
    assert_eq!(sim.ua_ref(CARRIER).final_status(call, "INVITE"), Some(404));
    // The carrier gets the generic phrase (topology hiding: no trunk name, no number); the
    // event, which the log carries, names the number.
    let reason = &sim.ua_ref(CARRIER).responses.last().unwrap().reason;
    assert_eq!(reason, "Not Found");
    let detail = sim
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::RequestRejected {
                status: StatusCode::NOT_FOUND,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .expect("a RequestRejected event for the 404");
    assert!(
        detail.contains("15551230000"),
        "the event {detail:?} does not name the number"
    );
    assert_eq!(sim.calls_active(), 0);
    assert_eq!(sim.media_ports_in_use(), 0);
    // A number the route matches still works (E.164 normalisation of a national form).
    let call = sim
        .ua(CARRIER)
        .invite("8005550100", Some(offer_sdp("10.0.0.1", 4000)));
    assert!(sim.run_until(
        |s| s.ua_ref(handoff::sim::PLATFORM).has_request("INVITE"),
        5_000
    ));
    assert_eq!(sim.ua_ref(CARRIER).final_status(call, "INVITE"), None);
}
