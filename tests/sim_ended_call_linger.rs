//! How long a shard holds an ended call before forgetting it (`Call::linger_ms`).
//!
//! - Answered, no transfer, BYEs answered: T4 (5 s). Its dialogs are over on both sides; the
//!   transaction layer absorbs retransmitted BYEs. Holding every such call 64*T1 (32 s) made
//!   a shard at 6,000 calls/s hold ~190,000 ended calls, 1.4 GB (perf/results/NOTES.md).
//! - Unanswered (CANCEL, rejection): 64*T1. A 2xx racing the CANCEL must still find the call to
//!   be ACKed and hung up (RFC 3261 section 15: a 2xx after CANCEL is ACKed, then BYEd).
//! - Within the linger a retransmitted BYE still gets its 200, and after it too (the server
//!   transaction lives its own 64*T1, RFC 3261 section 17.2.2).

use handoff::sim::{CARRIER, PLATFORM, Sim, SimOptions, offer_sdp};

fn held(sim: &Sim) -> usize {
    sim.shards().iter().map(|s| s.calls_held()).sum()
}

fn answered_call(sim: &mut Sim) -> (handoff::sim::DialogId, handoff::sim::DialogId) {
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    let callee = sim
        .ua_ref(PLATFORM)
        .incoming(invite)
        .dialog
        .expect("INVITE made a dialog");
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
    (caller, callee)
}

#[test]
fn an_answered_call_is_forgotten_t4_after_its_byes_are_answered() {
    let mut sim = Sim::new(SimOptions::default().seed(11));
    let (caller, callee) = answered_call(&mut sim);
    sim.ua(CARRIER).bye(caller);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
            && s.ua_ref(PLATFORM).dialog(callee).bye_received,
        10_000
    ));
    assert!(sim.run_until(|s| s.calls_active() == 0, 10_000));
    // Still held shortly after the end...
    sim.run_for(3_000);
    assert_eq!(held(&sim), 1, "an ended call is held until T4");
    // ...and forgotten once T4 (5 s) has passed, well before 64*T1 (32 s).
    sim.run_for(3_000);
    assert_eq!(held(&sim), 0, "an answered call is held T4, not 64*T1");
}

#[test]
fn a_cancelled_call_is_held_sixty_four_t1() {
    let mut sim = Sim::new(SimOptions::default().seed(12));
    let caller = sim
        .ua(CARRIER)
        .invite("+15551230000", Some(offer_sdp("10.0.0.1", 4000)));
    let invite = sim.expect_request(PLATFORM, "INVITE");
    sim.ua(PLATFORM).answer(invite, 180, None);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).statuses(caller, "INVITE").contains(&180),
        10_000
    ));
    sim.ua(CARRIER).cancel(caller);
    assert!(sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(487),
        10_000
    ));
    assert!(sim.run_until(|s| s.calls_active() == 0, 10_000));
    sim.run_for(10_000);
    assert_eq!(
        held(&sim),
        1,
        "an unanswered call waits 64*T1 for a racing 2xx"
    );
    sim.run_for(30_000);
    assert_eq!(held(&sim), 0, "and is forgotten after it");
}
