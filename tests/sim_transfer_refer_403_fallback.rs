//! The carrier answers the REFER 403: with on_refer_failure = "local" the platform still gets
//! 202, handoff INVITEs the target itself (leg C, partner trunk, G.711 offer in its codecs), plays
//! ringback on C's 180, bridges A and C on C's 200 (PCMU <-> PCMA via SetLaws), NOTIFYs the platform
//! 200, and the customer never gets a BYE.

use handoff::core::MediaCommand;
use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    media_command_position as position, platform_notify_statuses as platform_notifies,
    run_flow as run,
};
use handoff::vocab::StatusCode;

#[test]
fn refer_403_falls_back_to_a_local_transfer() {
    let sim = run(transfer_flows::standard(), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    let record = &sim.transfers()[0];
    assert_eq!(record.refer_status, Some(StatusCode::FORBIDDEN));
    assert_eq!(record.fallback_status, Some(StatusCode::OK));
    // Leg C's 180 without SDP: ringback (auto), stopped before A is bridged to C.
    let start = position(&sim, |c| matches!(c, MediaCommand::StartRingback { .. }));
    let stop = position(&sim, |c| matches!(c, MediaCommand::StopRingback { .. }));
    let bridged = position(&sim, |c| matches!(c, MediaCommand::SetLaws { .. }));
    assert!(
        start < stop && stop < bridged,
        "{start:?} {stop:?} {bridged:?}"
    );
}
