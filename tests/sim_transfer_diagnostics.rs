//! Issue 11, "SIP diagnostics for every failed transfer": a transfer record whose outcome is not
//! `handed_off` carries `diagnostics`, the ladder of every SIP message of the attempt on every
//! leg (offset, direction, trunk, source and destination, start line, and Call-ID, CSeq,
//! Refer-To, Event, Subscription-State, Reason, Warning, the sipfrag body). A handed-off record
//! carries none. The expected ladders follow RFC 3515's flow (section 2.4.5): REFER in, REFER
//! out, the carrier's final response, and for a fallback handoff's own INVITE toward the target.

use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::run_flow as run;
use handoff::transfer::{Direction, LadderEntry, TransferOutcome};

fn find<'a>(
    ladder: &'a [LadderEntry],
    direction: Direction,
    start: &str,
) -> Option<(usize, &'a LadderEntry)> {
    ladder
        .iter()
        .enumerate()
        .find(|(_, e)| e.direction == direction && e.start_line.starts_with(start))
}

#[test]
fn a_refer_the_carrier_refuses_leaves_its_ladder_on_the_record() {
    let sim = run(transfer_flows::standard(), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    let record = &sim.transfers()[0];
    assert_eq!(record.outcome, TransferOutcome::FallbackLocal);
    let ladder = record.diagnostics.as_deref().expect("diagnostics");
    assert!(!record.diagnostics_truncated);

    // The platform's REFER begins it, at offset 0.
    let first = &ladder[0];
    assert_eq!(first.direction, Direction::In);
    assert!(first.start_line.starts_with("REFER "), "{first:?}");
    assert_eq!(first.offset_ms, 0);
    assert_eq!(first.trunk, "platform");
    assert!(first.headers.contains_key("Refer-To"), "{first:?}");
    assert!(first.headers["CSeq"].ends_with("REFER"), "{first:?}");

    // handoff's REFER to the carrier, with the E.164 target in the carrier's domain.
    let (refer_out, refer) = find(ladder, Direction::Out, "REFER ").expect("REFER to the carrier");
    assert_eq!(refer.trunk, "carrier");
    assert!(refer.headers["Refer-To"].starts_with("<sip:+"), "{refer:?}");
    // The carrier's 403, after it, on the carrier's leg.
    let (refused_at, refused) =
        find(ladder, Direction::In, "SIP/2.0 403").expect("the carrier's 403");
    assert!(refused_at > refer_out);
    assert_eq!(refused.trunk, "carrier");
    assert_eq!(refused.headers["Call-ID"], refer.headers["Call-ID"]);
    assert!(refused.headers["CSeq"].ends_with("REFER"), "{refused:?}");
    // handoff's own INVITE toward the target (leg C), after the 403.
    let (invite_at, invite) = find(ladder, Direction::Out, "INVITE ").expect("the fallback INVITE");
    assert!(invite_at > refused_at);
    assert_ne!(invite.headers["Call-ID"], refer.headers["Call-ID"]);
    // The 202 to the platform and a NOTIFY with its sipfrag.
    let (_, accepted) = find(ladder, Direction::Out, "SIP/2.0 202").expect("202 to the platform");
    assert_eq!(accepted.trunk, "platform");
    let (_, notify) = find(ladder, Direction::Out, "NOTIFY ").expect("a NOTIFY to the platform");
    assert_eq!(notify.headers["Event"], "refer");
    assert!(
        notify
            .body
            .as_deref()
            .is_some_and(|b| b.starts_with("SIP/2.0 ")),
        "{notify:?}"
    );
    // Without audit_bodies, no SDP.
    assert!(
        ladder
            .iter()
            .all(|e| e.body.as_deref().is_none_or(|b| !b.contains("v=0"))),
        "an SDP body leaked into the ladder"
    );
    // Time runs forward; handoff's side is its advertised SIP address.
    assert!(ladder.windows(2).all(|w| w[0].offset_ms <= w[1].offset_ms));
    let local = format!(
        "{}:{}",
        sim.config.sbc.advertise,
        sim.config.sbc.listen.port()
    );
    assert!(ladder.iter().all(|e| match e.direction {
        Direction::In => e.to == local,
        Direction::Out => e.from == local,
    }));

    let json: serde_json::Value = serde_json::from_str(&record.to_json()).expect("JSON");
    assert_eq!(json["diagnostics"][0]["direction"], "in");
    assert_eq!(
        json["diagnostics"][0]["headers"]["Refer-To"],
        first.headers["Refer-To"]
    );
}

#[test]
fn a_timed_out_refer_shows_the_retransmissions_and_no_answer() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::refer_timeout_fallback,
    );
    let record = &sim.transfers()[0];
    let ladder = record.diagnostics.as_deref().expect("diagnostics");
    let refers = ladder
        .iter()
        .filter(|e| e.direction == Direction::Out && e.start_line.starts_with("REFER "))
        .count();
    assert!(refers >= 2, "Timer E retransmits the REFER: {refers}");
    assert!(
        !ladder.iter().any(|e| e.direction == Direction::In
            && e.trunk == "carrier"
            && e.headers.get("CSeq").is_some_and(|c| c.ends_with("REFER"))),
        "the carrier never answered"
    );
}

#[test]
fn a_handed_off_transfer_carries_no_ladder() {
    let sim = run(transfer_flows::standard(), transfer_flows::blind_handoff);
    let record = &sim.transfers()[0];
    assert_eq!(record.outcome, TransferOutcome::HandedOff);
    assert!(record.diagnostics.is_none());
    assert!(!record.to_json().contains("diagnostics"));
}
