//! Blind transfer, carrier trunk with transfer = "refer": the platform's REFER becomes a REFER to
//! the carrier (E.164 Refer-To at its domain, From = the dialled DID, Referred-By and
//! P-Asserted-Identity kept, trunk headers added); the platform gets 202 only after the carrier's
//! 202, the carrier's NOTIFYs are relayed, and the carrier's BYE hands the call off (B BYEd, ports
//! freed, two trunk sessions saved).

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
fn refer_is_handed_off_to_the_carrier() {
    let sim = run(transfer_flows::standard(), transfer_flows::blind_handoff);
    assert_eq!(platform_notifies(&sim), vec![100, 200]);
    let json = sim.transfers()[0].to_json();
    assert!(json.contains("\"outcome\":\"handed_off\""), "{json}");
    assert!(json.contains("\"method\":\"refer\""), "{json}");
    assert!(json.contains("\"refer_status\":202"), "{json}");
    let prometheus = sim.metrics().render_prometheus();
    assert!(prometheus.contains("handed_off"), "{prometheus}");
}
