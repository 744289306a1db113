//! INVITE client: Timer A retransmits at T1, doubling without cap, until Timer B (64*T1) gives up
//! and reports the timeout; a provisional stops the retransmissions.
mod transaction_support;

use handoff::core::transaction::{ClientAction, TimerName, TxRef};
use handoff::sip::Method;
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn timer_a_doubles_past_t2_until_timer_b_reports_the_timeout() {
    let mut d = Driver::new(); // T1 = 500 ms, T2 = 4 s
    let branch = "z9hG4bK-hf0000-00000000000000a1";
    let bytes = our_request("INVITE", branch, "hf0000-0000000000000001@handoff", 1);
    let tx = d
        .layer
        .send_request(d.now, addr(PLATFORM), Method::Invite, branch, bytes.clone())
        .unwrap();
    d.drain();
    d.advance_to_ms(40_000);

    // Sent at 0, then after 0.5, 1, 2, 4, 8, 16 s: intervals beyond T2 prove there is no cap.
    assert_eq!(
        d.send_times("INVITE"),
        vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]
    );
    assert!(
        d.sent
            .iter()
            .all(|(_, t)| t.payload == bytes && t.to == addr(PLATFORM))
    );
    assert_eq!(d.timeouts.len(), 1);
    let (at, timeout) = d.timeouts[0];
    assert_eq!(at.as_millis(), 32_000);
    assert_eq!(timeout.tx, TxRef::Client(tx));
    assert_eq!(timeout.timer, TimerName::B);
    assert_eq!(d.layer.live_count(), 0);
}

#[test]
fn a_provisional_stops_timer_a() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000a2";
    let call_id = "hf0000-0000000000000002@handoff";
    let tx = d.send_our_invite(branch, call_id);
    d.advance_to_ms(600);
    let action = d.response(
        PLATFORM,
        &response_to_ours(180, "Ringing", branch, call_id, Some("pf1"), 1, "INVITE"),
    );
    assert_eq!(
        action,
        ClientAction::Provisional {
            tx,
            status: StatusCode::RINGING
        }
    );
    d.advance_to_ms(60_000);
    assert_eq!(d.send_times("INVITE"), vec![0, 500]);
    // Ringing for a minute is fine: no Timer B after a provisional.
    assert!(d.timeouts.is_empty());
    assert_eq!(d.layer.live_count(), 1);
}
