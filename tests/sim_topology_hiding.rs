//! Topology hiding over a whole call (setup, re-INVITE, INFO, BYE): nothing of one side's
//! addresses, Call-ID, tags, Via, Contact or SDP origin reaches the other side.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, scenarios, sdp_with};

fn leaks(sim: &Sim, receiver: usize, secrets: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for datagram in &sim.ua_ref(receiver).received {
        let text = String::from_utf8_lossy(datagram);
        for secret in secrets {
            if text.contains(secret.as_str()) {
                found.push(format!("{secret:?} in:\n{text}"));
            }
        }
    }
    found
}

#[test]
fn neither_side_sees_the_other() {
    let mut sim = Sim::new(SimOptions::default().seed(31));
    let (caller, callee) = scenarios::establish(&mut sim).unwrap();
    sim.ua(PLATFORM)
        .reinvite(callee, sdp_with("10.0.0.2", 5000, "sendonly", &[0]));
    let reinvite = sim.expect_request(CARRIER, "INVITE");
    sim.ua(CARRIER).answer(
        reinvite,
        200,
        Some(sdp_with("10.0.0.1", 4000, "recvonly", &[0])),
    );
    sim.ua(CARRIER).request(
        caller,
        "INFO",
        Some(("application/dtmf-relay", b"Signal=1\r\n".to_vec())),
        &[],
    );
    let info = sim.expect_request(PLATFORM, "INFO");
    sim.ua(PLATFORM).answer(info, 200, None);
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(|s| s.ua_ref(PLATFORM).dialog(callee).bye_received, 5_000));
    sim.run_for(2_000);

    let secrets_of = |agent: usize, ip: &str| {
        let ua = sim.ua_ref(agent);
        // The From user is the caller's identity and passes on purpose; addresses do not.
        let mut secrets = vec![
            format!("{ip}:5060"),
            format!("IP4 {ip}\r\n"),
            "o=ua ".to_string(),
        ];
        for dialog in ua.dialogs() {
            secrets.push(dialog.call_id.clone());
            secrets.push(dialog.local_tag.clone());
        }
        secrets
    };
    let carrier_secrets = secrets_of(CARRIER, "10.0.0.1");
    let platform_secrets = secrets_of(PLATFORM, "10.0.0.2");
    let leaked: Vec<String> = leaks(&sim, PLATFORM, &carrier_secrets)
        .into_iter()
        .chain(leaks(&sim, CARRIER, &platform_secrets))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} leaks, first: {}",
        leaked.len(),
        leaked[0]
    );
    assert!(sim.ua_ref(CARRIER).received.len() > 5 && sim.ua_ref(PLATFORM).received.len() > 5);
}
