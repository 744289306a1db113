//! Non-INVITE client: Timer E retransmits at T1 doubling up to T2 (then every T2, also after a
//! provisional), Timer F (64*T1) reports the timeout; after a final, Timer K (T4) ends it.
mod transaction_support;

use handoff::core::transaction::{ClientAction, TimerName, TxRef};
use handoff::sip::Method;
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn timer_e_caps_at_t2_and_timer_f_reports_the_timeout() {
    let mut d = Driver::new(); // T1 = 500 ms, T2 = 4 s
    let branch = "z9hG4bK-hf0000-00000000000000b1";
    let tx = d
        .layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Bye,
            branch,
            our_request("BYE", branch, "c1@handoff", 2),
        )
        .unwrap();
    d.drain();
    d.advance_to_ms(40_000);
    // 0.5, 1, 2, 4 then capped at 4 s.
    let expected: Vec<u64> = [0, 500, 1_500, 3_500, 7_500]
        .into_iter()
        .chain((1..=6).map(|k| 7_500 + k * 4_000))
        .collect();
    assert_eq!(d.send_times("BYE"), expected);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(d.timeouts[0].0.as_millis(), 32_000);
    assert_eq!(d.timeouts[0].1.tx, TxRef::Client(tx));
    assert_eq!(d.timeouts[0].1.timer, TimerName::F);
    assert_eq!(d.layer.live_count(), 0);
}

#[test]
fn after_a_provisional_e_fires_every_t2_and_a_final_ends_with_timer_k() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000b2";
    let tx = d
        .layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Options,
            branch,
            our_request("OPTIONS", branch, "c2@handoff", 1),
        )
        .unwrap();
    d.drain();
    d.advance_to_ms(100);
    let trying = response_to_ours(100, "Trying", branch, "c2@handoff", None, 1, "OPTIONS");
    assert_eq!(
        d.response(PLATFORM, &trying),
        ClientAction::Provisional {
            tx,
            status: StatusCode::TRYING
        }
    );
    d.advance_to_ms(9_000);
    // The first E (armed at 0 for T1) fires at 500, then every T2.
    assert_eq!(d.send_times("OPTIONS"), vec![0, 500, 4_500, 8_500]);

    let ok = response_to_ours(200, "OK", branch, "c2@handoff", Some("p1"), 1, "OPTIONS");
    assert_eq!(
        d.response(PLATFORM, &ok),
        ClientAction::Final {
            tx,
            status: StatusCode::OK
        }
    );
    // A retransmitted final is absorbed; nothing more is sent.
    assert_eq!(d.response(PLATFORM, &ok), ClientAction::Absorbed);
    d.advance_to_ms(9_000 + 5_000 - 1);
    assert_eq!(
        d.layer.live_count(),
        1,
        "Timer K (T4 = 5 s) still absorbing"
    );
    d.advance_to_ms(9_000 + 5_000);
    assert_eq!(d.layer.live_count(), 0);
    assert_eq!(d.send_times("OPTIONS").len(), 4);
    assert!(d.timeouts.is_empty());
    assert_eq!(d.response(PLATFORM, &ok), ClientAction::Stray);
}
