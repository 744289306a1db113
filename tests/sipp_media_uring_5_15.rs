//! SIPp with media through the real binary on io = "uring" with every io_uring feature newer
//! than Linux 5.15 reported missing (`HANDOFF_URING_WITHOUT=all`): media sockets bound with
//! bind(2) and registered as fixed files, single-shot receives into per-socket buffers, SENDMSG,
//! eventfd wakes between shards, a ring without SUBMIT_ALL/COOP_TASKRUN. 500 calls at 100
//! calls/s, each streaming G.711 PCMU from the uac; the RTP must reach the far side, one SSRC per
//! call, and every call must succeed (tests/sipp_media_uring.rs is the same on every feature).

#[path = "sipp/harness.rs"]
mod harness;

use harness::Layout;

#[test]
fn sipp_calls_with_rtp_succeed_on_the_io_uring_forms_of_linux_5_15() {
    harness::calls_with_media(
        Layout {
            io: "uring",
            media_ports: (4000, 6000),
            sipp_media_uac: 8020,
            sipp_media_uas: 8030,
            uring_without: "all",
        },
        500,
        100,
        1000,
    );
}
