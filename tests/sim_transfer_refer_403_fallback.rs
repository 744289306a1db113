//! The carrier answers the REFER 403: with on_refer_failure = "local" the platform still gets
//! 202, handoff INVITEs the target itself (leg C, partner trunk, G.711 offer in its codecs), plays
//! ringback on C's 180, bridges A and C on C's 200 (PCMU <-> PCMA via SetLaws), NOTIFYs the platform
//! 200, and the customer never gets a BYE.

use handoff::core::MediaCommand;
use handoff::sim::transfer_flows;
use handoff::sim::{PLATFORM, Sim, SimOptions};

/// Sipfrag statuses of the NOTIFYs the platform received (a clean link delivers each once).
fn platform_notifies(sim: &Sim) -> Vec<u16> {
    sim.ua_ref(PLATFORM)
        .received
        .iter()
        .filter(|bytes| bytes.starts_with(b"NOTIFY "))
        .filter_map(|bytes| {
            let text = String::from_utf8_lossy(bytes);
            let body = text.split("\r\n\r\n").nth(1)?.to_string();
            transfer_flows::sipfrag_status(body.as_bytes())
        })
        .collect()
}

fn run(
    config: std::sync::Arc<handoff::config::Config>,
    flow: impl FnOnce(&mut Sim) -> Result<(), String>,
) -> Sim {
    let mut sim = Sim::new(SimOptions::default().config(config));
    if let Err(error) = flow(&mut sim) {
        panic!("{error}");
    }
    sim
}

#[allow(dead_code)]
fn position(sim: &Sim, wanted: impl Fn(&MediaCommand) -> bool) -> Option<usize> {
    sim.media.iter().position(|(_, c)| wanted(c))
}

#[test]
fn refer_403_falls_back_to_a_local_transfer() {
    let sim = run(transfer_flows::standard(), |s| {
        transfer_flows::refer_rejected_fallback(s, 403)
    });
    assert_eq!(platform_notifies(&sim), vec![180, 200]);
    let record = &sim.transfers()[0];
    assert_eq!(record.refer_status, Some(403));
    assert_eq!(record.fallback_status, Some(200));
    // Leg C's 180 without SDP: ringback (auto), stopped before A is bridged to C.
    let start = position(&sim, |c| matches!(c, MediaCommand::StartRingback { .. }));
    let stop = position(&sim, |c| matches!(c, MediaCommand::StopRingback { .. }));
    let bridged = position(&sim, |c| matches!(c, MediaCommand::SetLaws { .. }));
    assert!(
        start < stop && stop < bridged,
        "{start:?} {stop:?} {bridged:?}"
    );
}
