//! In-dialog requests (INFO, MESSAGE, OPTIONS, UPDATE, NOTIFY, REFER) are relayed to the other
//! leg's dialog, and their responses come back with the reason phrase.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, scenarios, sdp_with};

/// (from, to, method, status to answer, body, extra headers)
type Case = (
    usize,
    usize,
    &'static str,
    u16,
    Option<(&'static str, Vec<u8>)>,
    &'static [(&'static str, &'static str)],
);

#[test]
fn requests_and_responses_cross_to_the_other_dialog() {
    let mut sim = Sim::new(SimOptions::default());
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    let platform_call_id = sim.ua_ref(PLATFORM).dialog(callee).call_id.clone();
    let cases: [Case; 5] = [
        (
            CARRIER,
            PLATFORM,
            "INFO",
            200,
            Some((
                "application/dtmf-relay",
                b"Signal=5\r\nDuration=160\r\n".to_vec(),
            )),
            &[],
        ),
        (
            PLATFORM,
            CARRIER,
            "MESSAGE",
            415,
            Some(("text/plain", b"hello".to_vec())),
            &[],
        ),
        (CARRIER, PLATFORM, "OPTIONS", 200, None, &[]),
        (
            PLATFORM,
            CARRIER,
            "UPDATE",
            200,
            Some((
                "application/sdp",
                sdp_with("10.0.0.2", 5002, "sendrecv", &[0]),
            )),
            &[],
        ),
        (
            PLATFORM,
            CARRIER,
            "NOTIFY",
            200,
            Some(("message/sipfrag", b"SIP/2.0 100 Trying\r\n".to_vec())),
            &[
                ("Event", "refer"),
                ("Subscription-State", "active;expires=60"),
            ],
        ),
        // A blind REFER from the platform is no longer relayed as is: handoff runs the transfer
        // (tests/sim_transfer_*.rs).
    ];
    for (from, to, method, status, body, extra) in cases {
        let dialog = if from == CARRIER { caller } else { callee };
        let sent_body = body.as_ref().map(|(_, b)| b.clone());
        sim.ua(from).request(dialog, method, body, extra);
        let request = sim.expect_request(to, method);
        let incoming = sim.ua_ref(to).incoming(request).clone();
        let expected_call_id = if to == PLATFORM {
            platform_call_id.clone()
        } else {
            sim.ua_ref(CARRIER).dialog(caller).call_id.clone()
        };
        assert_eq!(
            incoming.header("Call-ID"),
            Some(expected_call_id),
            "{method} not mapped to the other dialog"
        );
        if let Some(sent) = sent_body {
            if method == "UPDATE" {
                let text = String::from_utf8(incoming.body()).unwrap();
                assert!(
                    text.contains("c=IN IP4 10.0.0.10"),
                    "UPDATE SDP not rewritten: {text}"
                );
            } else {
                assert_eq!(incoming.body(), sent, "{method} body changed");
            }
        }
        for (name, value) in extra {
            assert_eq!(
                incoming.header(name).as_deref(),
                Some(*value),
                "{method}: {name} not relayed"
            );
        }
        let sdp = (method == "UPDATE").then(|| sdp_with("10.0.0.1", 4000, "sendrecv", &[0]));
        sim.ua(to).answer(request, status, sdp);
        assert!(
            sim.run_until(
                |s| s.ua_ref(from).final_status(dialog, method) == Some(status),
                5_000
            ),
            "{method}: {status} not relayed back, got {:?}",
            sim.ua_ref(from).statuses(dialog, method)
        );
        let reason = &sim
            .ua_ref(from)
            .responses
            .iter()
            .rfind(|r| r.method == method)
            .unwrap()
            .reason;
        let expected = match status {
            200 => "OK",
            202 => "Accepted",
            415 => "Unsupported Media Type",
            _ => unreachable!(),
        };
        assert_eq!(reason, expected);
    }
    assert_eq!(sim.calls_active(), 1);
}
