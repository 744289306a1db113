//! `cancel` sends a CANCEL built from the INVITE, only once a provisional arrived (RFC 3261
//! 9.1); the INVITE's 487 then arrives as its final and is ACKed by the layer.
mod transaction_support;

use handoff::core::transaction::{ClientAction, TimerName, TxRef};
use handoff::sip::{Message, Method};
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn cancel_waits_for_a_provisional_then_mirrors_the_invite() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000d1";
    let call_id = "hf0000-00000000000000d1@handoff";
    let tx = d
        .layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Invite,
            branch,
            our_request("INVITE", branch, call_id, 3),
        )
        .unwrap();
    d.drain();
    assert!(d.layer.cancel(d.now, tx));
    d.drain();
    assert!(
        d.send_times("CANCEL").is_empty(),
        "no CANCEL before a provisional"
    );

    d.advance_to_ms(200);
    let ringing = response_to_ours(180, "Ringing", branch, call_id, Some("rt"), 3, "INVITE");
    assert_eq!(
        d.response(PLATFORM, &ringing),
        ClientAction::Provisional {
            tx,
            status: StatusCode::RINGING
        }
    );
    assert_eq!(d.send_times("CANCEL"), vec![200]);
    let cancel_text = d
        .sent
        .iter()
        .rev()
        .find(|(_, t)| t.payload.starts_with(b"CANCEL"))
        .unwrap()
        .1
        .clone();
    assert_eq!(cancel_text.to, addr(PLATFORM));
    let cancel = Message::parse(&cancel_text.payload).unwrap();
    assert_eq!(
        cancel.request_uri().unwrap().as_str(),
        "sip:+15559876543@platform.example.net"
    );
    assert_eq!(cancel.top_via().unwrap().branch(), Some(branch));
    assert_eq!(cancel.vias().count(), 1);
    assert_eq!(cancel.call_id().unwrap(), call_id);
    assert_eq!(
        cancel.to().unwrap().tag(),
        None,
        "To of the INVITE, not of the provisional"
    );
    let cseq = cancel.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (3, Method::Cancel));

    // The CANCEL's own 200 is the layer's business; the INVITE's 487 is the TU's.
    let cancel_ok = response_to_ours(200, "OK", branch, call_id, Some("rt"), 3, "CANCEL");
    assert_eq!(d.response(PLATFORM, &cancel_ok), ClientAction::Absorbed);
    let terminated = response_to_ours(
        487,
        "Request Terminated",
        branch,
        call_id,
        Some("rt"),
        3,
        "INVITE",
    );
    assert_eq!(
        d.response(PLATFORM, &terminated),
        ClientAction::Final {
            tx,
            status: StatusCode::REQUEST_TERMINATED
        }
    );
    assert!(d.last_sent().starts_with("ACK "));
    d.advance_to_ms(60_000);
    assert!(d.timeouts.is_empty());
    assert_eq!(d.layer.live_count(), 0);
}

#[test]
fn a_cancelled_invite_without_final_times_out_with_the_cancel_guard() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000d2";
    let call_id = "hf0000-00000000000000d2@handoff";
    let tx = d.send_our_invite(branch, call_id);
    d.response(
        PLATFORM,
        &response_to_ours(
            183,
            "Session Progress",
            branch,
            call_id,
            Some("x"),
            1,
            "INVITE",
        ),
    );
    assert!(d.layer.cancel(d.now, tx));
    d.drain();
    d.advance_to_ms(64_000);
    assert_eq!(d.timeouts.len(), 1);
    assert_eq!(d.timeouts[0].0.as_millis(), 32_000);
    assert_eq!(d.timeouts[0].1.tx, TxRef::Client(tx));
    assert_eq!(d.timeouts[0].1.timer, TimerName::CancelGuard);
    assert_eq!(d.layer.live_count(), 0);
    assert!(!d.layer.cancel(d.now, tx), "nothing left to cancel");
}

#[test]
fn timer_c_cancels_an_invite_that_rings_forever() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000d3";
    let call_id = "hf0000-00000000000000d3@handoff";
    d.layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Invite,
            branch,
            our_request("INVITE", branch, call_id, 1),
        )
        .unwrap();
    d.drain();
    let ringing = response_to_ours(180, "Ringing", branch, call_id, Some("x"), 1, "INVITE");
    d.response(PLATFORM, &ringing);
    d.advance_to_ms(100_000);
    d.response(PLATFORM, &ringing); // pushes Timer C back to 280 s
    d.advance_to_ms(279_999);
    assert!(d.send_times("CANCEL").is_empty());
    d.advance_to_ms(280_000);
    assert_eq!(d.send_times("CANCEL"), vec![280_000]);
}

#[test]
fn a_final_before_any_provisional_makes_the_deferred_cancel_moot() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000d4";
    let call_id = "hf0000-00000000000000d4@handoff";
    let tx = d.send_our_invite(branch, call_id);
    assert!(d.layer.cancel(d.now, tx));
    d.drain();
    let busy = response_to_ours(486, "Busy Here", branch, call_id, Some("b"), 1, "INVITE");
    assert_eq!(
        d.response(PLATFORM, &busy),
        ClientAction::Final {
            tx,
            status: StatusCode::BUSY_HERE
        }
    );
    assert!(!d.layer.cancel(d.now, tx), "nothing left to cancel");
    d.drain();
    d.advance_to_ms(60_000);
    assert!(d.send_times("CANCEL").is_empty());
    assert_eq!(d.send_times("ACK"), vec![0]);
    assert!(d.timeouts.is_empty());
}
