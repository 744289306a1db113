//! INVITE client: the layer ACKs a non-2xx final itself (RFC 3261 17.1.1.3) and re-ACKs its
//! retransmissions until Timer D; a 2xx goes to the TU, and so do its retransmissions.
mod transaction_support;

use handoff::core::transaction::ClientAction;
use handoff::sip::{Message, Method};
use handoff::vocab::StatusCode;
use transaction_support::*;

#[test]
fn non_2xx_final_is_acked_by_the_layer_with_the_rfc_fields() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000c1";
    let call_id = "hf0000-00000000000000c1@handoff";
    let tx = d
        .layer
        .send_request(
            d.now,
            addr(PLATFORM),
            Method::Invite,
            branch,
            our_request("INVITE", branch, call_id, 5),
        )
        .unwrap();
    d.drain();
    let busy = response_to_ours(
        486,
        "Busy Here",
        branch,
        call_id,
        Some("busytag"),
        5,
        "INVITE",
    );
    assert_eq!(
        d.response(PLATFORM, &busy),
        ClientAction::Final {
            tx,
            status: StatusCode::BUSY_HERE
        }
    );

    let ack_text = d.last_sent();
    assert_eq!(d.sent.last().unwrap().1.to, addr(PLATFORM));
    let ack = Message::parse(ack_text.as_bytes()).unwrap();
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(
        ack.request_uri().unwrap().as_str(),
        "sip:+15559876543@platform.example.net"
    );
    let vias: Vec<_> = ack.vias().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias.len(), 1);
    assert_eq!(vias[0].branch(), Some(branch));
    assert_eq!(ack.call_id().unwrap(), call_id);
    assert_eq!(ack.from().unwrap().tag(), Some("hf00000000aaaaaaaaaaaa"));
    assert_eq!(
        ack.to().unwrap().tag(),
        Some("busytag"),
        "To comes from the response"
    );
    let cseq = ack.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (5, Method::Ack));
    let routes: Vec<String> = ack
        .routes()
        .map(|r| r.unwrap().uri.as_str().to_owned())
        .collect();
    assert_eq!(
        routes,
        [
            "sip:edge1.platform.example.net;lr",
            "sip:edge2.platform.example.net;lr"
        ]
    );
    assert_eq!(ack.body(), b"");

    // A retransmitted 486 is re-ACKed and absorbed.
    let sent = d.sent.len();
    assert_eq!(d.response(PLATFORM, &busy), ClientAction::Absorbed);
    assert_eq!(d.sent.len(), sent + 1);
    assert_eq!(d.last_sent(), ack_text);
    // Timer D (32 s) then ends the transaction.
    d.advance_to_ms(31_999);
    assert_eq!(d.layer.live_count(), 1);
    d.advance_to_ms(32_000);
    assert_eq!(d.layer.live_count(), 0);
    assert!(d.timeouts.is_empty());
}

#[test]
fn a_2xx_and_its_retransmissions_go_to_the_tu_which_acks_them() {
    let mut d = Driver::new();
    let branch = "z9hG4bK-hf0000-00000000000000c2";
    let call_id = "hf0000-00000000000000c2@handoff";
    let tx = d.send_our_invite(branch, call_id);
    let ok = response_to_ours(200, "OK", branch, call_id, Some("oktag"), 1, "INVITE");
    let sent = d.sent.len();
    assert_eq!(
        d.response(PLATFORM, &ok),
        ClientAction::Final {
            tx,
            status: StatusCode::OK
        }
    );
    assert_eq!(d.sent.len(), sent, "the layer does not ACK a 2xx");
    assert_eq!(
        d.response(PLATFORM, &ok),
        ClientAction::SuccessRetransmitted {
            tx,
            status: StatusCode::OK
        }
    );
    d.advance_to_ms(32_000);
    assert_eq!(d.layer.live_count(), 0, "Timer M ended it");
    assert_eq!(d.response(PLATFORM, &ok), ClientAction::Stray);
}
