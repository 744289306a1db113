//! `rewrite` never panics: random bytes, and random mutations of a valid SDP, either rewrite
//! or give an error; a successful rewrite is itself a valid SDP that rewrites again.

use std::net::{IpAddr, Ipv6Addr};

use handoff::sdp::{OriginState, RewritePlan, rewrite};
use proptest::prelude::*;

const VALID: &[u8] = b"v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
a=rtcp:4001 IN IP4 192.0.2.1\r\na=rtcp-mux\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\n";

fn plan(ports: Vec<u16>, mux: bool) -> RewritePlan {
    RewritePlan {
        advertise: IpAddr::V6(Ipv6Addr::LOCALHOST),
        audio_ports: ports,
        codecs: vec!["PCMA".into(), "opus".into()],
        rtcp_mux: mux,
        origin: OriginState::new(1, 1),
        username: "sbc".to_string(),
    }
}

fn check(input: &[u8], plan: &RewritePlan) {
    if let Ok(out) = rewrite(input, plan) {
        assert!(
            rewrite(&out.bytes, plan).is_ok(),
            "output does not rewrite again"
        );
    }
}

/// `PROPTEST_CASES` overrides the case count (`scripts/fuzz-ci.sh` raises it when cargo-fuzz
/// cannot run).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400),
                                ports in proptest::collection::vec(any::<u16>(), 0..3),
                                mux in any::<bool>()) {
        check(&input, &plan(ports, mux));
    }

    #[test]
    fn mutated_valid_sdp_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                      cut in any::<usize>(),
                                      mux in any::<bool>()) {
        let mut input = VALID.to_vec();
        for (at, byte) in edits {
            let at = at % input.len();
            input[at] = byte;
        }
        input.truncate(cut % (VALID.len() + 1));
        check(&input, &plan(vec![30000, 30002], mux));
    }

    #[test]
    fn sdp_shaped_lines_never_panic(lines in proptest::collection::vec(
        ("[vocmatbsiuepkz]", "[ -~]{0,40}"), 0..20)) {
        let mut input = b"v=0\r\n".to_vec();
        for (kind, value) in lines {
            input.extend_from_slice(kind.as_bytes());
            input.push(b'=');
            input.extend_from_slice(value.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        check(&input, &plan(vec![30000], true));
    }
}
