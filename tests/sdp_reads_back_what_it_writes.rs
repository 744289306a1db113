//! What handoff writes into an SDP is read back the way it was read in. `a=rtpmap`/`a=fmtp` name a payload type of the m= line by number (RFC 4566 section 6: "<payload
//! type> ... used in an 'm=' line"). handoff reads `a=rtpmap:0111 opus/48000/2` as payload type 111
//! when choosing codecs, so it must keep that line with 111 when it writes the SDP on: otherwise
//! the far side gets a dynamic payload type with no rtpmap, an SDP handoff itself refuses.
//! Found by the `sdp_rewrite` fuzz target (fuzz/seeds/sdp_rewrite/regression_rtpmap_leading_zero).

use std::net::{IpAddr, Ipv4Addr};

use handoff::sdp::{OriginState, RewritePlan, rewrite};

fn plan() -> RewritePlan {
    RewritePlan {
        advertise: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
        audio_ports: vec![30_000],
        codecs: vec!["PCMA".into(), "opus".into()],
        rtcp_mux: false,
        origin: OriginState::new(1, 1),
        username: "sbc".to_string(),
    }
}

const OFFER: &str = "v=0\r\no=softphone 1 1 IN IP4 192.0.2.5\r\ns=-\r\nt=0 0\r\n\
m=audio 50000 RTP/AVP 111 0\r\nc=IN IP4 192.0.2.5\r\n\
a=rtpmap:0111 opus/48000/2\r\na=fmtp:0111 useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn an_rtpmap_with_a_leading_zero_stays_with_its_payload_type() {
    let out = rewrite(OFFER.as_bytes(), &plan()).expect("the offer is accepted");
    let text = String::from_utf8(out.bytes.clone()).expect("utf-8");
    assert!(text.contains("m=audio 30000 RTP/AVP 111\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:0111 opus/48000/2\r\n"), "{text}");
    assert!(text.contains("a=fmtp:0111 useinbandfec=1\r\n"), "{text}");
    // PCMU is not allowed by the plan: its rtpmap goes with it.
    assert!(!text.contains("PCMU"), "{text}");
    let again = rewrite(&out.bytes, &plan()).expect("handoff's own SDP is accepted again");
    assert_eq!(
        again.first_audio_codec().map(|c| c.name.as_str()),
        Some("opus")
    );
}

/// Trailing white space is read as it is written: `a=rtcp<TAB>` is the `rtcp` attribute without
/// its port (RFC 3605 requires one), refused on the way in rather than passed on as an SDP that
/// the next hop, and handoff itself, refuse. Found by the `sdp_rewrite` fuzz target
/// (fuzz/seeds/sdp_rewrite/regression_attribute_trailing_tabs).
#[test]
fn an_attribute_is_read_without_its_trailing_white_space() {
    let offer = "v=0\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8\r\n\
                 a=rtpmap:8 PCMA/8000 \r\na=rtcp\t\t\r\n";
    assert!(rewrite(offer.as_bytes(), &plan()).is_err());
    let offer = "v=0\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8\r\n\
                 a=rtpmap:8 PCMA/8000 \t\r\na=sendrecv \r\n";
    let out = rewrite(offer.as_bytes(), &plan()).expect("trailing blanks are not an error");
    let text = String::from_utf8(out.bytes).expect("utf-8");
    assert!(
        text.contains("a=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"),
        "{text}"
    );
}
