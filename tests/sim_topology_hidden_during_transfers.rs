//! Topology hiding during every transfer kind: no datagram handoff sends to one party names
//! another party's IP address (Via, Contact, Record-Route, Call-ID, From/To, Refer-To,
//! Target-Dialog, Replaces, SDP). Checked on every datagram of every blind, dialer, attended and
//! Replaces flow, on 1 and 2 shards, clean link. The recorder is `Sim::leaks`.

use handoff::core::ShardId;
use handoff::sim::{Sim, SimOptions, attended_flows, dialer_flows, replaces_flows, transfer_flows};

type AttendedFlow = fn(&mut Sim, ShardId, ShardId) -> Result<(), String>;

fn no_leaks(name: &str, sim: &Sim) {
    assert!(
        sim.leaks.is_empty(),
        "{name}: {} leaks, first:\n{}",
        sim.leaks.len(),
        sim.leaks[0]
    );
}

#[test]
fn blind_and_local_transfers_hide_the_topology() {
    for shards in [1, 2] {
        for (name, config, flow) in transfer_flows::FLOWS {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            flow(&mut sim).unwrap_or_else(|e| panic!("{name}: {e}"));
            no_leaks(name, &sim);
        }
    }
}

#[test]
fn dialer_transfers_hide_the_topology() {
    for shards in [1, 2] {
        for (name, config, flow) in dialer_flows::FLOWS {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            flow(&mut sim).unwrap_or_else(|e| panic!("{name}: {e}"));
            no_leaks(name, &sim);
        }
    }
}

#[test]
fn replacements_hide_the_topology() {
    for shards in [1, 2] {
        for (name, config, flow) in replaces_flows::FLOWS {
            let mut sim = Sim::new(SimOptions::default().shards(shards).config(config()));
            flow(&mut sim).unwrap_or_else(|e| panic!("{name}: {e}"));
            no_leaks(name, &sim);
        }
    }
}

#[test]
fn attended_transfers_hide_the_topology() {
    let refer_mode: &[(&str, AttendedFlow)] = &[
        ("attended_refer_mode", attended_flows::attended_refer_mode),
        (
            "attended_refer_rejected_falls_back_to_local",
            attended_flows::attended_refer_rejected_falls_back_to_local,
        ),
        (
            "target_dialog_on_relayed_request",
            attended_flows::target_dialog_on_relayed_request,
        ),
        (
            "replaces_header_on_invite",
            attended_flows::replaces_header_on_invite,
        ),
    ];
    for (first, second) in [(0, 0), (0, 1)] {
        for (name, flow) in refer_mode {
            let mut sim = Sim::new(SimOptions::default().shards(2));
            flow(&mut sim, ShardId(first), ShardId(second))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            no_leaks(name, &sim);
        }
        let mut sim = Sim::new(
            SimOptions::default()
                .shards(2)
                .config(attended_flows::local_mode_config()),
        );
        attended_flows::attended_local_mode(&mut sim, ShardId(first), ShardId(second))
            .unwrap_or_else(|e| panic!("attended_local_mode: {e}"));
        no_leaks("attended_local_mode", &sim);
    }
}
