//! The layer's timers live in its own table: a transaction that ends takes its armed timers
//! with it (nothing stale stays pending for the driver), a reused slot starts clean, and the TU is
//! told when it never answered a request (the layer sent 408).
mod transaction_support;

use handoff::core::Time;
use handoff::core::transaction::{ClientAction, ServerAction, TimerName, TxRef};
use handoff::sip::Method;
use handoff::vocab::StatusCode;
use transaction_support::*;

/// RFC 3261 17.1.2.2: a non-INVITE client that gets its final waits Timer K (T4) and terminates;
/// Timer F (64*T1, started with the request) no longer matters and must not stay armed.
#[test]
fn a_finished_non_invite_client_leaves_no_timer_armed() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000b1";
    d.layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Bye,
            branch,
            our_request("BYE", branch, "b1@handoff", 2),
        )
        .expect("fresh branch");
    d.drain();
    // Timer E (retransmit) and Timer F (give up) are armed.
    assert_eq!(d.layer.armed_timers(), 2);
    d.advance_to_ms(100);
    let ok = response_to_ours(200, "OK", branch, "b1@handoff", Some("p"), 2, "BYE");
    assert!(matches!(
        d.response(PLATFORM, &ok),
        ClientAction::Final { .. }
    ));
    // Timer K (T4 = 5 s) ends the Completed state; 32 s of Timer F would otherwise remain.
    d.advance_to_ms(100 + 5_000);
    assert_eq!(d.layer.live_count(), 0);
    assert_eq!(d.layer.armed_timers(), 0);
    assert_eq!(
        d.layer.poll_timeout(),
        None,
        "Timer F was cancelled with its transaction"
    );
}

/// A slot freed by one transaction and taken by the next: the new one's timers are its own, and
/// the old one's deadlines are gone, so nothing fires early for the new transaction.
#[test]
fn a_reused_slot_starts_with_only_its_own_timers() {
    let mut d = Driver::new();
    let bye = request_with(
        "BYE",
        "z9hG4bKold",
        "old@carrier",
        "ft",
        Some("t"),
        2,
        "BYE",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &bye) else {
        panic!("new")
    };
    d.layer
        .respond(
            d.now,
            tx,
            StatusCode::OK,
            b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        )
        .expect("answer");
    d.drain();
    // Timer J (64*T1) absorbs retransmissions, then the transaction ends.
    d.advance_to_ms(40_000);
    assert_eq!(d.layer.live_count(), 0);
    assert_eq!(d.layer.poll_timeout(), None);
    let info = request_with(
        "INFO",
        "z9hG4bKnew",
        "new@carrier",
        "ft",
        Some("t"),
        3,
        "INFO",
        70,
    );
    let ServerAction::New(_) = d.request(CARRIER, &info) else {
        panic!("new")
    };
    // Only the new transaction's guard: the TU has 64*T1 to answer.
    assert_eq!(d.layer.armed_timers(), 1);
    assert_eq!(
        d.layer.poll_timeout(),
        Some(Time::from_millis(40_000 + 32_000))
    );
}

#[test]
fn an_unanswered_request_gets_408_from_the_layer_and_the_tu_is_told() {
    let mut d = Driver::new();
    let info = request_with(
        "INFO",
        "z9hG4bKinfo",
        "info@carrier",
        "ft",
        Some("t"),
        3,
        "INFO",
        70,
    );
    let ServerAction::New(tx) = d.request(CARRIER, &info) else {
        panic!("new")
    };
    d.advance_to_ms(32_000);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(d.timeouts[0].1.tx, TxRef::Server(tx));
    assert_eq!(d.timeouts[0].1.timer, TimerName::Unanswered);
    assert_eq!(status_of(&d.last_sent()), 408);
    assert!(
        d.layer
            .respond(
                d.now,
                tx,
                StatusCode::OK,
                b"SIP/2.0 200 OK\r\n\r\n".to_vec()
            )
            .is_err()
    );
    d.advance_to_ms(64_000);
    assert_eq!(d.layer.live_count(), 0);
}
