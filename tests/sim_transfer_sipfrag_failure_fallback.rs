//! The carrier accepts the REFER (202) but its NOTIFY reports 486: handoff falls back to a local
//! transfer; the platform saw the relayed 100, then the local transfer's 180 and 200.

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
fn failing_sipfrag_falls_back_to_a_local_transfer() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::sipfrag_failure_fallback,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    assert_eq!(sim.transfers()[0].notify_status, Some(486));
}
