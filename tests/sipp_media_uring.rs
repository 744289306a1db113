//! SIPp with media through the real binary on io = "uring": 1,000 calls at 100 calls/s, each
//! streaming G.711 PCMU (SIPp `rtp_stream`) from the uac; the RTP must reach the far side (a
//! UDP socket the test owns, named in the uas's SDP answer), one SSRC per call, and every call
//! must succeed.

#[path = "sipp/harness.rs"]
mod harness;

use harness::Layout;

#[test]
fn thousand_sipp_calls_with_rtp_reach_the_far_side_on_uring() {
    harness::calls_with_media(
        Layout {
            io: "uring",
            media_ports: (4000, 6000),
            sipp_media_uac: 8020,
            sipp_media_uas: 8030,
            uring_without: "",
        },
        1000,
        100,
        1000,
    );
}
