//! The agent against RFC 3261's rules for a UA's transactions and dialogs (sections 8.2.6,
//! 12.2.1.1, 13.2.2.4, 13.3.1.4, 17.1.1, 17.1.2, 17.2). Each test plays the far end (handoff) by
//! hand with literal messages and reads what the agent sent with the codec.

use super::*;
use crate::Message;

const ME: &str = "10.0.0.1:5060";
const PEER: &str = "10.0.0.10:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn agent() -> Agent {
    Agent::new("carrier", addr(ME), addr(PEER), Timers::default(), 7)
}

/// Everything the agent wants sent, parsed (all of it goes to the peer).
fn sent(agent: &mut Agent) -> Vec<Message> {
    agent
        .take_outbox()
        .into_iter()
        .map(|(to, bytes)| {
            assert_eq!(to, addr(PEER));
            Message::parse(&bytes).unwrap()
        })
        .collect()
}

fn at(ms: u64) -> Time {
    Time::from_millis(ms)
}

/// A response from the peer to `request`, built by hand (not with the agent's own helpers).
fn reply(request: &Message, status: u16, to_tag: Option<&str>, contact: Option<&str>) -> Vec<u8> {
    let mut text = format!("SIP/2.0 {status} Reason\r\n");
    for via in request.headers_named("Via") {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let to = request.header("To").unwrap();
    let to = match to_tag {
        Some(tag) => format!("{to};tag={tag}"),
        None => to.to_string(),
    };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
        request.header("From").unwrap(),
        request.call_id().unwrap(),
        request.header("CSeq").unwrap()
    ));
    if let Some(contact) = contact {
        text.push_str(&format!("Contact: <{contact}>\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text.into_bytes()
}

/// An INVITE from the peer (handoff) to the agent.
const PEER_INVITE: &str = "INVITE sip:carrier@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKpeer1\r\n\
Via: SIP/2.0/UDP 10.0.0.99:5060;branch=z9hG4bKfurther\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15550001111@10.0.0.10>;tag=peertag\r\n\
To: <sip:carrier@10.0.0.1>\r\n\
Call-ID: peer-call-1\r\n\
CSeq: 4711 INVITE\r\n\
Contact: <sip:handoff@10.0.0.10:5060>\r\n\
Content-Length: 0\r\n\r\n";

/// RFC 3261 17.1.1.2: "If an unreliable transport is being used, the client transaction MUST
/// start timer A with a value of T1 ... When timer A fires, the client transaction MUST
/// retransmit the request ... and MUST reset the timer with a value of 2*T1 ... When timer A
/// fires 2*T1 seconds later, the request MUST be retransmitted again (assuming the client
/// transaction is still in this state). This process MUST continue so that the request is
/// retransmitted with intervals that double after each transmission." Timer B (64*T1) ends it.
#[test]
fn invite_client_timer_a_doubles_until_timer_b() {
    let mut ua = agent();
    let dialog = ua.invite("+15550001111", None);
    let first = sent(&mut ua);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].method(), Some("INVITE"));
    let wakeups = ua.take_wakeups();
    assert!(wakeups.contains(&at(500)), "{wakeups:?}");
    assert!(wakeups.contains(&at(64 * 500)), "Timer B");

    let mut retransmitted_at = Vec::new();
    let mut now = 0;
    while now <= 64 * 500 {
        ua.on_wake(at(now));
        for m in sent(&mut ua) {
            assert_eq!(m.to_bytes(), first[0].to_bytes(), "the same request again");
            retransmitted_at.push(now);
        }
        now += 250;
    }
    // Intervals T1, 2T1, 4T1, 8T1, 16T1, 32T1 from the first send (at 0).
    assert_eq!(retransmitted_at, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(ua.timeouts, vec!["INVITE".to_string()]);
    assert!(std::iter::from_fn(|| ua.poll_event()).any(|e| e == Event::Timeout("INVITE".into())));
    assert_eq!(ua.dialog(dialog).final_status, None);
}

/// RFC 3261 17.1.1.2: "If the client transaction receives a provisional response while in the
/// "Calling" state, it transitions to the "Proceeding" state. In the "Proceeding" state, the
/// client transaction SHOULD NOT retransmit the request any longer."
#[test]
fn a_provisional_stops_invite_retransmissions() {
    let mut ua = agent();
    ua.invite("+15550001111", None);
    let invite = sent(&mut ua).remove(0);
    ua.on_datagram(at(100), addr(PEER), &reply(&invite, 100, None, None));
    for ms in [500, 1500, 3500, 40_000] {
        ua.on_wake(at(ms));
        assert!(sent(&mut ua).is_empty(), "nothing re-sent at {ms} ms");
    }
    assert!(ua.timeouts.is_empty(), "the UAS owns the outcome now");
}

/// RFC 3261 17.1.2.2 (non-INVITE client): "If timer E fires while still in this state, the
/// timer is reset, but this time with a value of MIN(2*T1, T2). When the timer fires again, it
/// is reset to a MIN(4*T1, T2). This process continues so that retransmissions occur with an
/// exponentially increasing interval that caps at T2." Timer F (64*T1) ends it.
#[test]
fn non_invite_client_timer_e_caps_at_t2() {
    let mut ua = agent();
    ua.options();
    let first = sent(&mut ua).remove(0);
    let mut retransmitted_at = Vec::new();
    let mut now = 0;
    while now <= 64 * 500 + 1000 {
        ua.on_wake(at(now));
        for m in sent(&mut ua) {
            assert_eq!(m.to_bytes(), first.to_bytes());
            retransmitted_at.push(now);
        }
        now += 250;
    }
    let intervals: Vec<u64> = std::iter::once(0)
        .chain(retransmitted_at.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(&intervals[..5], &[500, 1000, 2000, 4000, 4000]);
    assert!(intervals.iter().all(|i| *i <= 4000));
    assert!(*retransmitted_at.last().unwrap() < 64 * 500);
    assert_eq!(ua.timeouts, vec!["OPTIONS".to_string()]);
}

/// RFC 3261 13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received from the
/// transaction layer. The header fields of the ACK are constructed in the same way as for any
/// request sent within a dialog (see Section 12) with the exception of the CSeq ... The sequence
/// number of the CSeq header field MUST be the same as the INVITE being acknowledged, but the
/// CSeq method MUST be ACK." Within the dialog (12.2.1.1): the To carries the remote tag, the
/// Request-URI is the remote target (the 2xx's Contact); and "The ACK for a 2xx response to an
/// INVITE request is a separate transaction" (section 6): a new branch.
#[test]
fn ack_for_2xx_is_a_new_transaction_in_the_dialog() {
    let mut ua = agent();
    let dialog = ua.invite("+15550001111", None);
    let invite = sent(&mut ua).remove(0);
    let ok = reply(&invite, 200, Some("hx1"), Some("sip:leg-a@10.0.0.10:5060"));
    ua.on_datagram(at(50), addr(PEER), &ok);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    let ack = &out[0];
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.uri(), Some("sip:leg-a@10.0.0.10:5060"));
    assert_eq!(ack.values("Via").len(), 1);
    assert_ne!(ack.via_branch(), invite.via_branch(), "a new branch");
    assert!(ack.via_branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(ack.to_tag(), Some("hx1"));
    assert_eq!(ack.from_tag(), invite.from_tag());
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(ack.cseq(), Some((1, "ACK")));
    assert!(ua.dialog(dialog).is_confirmed());
    assert_eq!(ua.final_status(dialog, "INVITE"), Some(200));

    // A retransmitted 2xx (our ACK was lost) is ACKed again, with the same ACK.
    ua.on_datagram(at(600), addr(PEER), &ok);
    let again = sent(&mut ua);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].to_bytes(), ack.to_bytes());
    assert_eq!(ua.dialog(dialog).invite_2xx_received, 2);
    assert_eq!(
        ua.statuses(dialog, "INVITE"),
        vec![200],
        "first copy reported once"
    );
}

