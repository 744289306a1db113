//! Any bytes: parsing never panics; whatever parses survives every accessor, and its
//! serialisation through an empty edit list parses again to the same message.
#![no_main]

use handoff::sip::{HeaderName, MAX_HEADERS, Message, parse_sipfrag, response_to};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_sipfrag(data);
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let _ = (
        msg.method(),
        msg.request_uri(),
        msg.status(),
        msg.reason(),
        msg.start_line(),
    );
    for h in msg.headers() {
        let _ = msg.header_values(h.kind).count();
    }
    let _ = msg.vias().count();
    let _ = (
        msg.top_via(),
        msg.from(),
        msg.to(),
        msg.call_id(),
        msg.cseq(),
    );
    let _ = (
        msg.max_forwards(),
        msg.content_type(),
        msg.content_length(),
        msg.refer_to(),
    );
    let _ = (
        msg.referred_by(),
        msg.replaces(),
        msg.target_dialog(),
        msg.event(),
        msg.subscription_state(),
    );
    let _ = (
        msg.contacts().count(),
        msg.routes().count(),
        msg.record_routes().count(),
    );
    let _ = (
        msg.allow().count(),
        msg.supported().count(),
        msg.require().count(),
    );
    let _ = msg.p_asserted_identities().count();
    if let Ok(refer_to) = msg.refer_to() {
        let _ = refer_to.uri.header_value_unescaped("Replaces");
        assert_eq!(refer_to.uri.to_buf().to_string(), refer_to.uri.as_str());
    }

    // Serialisation always writes Content-Length, and the edits below may add Via and
    // Content-Type: leave room for three more lines.
    if msg.header_count() + 3 > MAX_HEADERS {
        return;
    }
    let out = msg.edit().serialize();
    let again = Message::parse(&out).expect("serialised message parses");
    assert_eq!(again.start_line(), msg.start_line());
    assert_eq!(again.body(), msg.body());
    let names = |m: &Message<'_>| {
        m.headers()
            .filter(|h| h.kind != HeaderName::ContentLength)
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&again), names(&msg));

    let mut edit = msg.edit();
    edit.remove_header(HeaderName::Via);
    let _ = edit.prepend_header("Via", b"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz");
    let _ = edit.set_body(Some("application/sdp"), b"v=0\r\n");
    let edited = edit.serialize();
    let reparsed = Message::parse(&edited).expect("edited message parses");
    assert_eq!(
        reparsed.top_via().ok().and_then(|v| v.branch()),
        Some("z9hG4bKfuzz")
    );
    assert_eq!(reparsed.body(), b"v=0\r\n");

    if msg.is_request() {
        let _ = response_to(&msg, handoff::sip::StatusCode::OK, "OK").to_tag("fuzz").build();
    }
});
