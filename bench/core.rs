//! Core benchmark: CPU time of one call's setup and teardown through a ShardCore, and bytes of
//! state held per established call.
//!
//! `cargo bench --bench core` (or `cargo bench --bench core -- CALLS`).
//!
//! The carrier and platform are played by code that builds their messages from what handoff sent
//! (outside the timed region); only handoff's work is timed: `handle_datagram`, `handle_timeout`
//! and draining `poll_output`. One call = INVITE, 180, 200 (with SDP), ACK, BYE, 200 to BYE,
//! plus the transaction timers that fire afterwards. Memory: live heap bytes (counted by
//! `stats_alloc`) with N calls established and their setup transactions expired, divided by N.

use handoff::vocab::StatusCode;
use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff::core::{Output, ShardCore, ShardId, Time};
use handoff::sim::{offer_sdp, standard_config};
use handoff::sip::{Method, RequestBuilder};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// CPU time of this thread (not wall time: the machine is shared), from the scheduler's
/// accounting in /proc (nanoseconds). `None` where /proc does not have it.
fn thread_cpu() -> Option<Duration> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
}

const CARRIER: &str = "10.0.0.1:5060";
const PLATFORM: &str = "10.0.0.2:5060";

fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060)))
}

/// One input to the core, recorded so it can be replayed without the peers' work.
enum Input {
    Datagram(Time, SocketAddr, Vec<u8>),
    /// `handle_timeout(now)`: time passed and deadlines were due.
    Timeout(Time),
}

/// One shard, its timers, and the inputs it got.
struct Bench {
    core: ShardCore,
    now: Time,
    sent: Vec<(SocketAddr, Vec<u8>)>,
    recorded: Vec<Input>,
    record: bool,
}

impl Bench {
    fn new() -> Bench {
        let mut config = standard_config();
        config.sbc.media_ports = (10000, 60000);
        Bench {
            core: ShardCore::new(ShardId(0), 1, Arc::new(config), 42),
            now: Time::ZERO,
            sent: Vec::new(),
            recorded: Vec::new(),
            record: true,
        }
    }

    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            if let Output::Transmit(t) = output {
                self.sent.push((t.to, t.payload));
            }
        }
    }

    fn deliver(&mut self, from: &str, payload: &[u8]) {
        let from = addr(from);
        if self.record {
            self.recorded
                .push(Input::Datagram(self.now, from, payload.to_vec()));
        }
        self.core.handle_datagram(self.now, from, payload);
        self.drain();
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
        if self.core.poll_timeout().is_some_and(|at| at <= self.now) {
            if self.record {
                self.recorded.push(Input::Timeout(self.now));
            }
            self.core.handle_timeout(self.now);
            self.drain();
        }
    }

    /// The last message handoff sent to `to` whose first line starts with `prefix`.
    fn take_sent(&mut self, to: &str, prefix: &[u8]) -> Vec<u8> {
        let to = addr(to);
        let index = self
            .sent
            .iter()
            .rposition(|(dest, p)| *dest == to && p.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "handoff sent no {:?} to {to}",
                    String::from_utf8_lossy(prefix)
                )
            });
        let payload = self.sent.swap_remove(index).1;
        self.sent.clear();
        payload
    }
}

fn invite(i: u64) -> Vec<u8> {
    RequestBuilder::new(Method::Invite, "sip:+15551230000@10.0.0.10:5060")
        .header("Via", format!("SIP/2.0/UDP {CARRIER};branch=z9hG4bKc{i}"))
        .header("Max-Forwards", "70")
        .header("From", format!("<sip:+15557654321@10.0.0.1>;tag=c{i}"))
        .header("To", "<sip:+15551230000@10.0.0.10>")
        .header("Call-ID", format!("bench-{i}@10.0.0.1"))
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<sip:carrier@{CARRIER}>"))
        .header("P-Asserted-Identity", "<sip:+15557654321@carrier.example>")
        .body("application/sdp", offer_sdp("10.0.0.1", 4000))
        .build()
        .expect("bench INVITE builds")
}

fn answer(request: &[u8], status: StatusCode, sdp: bool) -> Vec<u8> {
    let contact = format!("<sip:platform@{PLATFORM}>");
    let sdp = sdp.then(|| offer_sdp("10.0.0.2", 5000));
    handoff::sim::one_shard::answer(request, status, &contact, sdp)
}

/// A request from the carrier inside the dialog of `ok` (handoff's 200 to its INVITE).
fn carrier_request(ok: &[u8], method: Method, cseq: u32, i: u64) -> Vec<u8> {
    let branch = format!("z9hG4bKd{i}-{cseq}");
    handoff::sim::one_shard::in_dialog_request(ok, method, cseq, addr(CARRIER), &branch)
}

/// Setup of call `i` up to both ACKs; returns handoff's 200 toward the carrier.
fn setup(bench: &mut Bench, i: u64) -> Vec<u8> {
    bench.deliver(CARRIER, &invite(i));
    let invite_b = bench.take_sent(PLATFORM, b"INVITE ");
    bench.deliver(PLATFORM, &answer(&invite_b, StatusCode::RINGING, false));
    bench.deliver(PLATFORM, &answer(&invite_b, StatusCode::OK, true));
    let ok = bench.take_sent(CARRIER, b"SIP/2.0 200");
    bench.deliver(CARRIER, &carrier_request(&ok, Method::Ack, 1, i));
    ok
}

