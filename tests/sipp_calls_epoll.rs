//! SIPp through the real binary on io = "epoll": 1,000 calls at 100 calls/s from a SIPp uac
//! (carrier trunk) to a SIPp uas (platform trunk), with 0 failed calls.

#[path = "sipp/harness.rs"]
mod harness;

use harness::Layout;

#[test]
fn thousand_sipp_calls_at_100_cps_all_succeed_on_epoll() {
    harness::calls_without_media(
        Layout {
            io: "epoll",
            media_ports: (7000, 8000),
            sipp_media_uac: 8100,
            sipp_media_uas: 8110,
            uring_without: "",
        },
        1000,
        100,
    );
}
