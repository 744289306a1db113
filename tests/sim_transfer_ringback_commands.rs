//! Ringback commands: with ringback = "local" (UK tone) ringback toward the customer starts with
//! the REFER and stops when the carrier takes the call; with "auto" it starts on the fallback leg's
//! 180 and stops before A is moved onto leg C's port, and in refer mode it starts on the carrier's
//! sipfrag 180 and stops when the carrier releases the call.

use handoff::core::MediaCommand;
use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    media_command_position as position, platform_notify_statuses as platform_notifies,
    run_flow as run,
};
use handoff::sim::{PLATFORM, Sim, SimOptions};

#[test]
fn local_ringback_plays_while_the_carrier_works() {
    let sim = run(
        transfer_flows::ringback_local_config(),
        transfer_flows::ringback_commands,
    );
    assert_eq!(platform_notifies(&sim), vec![200]);
    let starts = sim
        .media
        .iter()
        .filter(|(_, c)| matches!(c, MediaCommand::StartRingback { .. }))
        .count();
    assert_eq!(starts, 1);
}

#[test]
fn auto_ringback_starts_on_the_fallback_180_and_stops_before_the_move() {
    let sim = run(transfer_flows::standard(), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    let start = position(&sim, |c| {
        matches!(
            c,
            MediaCommand::StartRingback {
                toward: handoff::core::MediaSide::A,
                tone: handoff::config::RingbackTone::Us,
                law: handoff::media::g711::G711Law::Ulaw,
                ..
            }
        )
    });
    let stop = position(&sim, |c| matches!(c, MediaCommand::StopRingback { .. }));
    let original_b = sim.media.iter().find_map(|(_, c)| match c {
        MediaCommand::Open { b, .. } => Some(b.local_port),
        _ => None,
    });
    let moved = position(
        &sim,
        |c| matches!(c, MediaCommand::Update { b, .. } if Some(b.local_port) != original_b),
    );
    assert!(
        start.is_some() && start < stop && stop < moved,
        "{start:?} {stop:?} {moved:?}"
    );
}

#[test]
fn auto_ringback_starts_on_the_carriers_sipfrag_180() {
    let mut sim = Sim::new(SimOptions::default().config(transfer_flows::standard()));
    let flow = |sim: &mut Sim| -> Result<(), String> {
        let mut t = transfer_flows::call_and_refer(sim, true)?;
        let refer = transfer_flows::carrier_takes_refer(sim, &t)?;
        sim.ua(handoff::sim::CARRIER).answer(refer, 202, None);
        transfer_flows::platform_refer_answered(sim, &t, 202)?;
        transfer_flows::carrier_notifies(sim, &t, 100, false)?;
        if position(sim, |c| matches!(c, MediaCommand::StartRingback { .. })).is_some() {
            return Err("ringback before any 180 with ringback = auto".into());
        }
        transfer_flows::carrier_notifies(sim, &t, 180, false)?;
        t.await_notify(sim, 180)?;
        transfer_flows::carrier_notifies(sim, &t, 200, true)?;
        t.await_notify(sim, 200)?;
        transfer_flows::carrier_hangs_up(sim, &t, PLATFORM)
    };
    if let Err(error) = flow(&mut sim) {
        panic!("{error}");
    }
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    let start = position(&sim, |c| matches!(c, MediaCommand::StartRingback { .. }));
    let stop = position(&sim, |c| matches!(c, MediaCommand::StopRingback { .. }));
    let close = position(&sim, |c| matches!(c, MediaCommand::Close { .. }));
    assert!(
        start.is_some() && start < stop && stop < close,
        "{start:?} {stop:?} {close:?}"
    );
}