/// RFC 3261 17.1.1.3: "The ACK request constructed by the client transaction MUST contain values
/// for the Call-ID, From, and Request-URI that are equal to the values of those header fields in
/// the request passed to the transport by the client transaction ... The To header field in the
/// ACK MUST equal the To header field in the response being acknowledged ... The ACK MUST
/// contain a single Via header field, and this MUST be equal to the top Via header field of the
/// original request. The CSeq header field in the ACK MUST contain the same value for the
/// sequence number as was present in the original request, but the method parameter MUST be
/// equal to "ACK"."
#[test]
fn ack_for_non_2xx_reuses_the_invite_branch() {
    let mut ua = agent();
    let dialog = ua.invite("+15550001111", None);
    let invite = sent(&mut ua).remove(0);
    let busy = reply(&invite, 486, Some("busytag"), None);
    ua.on_datagram(at(50), addr(PEER), &busy);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    let ack = &out[0];
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.uri(), invite.uri());
    assert_eq!(ack.values("Via"), vec![invite.top_via().unwrap()]);
    assert_eq!(ack.via_branch(), invite.via_branch(), "the INVITE's branch");
    assert_eq!(
        ack.header("To"),
        Message::parse(&busy).unwrap().header("To")
    );
    assert_eq!(ack.to_tag(), Some("busytag"));
    assert_eq!(ack.header("From"), invite.header("From"));
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(ack.cseq(), Some((1, "ACK")));
    assert!(ua.dialog(dialog).is_terminated());
    assert_eq!(ua.final_status(dialog, "INVITE"), Some(486));

    // 17.1.1.2: "Any retransmissions of the final response that are received while in the
    // "Completed" state MUST cause the ACK to be re-passed to the transport layer".
    ua.on_datagram(at(550), addr(PEER), &busy);
    let again = sent(&mut ua);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].to_bytes(), ack.to_bytes());
}

