//! Strict media sources at signalling time (issue 9, protection 5): "SDP `c=` addresses outside
//! the trunk's allowed set (loopback, multicast, unspecified, unless configured) are refused with
//! 488 on the offer". The simulated carrier's peer is 10.0.0.1, not loopback: an offer that
//! points handoff's relay at loopback or a multicast group is refused, on the initial INVITE and
//! on a re-INVITE. A hold on 0.0.0.0 (RFC 3264 section 8.4) names no address and is a hold, not
//! a refusal (documented in the README's security model).

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, scenarios, sdp_with};

fn initial_offer_status(c_address: &str) -> (Option<u16>, bool, usize) {
    let mut sim = Sim::new(SimOptions::default());
    let call = sim.ua(CARRIER).invite(
        "+15551230000",
        Some(sdp_with(c_address, 4000, "sendrecv", &[0])),
    );
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(call, "INVITE").is_some()
            || s.ua_ref(PLATFORM).has_request("INVITE"),
        5_000
    ));
    (
        sim.ua_ref(CARRIER).final_status(call, "INVITE"),
        sim.ua_ref(PLATFORM).has_request("INVITE"),
        sim.media_ports_in_use(),
    )
}

#[test]
fn an_offer_naming_loopback_gets_488_and_holds_no_ports() {
    assert_eq!(initial_offer_status("127.0.0.1"), (Some(488), false, 0));
}

#[test]
fn an_offer_naming_a_multicast_group_gets_488() {
    assert_eq!(initial_offer_status("224.0.1.1"), (Some(488), false, 0));
}

#[test]
fn an_offer_naming_an_ordinary_address_is_routed() {
    let (status, routed, _) = initial_offer_status("192.0.2.55");
    assert_eq!((status, routed), (None, true));
}

#[test]
fn a_reinvite_naming_loopback_gets_488_and_the_call_stays_up() {
    let mut sim = Sim::new(SimOptions::default().seed(21));
    let (caller, _) = scenarios::establish(&mut sim).expect("call up");
    sim.ua(CARRIER)
        .reinvite(caller, sdp_with("127.0.0.1", 4000, "sendrecv", &[0]));
    assert!(sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .statuses(caller, "INVITE")
                .iter()
                .any(|st| *st >= 300)
        },
        5_000
    ));
    assert!(
        sim.ua_ref(CARRIER)
            .statuses(caller, "INVITE")
            .contains(&488)
    );
    assert!(
        !sim.ua_ref(PLATFORM).has_request("INVITE"),
        "the offer was not relayed"
    );
    assert_eq!(sim.calls_active(), 1);
}
