//! Parser benchmark: ns per parse of a typical ~900-byte INVITE with SDP, allocations per
//! parse (counted by `stats_alloc`), and a header-access pass (Call-ID, CSeq,
//! top Via, From tag, To tag). Run: `cargo bench --bench parser`.
//!
//! `cargo bench --bench parser -- --count N` only runs N validating parses and N framing-only
//! parses, for instruction counting:
//! `valgrind --tool=callgrind --toggle-collect='*parse_once*' target/release/deps/parser-* --count 10000`
//! counts the validating parse, `'*parse_framing_once*'` the framing-only one.

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use handoff::sip::Message;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INVITE: &[u8] =
    b"INVITE sip:+15559876543@trunk.carrier-a.example:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Partner Desk\" <sip:+15559876543@trunk.carrier-a.example;user=phone>\r\n\
From: \"Contact Center\" <sip:+15551230000@platform.example.com;user=phone>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.platform.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+15551230000@192.0.2.10:5060;transport=udp>\r\n\
P-Asserted-Identity: <sip:+15551230000@platform.example.com;user=phone>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, OPTIONS, UPDATE, PRACK\r\n\
Supported: replaces, timer, 100rel\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: handoff-bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 228\r\n\
\r\n\
v=0\r\n\
o=cc 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// Operations per timed sample. Samples are short (about a millisecond) so that, on a shared
/// machine, many of them run without being preempted; the median and the best are reported.
const ITERATIONS: u64 = 2_000;
const SAMPLES: usize = 301;
/// Operations over which allocations are counted.
const ALLOC_ITERATIONS: u64 = 100_000;

struct Timing {
    median: f64,
    best: f64,
}

fn ns_per_op(mut run: impl FnMut() -> u64) -> Timing {
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            black_box(run());
            start.elapsed().as_nanos() as f64 / ITERATIONS as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    Timing {
        median: samples[SAMPLES / 2],
        best: samples[0],
    }
}

fn allocations_per_op(mut op: impl FnMut() -> u64) -> f64 {
    let region = Region::new(GLOBAL);
    let mut sink = 0;
    for _ in 0..ALLOC_ITERATIONS {
        sink += op();
    }
    black_box(sink);
    let change = region.change();
    (change.allocations + change.reallocations) as f64 / ALLOC_ITERATIONS as f64
}

#[inline(never)]
fn parse_once() -> u64 {
    match Message::parse(black_box(INVITE)) {
        Ok(m) => m.header_count() as u64,
        Err(e) => panic!("benchmark INVITE must parse: {e}"),
    }
}

#[inline(never)]
fn parse_framing_once() -> u64 {
    match Message::parse_framing(black_box(INVITE)) {
        Ok(m) => m.header_count() as u64,
        Err(e) => panic!("benchmark INVITE must parse: {e}"),
    }
}

fn access_once(m: &Message<'_>) -> u64 {
    let call_id = m.call_id().map_or(0, str::len);
    let cseq = m.cseq().map_or(0, |c| c.seq as usize);
    let branch = m
        .top_via()
        .ok()
        .and_then(|v| v.branch())
        .map_or(0, str::len);
    let from_tag = m.from().ok().and_then(|f| f.tag()).map_or(0, str::len);
    let to_tag = m.to().ok().and_then(|t| t.tag()).map_or(0, str::len);
    (call_id + cseq + branch + from_tag + to_tag) as u64
}

fn report(what: &str, t: &Timing, allocs: Option<f64>) {
    let allocs = allocs
        .map(|a| format!("; {a} allocations/op"))
        .unwrap_or_default();
    println!(
        "{what:<40} median {:7.1} ns, best {:7.1} ns{allocs}",
        t.median, t.best
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--count" {
            let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
            let sum: u64 = (0..n).map(|_| parse_once() + parse_framing_once()).sum();
            println!("{n} validating and {n} framing-only parses (checksum {sum})");
            return;
        }
    }
    let msg = match Message::parse(INVITE) {
        Ok(m) => m,
        Err(e) => panic!("benchmark INVITE must parse: {e}"),
    };
    println!(
        "typical INVITE with SDP: {} bytes; {SAMPLES} samples x {ITERATIONS} ops",
        INVITE.len()
    );

    let parse_allocs = allocations_per_op(parse_once);
    let parse = ns_per_op(|| (0..ITERATIONS).map(|_| parse_once()).sum());
    report("Message::parse", &parse, Some(parse_allocs));

    let framing_allocs = allocations_per_op(parse_framing_once);
    let framing = ns_per_op(|| (0..ITERATIONS).map(|_| parse_framing_once()).sum());
    report(
        "Message::parse_framing (no value checks)",
        &framing,
        Some(framing_allocs),
    );

    let access_allocs = allocations_per_op(|| access_once(black_box(&msg)));
    let access = ns_per_op(|| (0..ITERATIONS).map(|_| access_once(black_box(&msg))).sum());
    report(
        "header access (call_id cseq via from to)",
        &access,
        Some(access_allocs),
    );

    components();
}

/// Typed value parsers on their own, to see where a full parse spends its time.
fn components() {
    use handoff::sip::{CSeq, NameAddr, Uri, Via};
    let from: &[u8] =
        b"\"Contact Center\" <sip:+15551230000@platform.example.com;user=phone>;tag=1928301774";
    let via: &[u8] = b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport";
    let uri = "sip:+15551230000@platform.example.com;user=phone";
    let t = ns_per_op(|| {
        (0..ITERATIONS)
            .map(|_| NameAddr::parse(black_box(from)).is_ok() as u64)
            .sum()
    });
    report("NameAddr::parse(From)", &t, None);
    let t = ns_per_op(|| {
        (0..ITERATIONS)
            .map(|_| Uri::parse(black_box(uri)).is_ok() as u64)
            .sum()
    });
    report("Uri::parse", &t, None);
    let t = ns_per_op(|| {
        (0..ITERATIONS)
            .map(|_| Via::parse(black_box(via)).is_ok() as u64)
            .sum()
    });
    report("Via::parse", &t, None);
    let t = ns_per_op(|| {
        (0..ITERATIONS)
            .map(|_| CSeq::parse(black_box(b"314159 INVITE")).is_ok() as u64)
            .sum()
    });
    report("CSeq::parse", &t, None);
}
