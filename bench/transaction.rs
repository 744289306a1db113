//! Transaction layer cost, parsing excluded (messages are parsed before the clock starts):
//! - an INVITE server transaction's life: on_request (+ automatic 100), 180, 200, Timer L;
//! - a non-INVITE client transaction's life: send_request, 200, Timer K;
//! - `owner_of_datagram` on a typical INVITE.
//!
//! Run: `cargo bench --bench transaction`. Prints the median of 7 runs.

use handoff::vocab::StatusCode;
use std::alloc::System;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use handoff::config::SipTimers;
use handoff::core::transaction::{ServerAction, TransactionLayer, TxOutput};
use handoff::core::{Time, ids};
use handoff::sip::{Message, Method};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts allocations so the figures include a load-independent one.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (reallocs included) since `region` began.
fn allocations(region: &Region<System>) -> u64 {
    let change = region.change();
    (change.allocations + change.reallocations) as u64
}

const N: usize = 20_000;
const RUNS: usize = 7;

fn invite(i: usize) -> Vec<u8> {
    format!(
        "INVITE sip:+15551234567@sbc.example.net SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{i:08x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Carrier\" <sip:+15550001111@carrier.example.com>;tag=ft{i}\r\n\
         To: <sip:+15551234567@sbc.example.net>\r\n\
         Call-ID: {i:016x}@carrier.example.com\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:carrier@192.0.2.10:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn response(status: u16, reason: &str, branch: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 {status} {reason}\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch={branch}\r\n\
         From: <sip:handoff@203.0.113.5>;tag=hf00000000aaaaaaaaaaaa\r\nTo: <sip:x@platform>;tag=p\r\n\
         Call-ID: hf0000-0000000000000001@handoff\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Drains outputs; returns how many transmits there were.
fn drain(layer: &mut TransactionLayer) -> usize {
    let mut transmits = 0;
    while let Some(output) = layer.poll_output() {
        match output {
            TxOutput::Transmit(t) => {
                black_box(t);
                transmits += 1;
            }
        }
    }
    transmits
}

/// Fires every pending timer far in the future until the layer is empty.
fn expire_all(layer: &mut TransactionLayer) {
    let later = Time::from_millis(10_000_000);
    while layer.poll_timeout().is_some() {
        black_box(layer.handle_timeout(later));
        drain(layer);
    }
    assert_eq!(layer.live_count(), 0);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let carrier: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    let platform: SocketAddr = "198.51.100.20:5060".parse().unwrap();
    let invites: Vec<Vec<u8>> = (0..N).map(invite).collect();
    let parsed: Vec<Message> = invites.iter().map(|b| Message::parse(b).unwrap()).collect();
    let ringing: Vec<Vec<u8>> = parsed
        .iter()
        .map(|m| {
            handoff::sip::response_to(m, StatusCode::RINGING, "Ringing")
                .to_tag("hf00000000000000000001")
                .build()
                .unwrap()
        })
        .collect();
    let ok: Vec<Vec<u8>> = parsed
        .iter()
        .map(|m| {
            handoff::sip::response_to(m, StatusCode::OK, "OK")
                .to_tag("hf00000000000000000001")
                .build()
                .unwrap()
        })
        .collect();

    let mut server_runs = Vec::new();
    let mut server_allocs = 0;
    for _ in 0..RUNS {
        let mut layer = TransactionLayer::new(SipTimers::default());
        let region = Region::new(GLOBAL);
        let start = Instant::now();
        for i in 0..N {
            let ServerAction::New(tx) = layer.on_request(Time::ZERO, carrier, &parsed[i]) else {
                panic!("new transaction expected");
            };
            layer
                .respond(Time::ZERO, tx, StatusCode::RINGING, ringing[i].clone())
                .unwrap();
            layer
                .respond(Time::ZERO, tx, StatusCode::OK, ok[i].clone())
                .unwrap();
            drain(&mut layer);
        }
        expire_all(&mut layer);
        server_runs.push(start.elapsed().as_nanos() as f64 / N as f64);
        // The bench's own clones of the 180 and 200 (2 per transaction) are not the layer's.
        server_allocs = allocations(&region) / N as u64 - 2;
    }

    let branches: Vec<String> = (0..N).map(|i| format!("z9hG4bK-hf0000-{i:016x}")).collect();
    let requests: Vec<Vec<u8>> = branches
        .iter()
        .map(|b| {
            format!(
                "BYE sip:x@platform SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch={b}\r\nMax-Forwards: 70\r\n\
                 From: <sip:handoff@203.0.113.5>;tag=hf00000000aaaaaaaaaaaa\r\nTo: <sip:x@platform>;tag=p\r\n\
                 Call-ID: hf0000-0000000000000001@handoff\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
            )
            .into_bytes()
        })
        .collect();
    let responses: Vec<Vec<u8>> = branches.iter().map(|b| response(200, "OK", b)).collect();
    let parsed_responses: Vec<Message> = responses
        .iter()
        .map(|b| Message::parse(b).unwrap())
        .collect();
    let mut client_runs = Vec::new();
    let mut client_allocs = 0;
    for _ in 0..RUNS {
        let mut layer = TransactionLayer::new(SipTimers::default());
        let region = Region::new(GLOBAL);
        let start = Instant::now();
        for i in 0..N {
            layer
                .send_request(
                    Time::ZERO,
                    platform,
                    Method::Bye,
                    &branches[i],
                    requests[i].clone(),
                )
                .unwrap();
            black_box(layer.on_response(Time::ZERO, platform, &parsed_responses[i]));
            drain(&mut layer);
        }
        expire_all(&mut layer);
        client_runs.push(start.elapsed().as_nanos() as f64 / N as f64);
        // The bench's clone of the request is not the layer's.
        client_allocs = allocations(&region) / N as u64 - 1;
    }

    let mut owner_runs = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        for bytes in &invites {
            black_box(ids::owner_of_datagram(black_box(bytes), 8));
        }
        owner_runs.push(start.elapsed().as_nanos() as f64 / N as f64);
    }

    println!(
        "INVITE server transaction (request+100, 180, 200, Timer L): {:.0} ns, {server_allocs} allocations",
        median(server_runs)
    );
    println!(
        "non-INVITE client transaction (send, 200, Timer K):         {:.0} ns, {client_allocs} allocations",
        median(client_runs)
    );
    println!(
        "owner_of_datagram (typical INVITE, 8 shards):                {:.0} ns",
        median(owner_runs)
    );
}
