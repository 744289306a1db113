//! SIPp through the real binary on io = "uring": 1,000 calls at 100 calls/s from a SIPp uac
//! (carrier trunk) to a SIPp uas (platform trunk), with 0 failed calls.

#[path = "sipp/harness.rs"]
mod harness;

use harness::Layout;

#[test]
fn thousand_sipp_calls_at_100_cps_all_succeed_on_uring() {
    harness::calls_without_media(
        Layout {
            io: "uring",
            media_ports: (6000, 7000),
            sipp_media_uac: 8000,
            sipp_media_uas: 8010,
            uring_without: "",
        },
        1000,
        100,
    );
}