/// RFC 3261 12.2.1.1: "The CSeq header field value ... the UAC MUST use the local sequence number
/// of the dialog, incremented by one"; From carries the local tag, To the remote tag, the
/// Request-URI is the remote target.
#[test]
fn in_dialog_requests_increment_the_local_cseq() {
    let mut ua = agent();
    let dialog = ua.invite("+15550001111", None);
    let invite = sent(&mut ua).remove(0);
    ua.on_datagram(
        at(10),
        addr(PEER),
        &reply(&invite, 200, Some("hx2"), Some("sip:leg-a@10.0.0.10:5060")),
    );
    sent(&mut ua);
    ua.request(dialog, "INFO", None, &[]);
    ua.bye(dialog);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].cseq(), Some((2, "INFO")));
    assert_eq!(out[1].cseq(), Some((3, "BYE")));
    for m in &out {
        assert_eq!(m.uri(), Some("sip:leg-a@10.0.0.10:5060"));
        assert_eq!(m.to_tag(), Some("hx2"));
        assert_eq!(m.from_tag(), invite.from_tag());
        assert_eq!(m.call_id(), invite.call_id());
        assert_ne!(m.via_branch(), invite.via_branch());
    }
    assert_ne!(
        out[0].via_branch(),
        out[1].via_branch(),
        "a branch per request"
    );
    assert!(ua.dialog(dialog).is_terminated());
}

