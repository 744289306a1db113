//! handoff's own G.711-only offer for re-negotiation, and the hold direction helper.

use std::net::{IpAddr, Ipv4Addr};

use handoff::sdp::{Direction, OriginState, RewritePlan, answer_direction, g711_offer, rewrite};

fn plan(codecs: &[&str]) -> RewritePlan {
    RewritePlan {
        advertise: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        audio_ports: vec![31000],
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        rtcp_mux: false,
        origin: OriginState::new(5, 9),
        username: "sbc".to_string(),
    }
}

#[test]
fn offer_is_complete_and_g711_only() {
    let offer = g711_offer(&plan(&["G729", "PCMA", "PCMU"]), Direction::SendRecv);
    let text = String::from_utf8(offer.bytes).unwrap();
    assert_eq!(
        text,
        "v=0\r\no=sbc 5 9 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
         m=audio 31000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
}

#[test]
fn offer_without_any_listed_law_offers_both() {
    let offer = g711_offer(&plan(&["G729"]), Direction::SendOnly);
    let text = String::from_utf8(offer.bytes).unwrap();
    assert!(text.contains("m=audio 31000 RTP/AVP 0 8 101\r\n"));
    assert!(text.contains("a=sendonly\r\n"));
}

#[test]
fn offer_parses_back_with_its_own_rewrite() {
    let offer = g711_offer(&plan(&[]), Direction::SendRecv);
    let parsed = rewrite(&offer.bytes, &plan(&["PCMU"])).unwrap();
    assert_eq!(
        parsed.remote_rtp,
        Some("198.51.100.1:31000".parse().unwrap())
    );
    assert_eq!(
        parsed.first_audio_codec().map(|c| c.name.as_str()),
        Some("PCMU")
    );
}

#[test]
fn offer_version_follows_origin_state() {
    let mut plan = plan(&[]);
    let first = g711_offer(&plan, Direction::SendRecv);
    plan.origin = first.origin;
    assert_eq!(g711_offer(&plan, Direction::SendRecv).origin.version, 9);
    assert_eq!(g711_offer(&plan, Direction::Inactive).origin.version, 10);
}

#[test]
fn answer_direction_mirrors_hold() {
    assert_eq!(answer_direction(Direction::SendOnly), Direction::RecvOnly);
    assert_eq!(answer_direction(Direction::RecvOnly), Direction::SendOnly);
    assert_eq!(answer_direction(Direction::Inactive), Direction::Inactive);
    assert_eq!(answer_direction(Direction::SendRecv), Direction::SendRecv);
}
