//! Malformed requests get 400 (the generic phrase; the parse error goes to the event, i.e. the
//! log); malformed responses are dropped and counted.

use handoff::core::Event;
use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions};
use handoff::vocab::StatusCode;

#[test]
fn malformed_request_gets_400_with_the_error() {
    let mut sim = Sim::new(SimOptions::default());
    let request = b"INVITE sip:+15551230000@10.0.0.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbad1\r\n\
Max-Forwards: many\r\n\
From: <sip:carrier@10.0.0.1>;tag=a1\r\n\
To: <sip:+15551230000@10.0.0.10>\r\n\
Call-ID: bad-1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    sim.ua(CARRIER).send_raw(request.to_vec());
    sim.run_for(1_000);
    let got = sim
        .ua_ref(CARRIER)
        .received
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect::<Vec<_>>();
    assert_eq!(got.len(), 1, "{got:?}");
    let status = got[0].lines().next().unwrap();
    // The peer gets the generic phrase and no Warning (topology hiding: no parse error, no
    // product name on the wire); the fault is named in the RequestRejected event (the log).
    assert_eq!(status, "SIP/2.0 400 Bad Request");
    assert!(!got[0].contains("Warning:"), "{}", got[0]);
    let detail = sim
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::RequestRejected {
                status: StatusCode::BAD_REQUEST,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .expect("a RequestRejected event for the 400");
    assert!(
        detail.contains("Max-Forwards"),
        "the event does not name the fault: {detail}"
    );
    assert!(got[0].contains("Call-ID: bad-1@10.0.0.1"));
    let malformed: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().rejected_malformed)
        .sum();
    assert_eq!(malformed, 1);
    assert!(!sim.ua_ref(PLATFORM).has_request("INVITE"));
}

#[test]
fn malformed_response_is_dropped_and_counted() {
    let mut sim = Sim::new(SimOptions::default());
    sim.ua(PLATFORM).send_raw(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-hf0000-1\r\nCSeq: one INVITE\r\nContent-Length: 0\r\n\r\n".to_vec());
    sim.ua(PLATFORM)
        .send_raw(b"SIP/2.0 banana\r\n\r\n".to_vec());
    sim.run_for(1_000);
    let dropped: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().malformed_responses_dropped)
        .sum();
    assert_eq!(dropped, 2);
    let events = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::MalformedResponseDropped { .. }))
        .count();
    assert_eq!(events, 2);
    assert!(
        sim.ua_ref(PLATFORM).received.is_empty(),
        "handoff answered a response"
    );
}
