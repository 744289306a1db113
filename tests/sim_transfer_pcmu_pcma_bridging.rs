//! Local transfer across laws and codecs: the call ran on G.729; the partner answers PCMA. At the
//! bridge handoff sets the laws, re-INVITEs the customer with a G.711-only offer (its trunk's
//! PCMU), then sets PCMU <-> PCMA for the relay to transcode per sample.

use handoff::core::MediaCommand;
use handoff::sim::transfer_flows;
use handoff::sim::transfer_flows::{
    platform_notify_statuses as platform_notifies, run_flow as run,
};

use handoff::media::g711::G711Law;

#[test]
fn customer_is_renegotiated_to_g711_and_laws_are_set() {
    let sim = run(
        transfer_flows::g729_config(),
        transfer_flows::pcmu_pcma_bridging,
    );
    assert_eq!(platform_notifies(&sim), vec![100, 180, 200]);
    let laws: Vec<(Option<G711Law>, Option<G711Law>)> = sim
        .media
        .iter()
        .filter_map(|(_, c)| match c {
            MediaCommand::SetLaws { a, b, .. } => Some((*a, *b)),
            _ => None,
        })
        .collect();
    // At the bridge A is still on G.729 (no law); after its re-INVITE answer, PCMU.
    assert_eq!(
        laws,
        vec![
            (None, Some(G711Law::Alaw)),
            (Some(G711Law::Ulaw), Some(G711Law::Alaw))
        ]
    );
}
