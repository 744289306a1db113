//! Any bytes as an SDP offer or answer: `rewrite` never panics, and what it produces is itself an
//! SDP that rewrites again (handoff's output is the next hop's input).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use handoff::sdp::{OriginState, RewritePlan, rewrite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the plan: port count, rtcp-mux, codec policy.
    let (choice, sdp) = match data.split_first() {
        Some((choice, rest)) => (*choice, rest),
        None => (0, data),
    };
    let plan = RewritePlan {
        advertise: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
        audio_ports: (0..choice % 3).map(|i| 30_000 + 2 * u16::from(i)).collect(),
        codecs: if choice & 0x10 == 0 {
            vec!["PCMU".into(), "PCMA".into()]
        } else {
            vec!["PCMA".into(), "opus".into(), "telephone-event".into()]
        },
        rtcp_mux: choice & 0x20 != 0,
        origin: OriginState::new(1, 1),
        username: "sbc".to_string(),
    };
    if let Ok(out) = rewrite(sdp, &plan) {
        assert!(
            rewrite(&out.bytes, &plan).is_ok(),
            "handoff's own SDP does not rewrite again: {:?}",
            String::from_utf8_lossy(&out.bytes)
        );
    }
});
