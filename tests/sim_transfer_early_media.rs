//! ringback = "auto": the fallback leg's 180 starts local ringback; its early media (183 with SDP)
//! stops it and the customer hears the target (the relay moves to leg C) before the answer.

use handoff::core::MediaCommand;
use handoff::sim::transfer_flows;
use handoff::sim::{Sim, SimOptions};

#[test]
fn early_media_is_relayed_instead_of_ringback() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    if let Err(error) = transfer_flows::fallback_early_media(&mut sim) {
        panic!("{error}");
    }
    // On a clean link every provisional arrives: ringback on the 180, stopped by the 183, whose
    // SDP moves the relay to leg C before the 200 does it again.
    let position =
        |wanted: &dyn Fn(&MediaCommand) -> bool| sim.media.iter().position(|(_, c)| wanted(c));
    let start = position(&|c| matches!(c, MediaCommand::StartRingback { .. }));
    let stop = position(&|c| matches!(c, MediaCommand::StopRingback { .. }));
    let partner: Option<std::net::SocketAddr> = "10.0.0.3:6000".parse().ok();
    let moved =
        position(&|c| matches!(c, MediaCommand::Update { b, .. } if b.remote_rtp == partner));
    let moves = sim
        .media
        .iter()
        .filter(|(_, c)| matches!(c, MediaCommand::Update { b, .. } if b.remote_rtp == partner))
        .count();
    assert!(
        start.is_some() && start < stop && stop < moved,
        "{start:?} {stop:?} {moved:?}"
    );
    assert!(
        moves >= 2,
        "early media did not move the relay before the answer ({moves} moves)"
    );
}