/// RFC 3261 8.2.6.2: "The From field of the response MUST equal the From header field of the
/// request. The Call-ID header field of the response MUST equal the Call-ID header field of the
/// request. The CSeq header field of the response MUST equal the CSeq field of the request. The
/// Via header field values in the response MUST equal the Via header field values in the
/// request and MUST maintain the same ordering." and "If a request contained a To tag in the
/// request, the To header field in the response MUST equal that of the request. However, if the
/// To header field in the request did not contain a tag, the URI in the To header field in the
/// response MUST equal the URI in the To header field; additionally, the UAS MUST add a tag to
/// the To header field in the response (with the exception of the 100 (Trying) response, in
/// which a tag MAY be present)."
#[test]
fn responses_copy_the_request_and_add_one_to_tag() {
    let mut ua = agent();
    ua.on_datagram(at(0), addr(PEER), PEER_INVITE.as_bytes());
    let request = ua.take_request("INVITE").expect("delivered to the script");
    let dialog = ua.incoming(request).dialog.expect("a UAS dialog");
    ua.answer(request, 100, None);
    ua.answer(request, 180, None);
    ua.answer(request, 200, Some(b"v=0\r\n".to_vec()));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 3);
    let invite = Message::parse(PEER_INVITE.as_bytes()).unwrap();
    for m in &out {
        assert_eq!(m.values("Via"), invite.values("Via"), "every Via, in order");
        assert_eq!(m.header("From"), invite.header("From"));
        assert_eq!(m.call_id(), invite.call_id());
        assert_eq!(m.header("CSeq"), Some("4711 INVITE"));
        assert_eq!(
            crate::uri_of(m.header("To").unwrap()),
            crate::uri_of(invite.header("To").unwrap())
        );
    }
    assert_eq!(out[0].status(), Some(100));
    assert_eq!(out[0].to_tag(), None, "no tag on the 100");
    let tag = ua.dialog(dialog).local_tag.clone();
    assert_eq!(out[1].to_tag(), Some(tag.as_str()));
    assert_eq!(
        out[2].to_tag(),
        Some(tag.as_str()),
        "the same tag on every response"
    );
    assert_eq!(out[2].body(), b"v=0\r\n");
    assert_eq!(out[2].contact_uri(), Some("sip:carrier@10.0.0.1:5060"));
    assert!(ua.dialog(dialog).is_confirmed());
}

/// RFC 3261 17.2.1 / 17.2.2: a retransmitted request is absorbed by the server transaction,
/// which passes the most recent response to the transport again; the TU sees the request once.
#[test]
fn a_retransmitted_request_gets_the_last_response_again() {
    let mut ua = agent();
    ua.on_datagram(at(0), addr(PEER), PEER_INVITE.as_bytes());
    let request = ua.take_request("INVITE").unwrap();
    ua.answer(request, 486, None);
    let busy = sent(&mut ua).remove(0);
    ua.on_datagram(at(500), addr(PEER), PEER_INVITE.as_bytes());
    let again = sent(&mut ua);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].to_bytes(), busy.to_bytes());
    assert!(!ua.has_request("INVITE"), "delivered once");
    let requests = std::iter::from_fn(|| ua.poll_event())
        .filter(|e| matches!(e, Event::Request(_)))
        .count();
    assert_eq!(requests, 1);
}

