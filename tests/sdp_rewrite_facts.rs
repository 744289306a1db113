//! What `rewrite` reports about the sender's media (remote addresses, mux, direction, codecs),
//! and the o= version state across rewrites of one leg.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use handoff::sdp::{Direction, OriginState, RewritePlan, SdpError, rewrite};

fn plan(codecs: &[&str], rtcp_mux: bool) -> RewritePlan {
    RewritePlan {
        advertise: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        audio_ports: vec![30000],
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        rtcp_mux,
        origin: OriginState::new(77, 1),
        username: "sbc".to_string(),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const OFFER: &str = "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\n";

#[test]
fn reports_remote_rtp_and_derived_rtcp() {
    let out = rewrite(OFFER.as_bytes(), &plan(&[], false)).unwrap();
    assert_eq!(out.remote_rtp, Some(addr("192.0.2.1:4000")));
    assert_eq!(out.remote_rtcp, Some(addr("192.0.2.1:4001")));
    assert_eq!(out.direction, Direction::SendRecv);
}

#[test]
fn reports_codecs_in_offer_order_and_first_audio_codec() {
    let out = rewrite(OFFER.as_bytes(), &plan(&["PCMU", "PCMA"], false)).unwrap();
    let kept: Vec<(u8, &str, u32)> = out
        .codecs
        .iter()
        .map(|c| (c.payload_type, c.name.as_str(), c.clock_rate))
        .collect();
    assert_eq!(
        kept,
        vec![
            (8, "PCMA", 8000),
            (0, "PCMU", 8000),
            (101, "telephone-event", 8000)
        ]
    );
    assert_eq!(out.first_audio_codec().map(|c| c.payload_type), Some(8));
    assert_eq!(out.telephone_event().map(|c| c.payload_type), Some(101));
}

#[test]
fn rtcp_mux_is_kept_only_when_plan_allows() {
    let allowed = rewrite(OFFER.as_bytes(), &plan(&[], true)).unwrap();
    assert!(allowed.rtcp_mux_offered && allowed.rtcp_mux);
    assert!(
        String::from_utf8(allowed.bytes)
            .unwrap()
            .contains("a=rtcp-mux\r\n")
    );
    let refused = rewrite(OFFER.as_bytes(), &plan(&[], false)).unwrap();
    assert!(refused.rtcp_mux_offered && !refused.rtcp_mux);
    assert!(
        !String::from_utf8(refused.bytes)
            .unwrap()
            .contains("rtcp-mux")
    );
}

#[test]
fn explicit_rtcp_attribute_gives_remote_rtcp() {
    let sdp =
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:5555 IN IP4 192.0.2.9\r\n";
    let out = rewrite(sdp.as_bytes(), &plan(&[], false)).unwrap();
    assert_eq!(out.remote_rtcp, Some(addr("192.0.2.9:5555")));
}

#[test]
fn zero_address_hold_has_no_remote_address() {
    let sdp = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let out = rewrite(sdp.as_bytes(), &plan(&[], false)).unwrap();
    assert_eq!(out.remote_rtp, None);
    assert_eq!(out.remote_rtcp, None);
}

#[test]
fn media_level_direction_overrides_session_level() {
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
    assert_eq!(
        rewrite(sdp.as_bytes(), &plan(&[], false))
            .unwrap()
            .direction,
        Direction::SendOnly
    );
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        rewrite(sdp.as_bytes(), &plan(&[], false))
            .unwrap()
            .direction,
        Direction::Inactive
    );
}

#[test]
fn telephone_event_alone_is_no_common_codec() {
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    assert_eq!(
        rewrite(sdp.as_bytes(), &plan(&["PCMU"], false)),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn unknown_dynamic_payload_type_passes_only_when_all_codecs_allowed() {
    let sdp = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 96 0\r\n";
    let all = rewrite(sdp.as_bytes(), &plan(&[], false)).unwrap();
    assert!(
        String::from_utf8(all.bytes)
            .unwrap()
            .contains("m=audio 30000 RTP/AVP 96 0\r\n")
    );
    let filtered = rewrite(sdp.as_bytes(), &plan(&["PCMU"], false)).unwrap();
    assert!(
        String::from_utf8(filtered.bytes)
            .unwrap()
            .contains("m=audio 30000 RTP/AVP 0\r\n")
    );
}

#[test]
fn origin_version_bumps_only_when_content_changes() {
    let mut plan = plan(&[], false);
    let first = rewrite(OFFER.as_bytes(), &plan).unwrap();
    assert_eq!(first.origin.version, 1);
    plan.origin = first.origin;
    let same = rewrite(OFFER.as_bytes(), &plan).unwrap();
    assert_eq!(same.origin.version, 1);
    assert_eq!(same.bytes, first.bytes);
    plan.origin = same.origin;
    plan.audio_ports = vec![30002];
    let moved = rewrite(OFFER.as_bytes(), &plan).unwrap();
    assert_eq!(moved.origin.version, 2);
    assert!(
        String::from_utf8(moved.bytes)
            .unwrap()
            .contains("o=sbc 77 2 IN IP4 203.0.113.10\r\n")
    );
}

#[test]
fn missing_connection_is_malformed() {
    let sdp = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert!(matches!(
        rewrite(sdp.as_bytes(), &plan(&[], false)),
        Err(SdpError::Malformed { line: 2, .. })
    ));
}

#[test]
fn hostname_connection_is_malformed() {
    let sdp = "v=0\r\nc=IN IP4 pbx.example.com\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert!(matches!(
        rewrite(sdp.as_bytes(), &plan(&[], false)),
        Err(SdpError::Malformed { line: 2, .. })
    ));
}