fn teardown(bench: &mut Bench, ok: &[u8], i: u64) {
    bench.deliver(CARRIER, &carrier_request(ok, Method::Bye, 2, i));
    let bye_b = bench.take_sent(PLATFORM, b"BYE ");
    bench.deliver(PLATFORM, &answer(&bye_b, StatusCode::OK, false));
}

/// Replays recorded inputs into `bench`'s core, draining its outputs after each.
fn feed(bench: &mut Bench, inputs: &[Input]) {
    for input in inputs {
        match input {
            Input::Datagram(now, from, payload) => bench.core.handle_datagram(*now, *from, payload),
            Input::Timeout(now) => bench.core.handle_timeout(*now),
        }
        while bench.core.poll_output().is_some() {}
    }
}

fn main() {
    let calls: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);

    // Record the inputs of `calls` calls (setup + teardown + the timers that follow) once, with
    // the peers played by code; then replay exactly those inputs into fresh cores with the same
    // seed (the core is deterministic, so every tag and branch matches) and time only that.
    let mut bench = Bench::new();
    for i in 0..calls {
        let ok = setup(&mut bench, i);
        teardown(&mut bench, &ok, i);
        bench.advance(1);
    }
    bench.advance(300_000);
    assert_eq!(bench.core.calls_held(), 0, "calls left after teardown");
    let inputs = std::mem::take(&mut bench.recorded);
    let mut per_call = Vec::new();
    for run in 0..5 {
        let mut replay = Bench::new();
        let (cpu_start, wall_start) = (thread_cpu(), Instant::now());
        feed(&mut replay, &inputs);
        let wall = wall_start.elapsed();
        let cpu = thread_cpu()
            .zip(cpu_start)
            .map(|(end, start)| end.saturating_sub(start));
        assert_eq!(replay.core.stats().calls_ended, calls, "replay diverged");
        assert_eq!(replay.core.calls_held(), 0, "replay diverged");
        let per = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
        // CPU time when the kernel reports it, else wall time.
        let us = per(cpu.unwrap_or(wall));
        println!(
            "run {run}: {us:.2} us CPU per call setup+teardown ({:.2} us wall; {calls} calls, {} inputs)",
            per(wall),
            inputs.len()
        );
        per_call.push(us);
    }
    per_call.sort_by(f64::total_cmp);
    println!(
        "median: {:.2} us CPU per call (setup + teardown + timers)",
        per_call[per_call.len() / 2]
    );

    // Heap operations per call (one more replay, counted): deterministic, so a change in
    // allocations shows on a shared machine where the CPU figures are noisy.
    let mut replay = Bench::new();
    let region = Region::new(GLOBAL);
    feed(&mut replay, &inputs);
    let change = region.change();
    println!(
        "heap operations per call: {:.1} allocations, {:.1} reallocations, {:.0} bytes allocated",
        change.allocations as f64 / calls as f64,
        change.reallocations as f64 / calls as f64,
        change.bytes_allocated as f64 / calls as f64,
    );

    // Bytes held per established call.
    let held = calls.min(10_000);
    let mut bench = Bench::new();
    bench.record = false;
    bench.advance(1);
    let region = Region::new(GLOBAL);
    for i in 0..held {
        setup(&mut bench, i);
        bench.sent.clear();
    }
    // Let the setup transactions expire (Timer D/J/K...), keeping the calls up.
    bench.advance(64 * 500 + 5_000);
    bench.sent.clear();
    bench.sent.shrink_to_fit();
    assert_eq!(bench.core.calls_active(), held as usize);
    report("state per established call", &region, held, &bench.core);

    // Bytes held per call that ended (BYE answered) and awaits its reap: a shard keeps an
    // ended call T4 (answered, no transfer) or 64*T1, and its last transactions 64*T1 (late
    // BYEs, retransmissions), so at R calls/s it holds R * 5 s of calls and R * 32 s of these.
    let mut bench = Bench::new();
    bench.record = false;
    bench.advance(1);
    let region = Region::new(GLOBAL);
    for i in 0..held {
        let ok = setup(&mut bench, i);
        teardown(&mut bench, &ok, i);
        bench.sent.clear();
    }
    bench.advance(1_000);
    bench.sent.clear();
    bench.sent.shrink_to_fit();
    assert_eq!(bench.core.calls_active(), 0);
    report(
        "state per ended call awaiting its reap",
        &region,
        held,
        &bench.core,
    );
    bench.advance(5_000);
    bench.sent.clear();
    report(
        "state per ended call after its reap, transactions left to 64*T1",
        &region,
        held,
        &bench.core,
    );
}

/// Live heap bytes gained since `region` began, per call. stats_alloc already counts a
/// realloc's growth in bytes_allocated and its shrinkage in bytes_deallocated, so the
/// difference is the live bytes gained.
fn report(what: &str, region: &Region<System>, calls: u64, core: &ShardCore) {
    let change = region.change();
    let live = change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated);
    println!(
        "{what}: {} bytes ({calls} calls, {} calls held, {} transactions live)",
        live / calls as usize,
        core.calls_held(),
        core.transactions_live()
    );
}
