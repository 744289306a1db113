//! on_refer_failure = "reject": the carrier's 603 is relayed to the platform as the REFER's
//! answer; no local transfer, the call goes on.

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
fn rejected_refer_is_relayed_to_the_platform() {
    let sim = run(
        transfer_flows::reject_mode_config(),
        transfer_flows::reject_mode,
    );
    assert!(platform_notifies(&sim).is_empty());
    let reason = sim
        .ua_ref(PLATFORM)
        .responses
        .iter()
        .find(|r| r.method == "REFER" && r.status == 603)
        .map(|r| r.reason.clone());
    assert_eq!(reason.as_deref(), Some("Decline"));
}
