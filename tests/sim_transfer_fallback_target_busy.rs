//! REFER rejected (403), and the target of the local transfer is busy (486): the platform gets a
//! NOTIFY 486, leg C's port is freed, and the customer stays with the platform.

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
fn busy_target_leaves_the_customer_with_the_platform() {
    let sim = run(
        transfer_flows::standard(),
        transfer_flows::fallback_target_busy,
    );
    assert_eq!(platform_notifies(&sim), vec![486]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"failed\""), "{json}");
    assert!(json.contains("\"fallback_status\":486"), "{json}");
}
