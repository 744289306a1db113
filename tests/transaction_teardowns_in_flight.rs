//! What a drain waits for (issue 8): BYE and CANCEL client transactions until their final
//! response or Timer F (RFC 3261 section 17.1.2.2), and a CANCELled INVITE until its final
//! (section 9.1: the INVITE still gets its 487, which the layer ACKs). A request whose answer
//! nobody awaits for the drain (a REFER, an OPTIONS) is not counted, nor a request already
//! answered.

mod transaction_support;

use handoff::sip::Method;
use transaction_support::*;

#[test]
fn byes_count_until_answered_or_timer_f_and_other_requests_never() {
    let mut d = Driver::new();
    assert_eq!(d.layer.teardowns_awaiting_final(), 0);
    for (method, branch) in [
        (Method::Bye, "z9hG4bK-bye-1"),
        (Method::Bye, "z9hG4bK-bye-2"),
        (Method::Refer, "z9hG4bK-refer-1"),
        (Method::Options, "z9hG4bK-options-1"),
    ] {
        d.layer
            .send_request(
                d.now,
                addr(PLATFORM),
                method,
                branch,
                our_request(method.as_str(), branch, "drain-1", 2),
            )
            .unwrap();
        d.drain();
    }
    assert_eq!(d.layer.teardowns_awaiting_final(), 2);

    // A 200 completes the first BYE: it no longer counts (its Timer K lingering does not).
    d.response(
        PLATFORM,
        &response_to_ours(200, "OK", "z9hG4bK-bye-1", "drain-1", Some("p"), 2, "BYE"),
    );
    assert_eq!(d.layer.teardowns_awaiting_final(), 1);

    // A provisional does not: the BYE still awaits its final.
    d.response(
        PLATFORM,
        &response_to_ours(100, "Trying", "z9hG4bK-bye-2", "drain-1", None, 2, "BYE"),
    );
    assert_eq!(d.layer.teardowns_awaiting_final(), 1);

    // Never answered: Timer F (64*T1, T1 = 500 ms by default) ends it.
    d.advance_to_ms(64 * 500);
    assert_eq!(d.layer.teardowns_awaiting_final(), 0);
}

#[test]
fn a_cancelled_invite_counts_until_its_final() {
    let mut d = Driver::new();
    let invite = d.send_our_invite("z9hG4bK-inv-1", "drain-2");
    assert_eq!(
        d.layer.teardowns_awaiting_final(),
        0,
        "a ringing INVITE is no teardown"
    );
    d.response(
        PLATFORM,
        &response_to_ours(
            180,
            "Ringing",
            "z9hG4bK-inv-1",
            "drain-2",
            Some("p"),
            1,
            "INVITE",
        ),
    );
    assert!(d.layer.cancel(d.now, invite));
    d.drain();
    // The CANCEL and the INVITE awaiting its 487.
    assert_eq!(d.layer.teardowns_awaiting_final(), 2);
    let cancel_branch = "z9hG4bK-inv-1";
    d.response(
        PLATFORM,
        &response_to_ours(200, "OK", cancel_branch, "drain-2", Some("p"), 1, "CANCEL"),
    );
    assert_eq!(d.layer.teardowns_awaiting_final(), 1);
    d.response(
        PLATFORM,
        &response_to_ours(
            487,
            "Request Terminated",
            "z9hG4bK-inv-1",
            "drain-2",
            Some("p"),
            1,
            "INVITE",
        ),
    );
    assert_eq!(d.layer.teardowns_awaiting_final(), 0);
}
