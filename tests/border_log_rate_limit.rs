//! The refusal log line's limiter (issue 9 #11: "one line per source per minute"), driven by a
//! virtual clock: the limiter is pure and takes the time as an input.

use handoff::vocab::StatusCode;
use std::net::{IpAddr, SocketAddr};

use handoff::border_log::{BorderLog, MAX_SOURCES, WINDOW};
use handoff::vocab::Time;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn at_ms(ms: u64) -> Time {
    Time::from_millis(ms)
}

#[test]
fn one_line_per_source_per_minute() {
    let mut log = BorderLog::new();
    let scanner = ip("203.0.113.7");
    assert_eq!(
        log.admit(at_ms(0), scanner),
        Some(0),
        "the first refusal is logged"
    );
    for ms in [1, 10, 1_000, 30_000, 59_999] {
        assert_eq!(
            log.admit(at_ms(ms), scanner),
            None,
            "t={ms} ms: within the minute"
        );
    }
    // A minute after its last line, the source is logged again, with what was left out.
    assert_eq!(log.admit(at_ms(60_000), scanner), Some(5));
    assert_eq!(log.admit(at_ms(60_001), scanner), None);
    assert_eq!(log.admit(at_ms(120_000), scanner), Some(1));
    assert_eq!(WINDOW, at_ms(60_000));
}

#[test]
fn sources_are_limited_independently() {
    let mut log = BorderLog::new();
    let (a, b) = (ip("203.0.113.7"), ip("2001:db8::7"));
    assert_eq!(log.admit(at_ms(0), a), Some(0));
    assert_eq!(
        log.admit(at_ms(5), b),
        Some(0),
        "another source has its own minute"
    );
    assert_eq!(log.admit(at_ms(6), a), None);
    assert_eq!(log.admit(at_ms(7), b), None);
}

#[test]
fn memory_stays_bounded_under_a_spoofed_flood() {
    let mut log = BorderLog::new();
    for n in 0..MAX_SOURCES as u32 {
        assert!(log.admit(at_ms(0), IpAddr::from(n.to_be_bytes())).is_some());
    }
    // Full of sources seen this minute: a new one is counted, not remembered.
    let late = ip("198.51.100.1");
    assert_eq!(log.admit(at_ms(1), late), None);
    assert_eq!(log.unlogged(), 1);
    // Once the minute has passed, expired sources make room.
    assert_eq!(log.admit(at_ms(60_000), late), Some(0));
}

#[test]
fn the_line_is_one_line_in_the_documented_format() {
    let source: SocketAddr = "203.0.113.7:5060".parse().unwrap();
    assert_eq!(
        BorderLog::line(source, None, "unknown_source", 0, ""),
        "refused source=203.0.113.7 port=5060 status=drop reason=unknown_source suppressed=0 detail=\"\""
    );
    let line = BorderLog::line(
        source,
        Some(StatusCode::NOT_FOUND),
        "rejected",
        3,
        "no route \"x\"\r\nInjected: 1",
    );
    assert_eq!(
        line,
        "refused source=203.0.113.7 port=5060 status=404 reason=rejected suppressed=3 detail=\"no route 'x'  Injected: 1\""
    );
    assert!(!line.contains('\n'));
}
