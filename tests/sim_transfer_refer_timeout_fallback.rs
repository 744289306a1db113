//! The carrier never answers the REFER: after sbc.refer_timeout_ms handoff answers the platform
//! 202 and transfers locally; the record says reason "timeout" with no REFER status.

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
fn silent_carrier_falls_back_after_the_refer_timeout() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::refer_timeout_fallback,
    );
    assert_eq!(platform_notifies(&sim), vec![180, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"refer_status\":null"), "{json}");
    assert!(json.contains("\"reason\":\"timeout\""), "{json}");
}
