//! handoff keeps its ACK to a 2xx for as long as the 2xx can be retransmitted, and no longer.
//!
//! RFC 3261 section 13.3.1.4 (the UAS side): "The 2xx response is passed to the transport with
//! an interval that starts at T1 seconds and doubles for each retransmission until it reaches
//! T2 seconds [...] Response retransmissions cease when an ACK request for the response is
//! received." and "If the server retransmits the 2xx response for 64*T1 seconds without
//! receiving an ACK, the dialog is confirmed, but the session SHOULD be terminated." So a UAS
//! retransmits a 2xx for at most 64*T1 after sending it; on the UAC side the INVITE client
//! transaction passes those retransmissions to the TU for as long (section 17.1.1.2 as updated
//! by RFC 6026: the "Accepted" state, Timer M = 64*T1), and the TU must ACK each one (section
//! 13.2.2.4). handoff (UAC on leg B) keeps the ACK it built to re-send it unchanged within that
//! window, and forgets it after: a 2xx "retransmitted" later is answered by nobody, the call
//! stays up and ends normally.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use handoff::core::Time;
use handoff::sim::one_shard::{OneShard, answer, in_dialog_request};
use handoff::sim::{offer_sdp, standard_config};
use handoff::sip::{Message, Method, RequestBuilder, response_to};
use handoff::vocab::StatusCode;

const CARRIER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5060));
const PLATFORM: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5060));
/// `standard_config`'s T1 (RFC 3261's default, 500 ms).
const T1_MS: u64 = 500;

fn new_shard() -> OneShard {
    let config = standard_config();
    assert_eq!(config.sbc.timers.t1_ms, T1_MS);
    OneShard::new(config, 7).checking_invariants()
}

fn invite() -> Vec<u8> {
    RequestBuilder::new(Method::Invite, "sip:+15551230000@10.0.0.10:5060")
        .header("Via", format!("SIP/2.0/UDP {CARRIER};branch=z9hG4bKwin1"))
        .header("Max-Forwards", "70")
        .header("From", "<sip:+15557654321@10.0.0.1>;tag=cwin")
        .header("To", "<sip:+15551230000@10.0.0.10>")
        .header("Call-ID", "ack-window@10.0.0.1")
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<sip:carrier@{CARRIER}>"))
        .body("application/sdp", offer_sdp("10.0.0.1", 4000))
        .build()
        .expect("INVITE builds")
}

fn ok_to(request: &[u8]) -> Vec<u8> {
    let contact = format!("<sip:platform@{PLATFORM}>");
    answer(
        request,
        StatusCode::OK,
        &contact,
        Some(offer_sdp("10.0.0.2", 5000)),
    )
}

fn carrier_request(ok: &[u8], method: Method, cseq: u32) -> Vec<u8> {
    in_dialog_request(ok, method, cseq, CARRIER, &format!("z9hG4bKwin-{cseq}"))
}

/// A call up at t = 1 s: handoff ACKed the platform's 200 once; returns (the 200 the platform
/// sent, handoff's ACK, handoff's 200 to the carrier).
fn call_up(shard: &mut OneShard) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    shard.advance_to(Time::from_millis(1_000));
    shard.deliver(CARRIER, &invite());
    let invite_b = shard.take_one(PLATFORM, b"INVITE ");
    let ok_b = ok_to(&invite_b);
    shard.deliver(PLATFORM, &ok_b);
    let ack = shard.take_one(PLATFORM, b"ACK ");
    let ok_a = shard.take_one(CARRIER, b"SIP/2.0 200");
    shard.deliver(CARRIER, &carrier_request(&ok_a, Method::Ack, 1));
    shard.sent.clear();
    assert_eq!(shard.core.calls_active(), 1);
    (ok_b, ack, ok_a)
}

#[test]
fn a_2xx_retransmitted_within_64_t1_gets_the_same_ack_again() {
    let mut shard = new_shard();
    let (ok_b, ack, _) = call_up(&mut shard);
    // The UAS's retransmission schedule (13.3.1.4): T1, 2*T1, 4*T1, then every T2, up to
    // 64*T1 after the first 2xx (sent at 1 s). Each one that reaches handoff is ACKed with the
    // bytes of the first ACK, the last one just inside the window included.
    for at in [
        1_000 + T1_MS,
        1_000 + 3 * T1_MS,
        1_000 + 7 * T1_MS,
        1_000 + 64 * T1_MS - 100,
    ] {
        shard.advance_to(Time::from_millis(at));
        shard.deliver(PLATFORM, &ok_b);
        let again = shard.take_one(PLATFORM, b"ACK ");
        assert_eq!(
            again, ack,
            "the ACK re-sent at {at} ms differs from the first"
        );
        assert!(
            shard.take_all(CARRIER, b"").is_empty(),
            "nothing goes to the carrier"
        );
    }
    assert_eq!(shard.core.calls_active(), 1);
}

#[test]
fn a_2xx_after_the_window_is_harmless_and_the_call_goes_on() {
    let mut shard = new_shard();
    let (ok_b, _, ok_a) = call_up(&mut shard);
    // Past 64*T1 (and past the client transaction's Timer M): the UAS has stopped
    // retransmitting; handoff no longer keeps the ACK. A stray copy of the 2xx arriving now
    // (a duplicate delayed in the network) is not ACKed again, not relayed, and ends nothing.
    for at in [1_000 + 64 * T1_MS + 1, 1_000 + 64 * T1_MS + 10_000] {
        shard.advance_to(Time::from_millis(at));
        shard.deliver(PLATFORM, &ok_b);
        assert!(
            shard.take_all(PLATFORM, b"ACK ").is_empty(),
            "a 2xx after 64*T1 got an ACK at {at} ms"
        );
        assert!(
            shard.take_all(CARRIER, b"").is_empty(),
            "nothing goes to the carrier"
        );
        assert_eq!(shard.core.calls_active(), 1);
    }
    // The call is intact: the carrier's BYE is relayed, answered, and the call ends.
    shard.deliver(CARRIER, &carrier_request(&ok_a, Method::Bye, 2));
    let bye = shard.take_one(PLATFORM, b"BYE ");
    let message = Message::parse(&bye).expect("handoff's BYE parses");
    let ok = response_to(&message, StatusCode::OK, "OK")
        .build()
        .expect("200 builds");
    shard.deliver(PLATFORM, &ok);
    assert_eq!(shard.take_all(CARRIER, b"SIP/2.0 200").len(), 1);
    assert_eq!(shard.core.calls_active(), 0);
}
