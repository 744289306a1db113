//! transfer = "local" (carriers without REFER): no REFER to the carrier; handoff answers 202 and
//! does the local transfer directly.

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
fn local_method_transfers_without_refer() {
    let sim = run(
        transfer_flows::local_mode_config(),
        transfer_flows::local_mode,
    );
    assert_eq!(platform_notifies(&sim), vec![180, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"method\":\"local\""), "{json}");
    assert!(json.contains("\"outcome\":\"fallback_local\""), "{json}");
}
