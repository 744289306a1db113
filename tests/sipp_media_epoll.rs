//! SIPp with media through the real binary on io = "epoll": 1,000 calls at 100 calls/s, each
//! streaming G.711 PCMU (SIPp `rtp_stream`) from the uac; the RTP must reach the far side (a
//! UDP socket the test owns, named in the uas's SDP answer), one SSRC per call, and every call
//! must succeed.

#[path = "sipp/harness.rs"]
mod harness;

use harness::Layout;

#[test]
fn thousand_sipp_calls_with_rtp_reach_the_far_side_on_epoll() {
    harness::calls_with_media(
        Layout {
            io: "epoll",
            media_ports: (2000, 4000),
            sipp_media_uac: 8120,
            sipp_media_uas: 8130,
            uring_without: "",
        },
        1000,
        100,
        1000,
    );
}
