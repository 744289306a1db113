//! A BYE in the early dialog (caller hangs up with BYE instead of CANCEL): 200 to the BYE, 487
//! to the INVITE, and leg B is CANCELled.

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};
use handoff::vocab::StatusCode;

#[test]
fn early_bye_cancels_leg_b() {
    let mut sim = Sim::new(SimOptions::default().seed(5));
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim.ua_ref(PLATFORM).incoming(invite).dialog.unwrap();
    sim.ua(PLATFORM).answer(invite, 180, None);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).dialog(caller).remote_tag.is_some(),
        5_000
    ));
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(487)
            && s.ua_ref(PLATFORM).dialog(callee).final_status == Some(487),
        10_000
    ));
    assert_eq!(sim.ua_ref(CARRIER).final_status(caller, "BYE"), Some(200));
    let ends = sim.call_ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(
        (ends[0].end_reason.as_str(), ends[0].setup_status),
        ("bye_from_a", Some(StatusCode::REQUEST_TERMINATED))
    );
    assert_eq!(sim.media_ports_in_use(), 0);
}
