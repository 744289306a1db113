//! The core fuzz driver under proptest: random operation sequences (datagrams, time, INVITEs,
//! responses and in-dialog requests built from handoff's own output) never panic and never
//! break an invariant. The real fuzzing is `fuzz/fuzz_targets/core_datagrams.rs`.

use handoff::vocab::StatusCode;
use std::net::SocketAddr;

use handoff::core::{Event, MediaCommand};
use handoff::sim::core_fuzz::Step;
use proptest::prelude::*;

/// `PROPTEST_CASES` overrides the case count (`scripts/fuzz-ci.sh` raises it when cargo-fuzz
/// cannot run).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]
    #[test]
    fn random_operation_sequences_keep_the_core_consistent(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        handoff::sim::core_fuzz::drive(&data);
    }
}

/// The carrier (10.0.0.1) calls the platform (10.0.0.2) through handoff; the platform answers;
/// the carrier re-INVITEs, the platform answers that; one second later the carrier hangs up
/// and the platform answers the BYE. Each byte group is one operation of
/// `handoff::sim::core_fuzz::drive` (see its `run`): `2` INVITE, `3` a peer responds to a
/// request handoff sent (pick, status index, variant), `5` a peer sends an in-dialog request
/// built from a message handoff sent (pick, method), `1` time passes. The picks index the
/// messages handoff had sent so far, so the assertions below check that each step did what it
/// says: a sequence that silently drifted (a 420, a 481) fails here.
#[test]
fn structured_call_sequence() {
    let data = [
        7, // seed
        2, 4, 4, // INVITE from the carrier, +15551230000, with an SDP offer, Max-Forwards 70
        3, 0, 1, 1, // the platform: 180 Ringing (tag p1)
        3, 0, 3, 1, // the platform: 200 OK with SDP (tag p1)
        5, 4, 8, // the carrier ACKs handoff's 200 (sent #4)
        5, 4, 1, // the carrier re-INVITEs in the dialog (CSeq 2)
        3, 2, 3, 1, // the platform answers the relayed re-INVITE (sent #6) with 200
        5, 8, 8, // the carrier ACKs the relayed 200 (sent #8)
        1, 10, 0, // 1 s
        5, 8, 0, // the carrier sends BYE (CSeq 3)
        3, 4, 3, 4, // the platform answers the relayed BYE (sent #10) with 200 (tag p1)
        1, 255, 0, // 25.5 s
    ];
    let trace = handoff::sim::core_fuzz::drive_traced(&data);
    let carrier: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let platform: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    // (first line, CSeq) of what handoff sent to `to`, in order.
    let sent_to = |to: SocketAddr| -> Vec<(String, String)> {
        trace
            .ladder
            .iter()
            .filter_map(|step| match step {
                Step::Out { to: dest, payload } if *dest == to => {
                    let text = String::from_utf8_lossy(payload);
                    let first = text.lines().next().unwrap_or("").to_owned();
                    let cseq = text
                        .lines()
                        .find_map(|line| line.strip_prefix("CSeq: "))
                        .unwrap_or("")
                        .to_owned();
                    Some((first, cseq))
                }
                _ => None,
            })
            .collect()
    };
    let has = |list: &[(String, String)], first: &str, cseq: &str| {
        list.iter().any(|(f, c)| f.starts_with(first) && c == cseq)
    };
    let to_carrier = sent_to(carrier);
    let to_platform = sent_to(platform);
    let ladder = format!("to carrier: {to_carrier:#?}\nto platform: {to_platform:#?}");

    // Answered: the platform got the INVITE, the carrier got the 2xx (RFC 3261 section 13.3.1.4).
    assert!(has(&to_platform, "INVITE ", "1 INVITE"), "{ladder}");
    assert!(has(&to_carrier, "SIP/2.0 200 ", "1 INVITE"), "{ladder}");
    // The re-INVITE went on to the platform's Contact (the dialog's remote target, RFC 3261
    // section 12.2.1.1) and its 2xx came back to the carrier; handoff ACKed the platform's.
    assert!(
        has(&to_platform, "INVITE sip:peer@10.0.0.2:5060 ", "2 INVITE"),
        "{ladder}"
    );
    assert!(has(&to_platform, "ACK ", "2 ACK"), "{ladder}");
    assert!(has(&to_carrier, "SIP/2.0 200 ", "2 INVITE"), "{ladder}");
    // The BYE ended the call: answered 200 to the carrier, relayed to the platform.
    assert!(has(&to_carrier, "SIP/2.0 200 ", "3 BYE"), "{ladder}");
    assert!(
        has(&to_platform, "BYE sip:peer@10.0.0.2:5060 ", "3 BYE"),
        "{ladder}"
    );
    // Nothing refused on the way, and handoff sent the carrier no BYE of its own.
    for (first, cseq) in to_carrier.iter().chain(&to_platform) {
        let refused = first.starts_with("SIP/2.0 4")
            || first.starts_with("SIP/2.0 5")
            || first.starts_with("SIP/2.0 6");
        assert!(!refused, "handoff refused {cseq}: {first}\n{ladder}");
    }
    assert!(
        !to_carrier.iter().any(|(f, _)| f.starts_with("BYE ")),
        "{ladder}"
    );

    // One call: started carrier -> platform, answered, ended by the carrier's BYE after 1 s.
    let [
        Event::CallStarted {
            call: started,
            from_trunk,
            to_trunk,
            ..
        },
        Event::CallAnswered { call: answered },
        Event::CallEnded(end),
    ] = trace.events.as_slice()
    else {
        panic!("expected started, answered, ended: {:#?}", trace.events);
    };
    assert_eq!(
        (from_trunk.as_str(), to_trunk.as_str()),
        ("carrier", "platform")
    );
    assert_eq!(answered, started);
    assert_eq!(&end.call, started);
    assert_eq!(end.setup_status, Some(StatusCode::OK));
    assert_eq!(end.end_reason, "bye_from_a");
    assert_eq!(end.duration_ms, 1_000);

    // Resources: media opened for the call and closed; no call, no port left on any shard.
    assert!(
        matches!(trace.media.first(), Some(MediaCommand::Open { call, .. }) if call == started),
        "{:#?}",
        trace.media
    );
    assert_eq!(
        trace.media.last(),
        Some(&MediaCommand::Close { call: *started })
    );
    assert_eq!(trace.end_state, vec![(0, 0, 0), (0, 0, 0)]);
}

/// Inputs the fuzzer found crashing, kept as regressions.
#[test]
fn fuzz_regressions() {
    // A re-INVITE's 2xx arriving after the call ended started a 2xx retransmission on it.
    let ended_call_2xx: &[u8] = &[
        1, 2, 1, 0, 3, 0, 3, 1, 5, 5, 1, 1, 2, 8, 1, 14, 0, 5, 0, 0, 5, 1, 0, 0, 0, 124, 124, 124,
        9, 57, 51, 0, 97, 11, 51, 54, 11, 4, 0, 0,
    ];
    handoff::sim::core_fuzz::drive(ended_call_2xx);
}
