//! Parsing a typical INVITE and reading the headers every transaction needs allocates nothing:
//! the message borrows the datagram and its header index is an inline array.

use std::alloc::System;

use handoff::sip::Message;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INVITE: &[u8] = b"INVITE sip:+15559876543@trunk.example;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Partner\" <sip:+15559876543@trunk.example;user=phone>\r\n\
From: \"Contact Center\" <sip:+15551230000@cc.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.cc.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+15551230000@192.0.2.10:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY\r\n\
Supported: replaces, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 22\r\n\
\r\n\
v=0\r\ns=-\r\nt=0 0\r\nc=x\r\n";

#[test]
fn parsing_and_reading_core_headers_allocates_nothing() {
    // Warm up anything lazily initialised (memchr picks its implementation on first use).
    let _ = Message::parse(INVITE).unwrap().top_via();
    // Only this thread runs while counting; the harness's own threads are idle.
    let region = Region::new(GLOBAL);
    let msg = Message::parse(INVITE);
    let mut total = 0usize;
    if let Ok(m) = &msg {
        total += m.call_id().map_or(0, str::len);
        total += m.cseq().map_or(0, |c| c.seq as usize);
        total += m
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .map_or(0, str::len);
        total += m.from().ok().and_then(|f| f.tag()).map_or(0, str::len);
        total += m.to().ok().map_or(0, |t| t.uri.as_str().len());
        total += m.supported().flatten().count();
        total += m.body().len();
    }
    // A realloc is an allocation too.
    let change = region.change();
    let allocations = change.allocations + change.reallocations;
    assert!(msg.is_ok());
    assert!(total > 0);
    assert_eq!(allocations, 0, "allocations during parse + header access");
}