/// RFC 3261 13.3.1.4: "The 2xx response is passed to the transport with an interval that starts
/// at T1 seconds and doubles for each retransmission until it reaches T2 seconds ... Response
/// retransmissions cease when an ACK request for the response is received."
#[test]
fn uas_retransmits_its_2xx_until_the_ack() {
    let mut ua = agent();
    ua.on_datagram(at(0), addr(PEER), PEER_INVITE.as_bytes());
    let request = ua.take_request("INVITE").unwrap();
    let dialog = ua.incoming(request).dialog.unwrap();
    ua.answer(request, 200, None);
    let ok = sent(&mut ua).remove(0);
    let mut resent_at = Vec::new();
    let mut now = 0;
    while now <= 12_000 {
        ua.on_wake(at(now));
        for m in sent(&mut ua) {
            assert_eq!(m.to_bytes(), ok.to_bytes());
            resent_at.push(now);
        }
        now += 250;
    }
    assert_eq!(resent_at, vec![500, 1500, 3500, 7500, 11_500]);
    let tag = ua.dialog(dialog).local_tag.clone();
    let ack = format!(
        "ACK sip:carrier@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKpeerack\r\n\
From: <sip:+15550001111@10.0.0.10>;tag=peertag\r\n\
To: <sip:carrier@10.0.0.1>;tag={tag}\r\n\
Call-ID: peer-call-1\r\nCSeq: 4711 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    ua.on_datagram(at(12_100), addr(PEER), ack.as_bytes());
    assert_eq!(ua.dialog(dialog).acks_received, 1);
    for ms in [15_500, 19_500, 40_000] {
        ua.on_wake(at(ms));
        assert!(sent(&mut ua).is_empty(), "no 2xx after the ACK ({ms} ms)");
    }
}

/// RFC 3261 9.2: the UAS answers the CANCEL 200 and, if it has not answered the INVITE with a
/// final response yet, answers it 487 (Request Terminated). 15.1.2: "If the BYE does not match
/// an existing dialog, the UAS core SHOULD generate a 481 (Call/Transaction Does Not Exist)".
#[test]
fn cancel_gets_200_and_487_and_a_stray_bye_gets_481() {
    let mut ua = agent();
    ua.on_datagram(at(0), addr(PEER), PEER_INVITE.as_bytes());
    let cancel = "CANCEL sip:carrier@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKpeer1\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15550001111@10.0.0.10>;tag=peertag\r\n\
To: <sip:carrier@10.0.0.1>\r\n\
Call-ID: peer-call-1\r\n\
CSeq: 4711 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    ua.on_datagram(at(10), addr(PEER), cancel.as_bytes());
    let out = sent(&mut ua);
    let answers: Vec<String> = out
        .iter()
        .map(|m| format!("{:?} {}", m.status(), m.header("CSeq").unwrap_or_default()))
        .collect();
    assert_eq!(
        answers,
        vec!["Some(200) 4711 CANCEL", "Some(487) 4711 INVITE"]
    );
    assert!(out[1].to_tag().is_some());

    let stray_bye = "BYE sip:carrier@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKstray\r\n\
From: <sip:x@10.0.0.10>;tag=a\r\nTo: <sip:carrier@10.0.0.1>;tag=nosuch\r\n\
Call-ID: nosuch\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    ua.on_datagram(at(20), addr(PEER), stray_bye.as_bytes());
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status(), Some(481));
}

/// The `auto_ok` list answers those methods 200 by itself, and still reports the request.
#[test]
fn auto_ok_methods_are_answered_and_reported() {
    let mut ua = agent();
    ua.auto_ok = vec!["OPTIONS".to_string()];
    let options = "OPTIONS sip:carrier@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bKopt\r\n\
From: <sip:handoff@10.0.0.10>;tag=o1\r\nTo: <sip:carrier@10.0.0.1>\r\n\
Call-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    ua.on_datagram(at(0), addr(PEER), options.as_bytes());
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status(), Some(200));
    assert!(!ua.has_request("OPTIONS"), "not left for the script");
    assert_eq!(ua.poll_event(), Some(Event::Request(RequestId(0))));
    assert!(ua.incoming(RequestId(0)).answered);
}

#[test]
fn sdp_audio_and_sipfrag_helpers() {
    let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 8 101\r\n";
    assert_eq!(sdp_audio(body), Some((addr("10.0.0.10:20000"), 8)));
    assert_eq!(sdp_audio(b"v=0\r\n"), None);
    assert_eq!(sipfrag_status(b"SIP/2.0 180 Ringing\r\n"), Some(180));
    assert_eq!(sipfrag_status(b"garbage"), None);
}

#[test]
fn audio_sdp_reads_back() {
    let text = AudioSdp {
        origin: "- 1 1",
        ip: "127.0.0.1",
        port: 4000,
        formats: &[(8, "PCMA/8000"), (0, "PCMU/8000")],
        events: "0-15",
        direction: "sendrecv",
    }
    .text();
    assert_eq!(
        text,
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    );
    assert_eq!(
        sdp_audio(text.as_bytes()),
        Some((addr("127.0.0.1:4000"), 8))
    );
}
