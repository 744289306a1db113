//! Issue 11, against the real binary (both backends, 2 shards): the audit's `transfer` record of
//! a REFER the carrier refuses with 481 carries `diagnostics`, the SIP ladder with the real
//! addresses of the carrier and platform agents and handoff; a handed-off transfer's record
//! carries none. (The ladder's content is pinned in sim_transfer_diagnostics.rs.)

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{
    BlindFlow, CARRIER, CarrierAnswer, PLATFORM, TargetAnswer, blind_transfer,
};

#[test]
fn a_refused_refer_leaves_its_ladder_in_the_audit_and_a_handoff_none() {
    for (i, io) in BACKENDS.into_iter().enumerate() {
        let mut e2e = start(&Options::new(io, 34800 + i as u16 * 80));
        let carrier = e2e.cast[CARRIER].addr().to_string();
        let platform = e2e.cast[PLATFORM].addr().to_string();
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::Reject(481),
            target: TargetAnswer::Answer,
            early_transferor_bye: false,
        };
        blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        let ladder = record["diagnostics"].as_array().expect("diagnostics");
        let first = &ladder[0];
        assert_eq!(first["direction"], "in", "{first}");
        assert_eq!(first["from"], platform.as_str(), "{first}");
        assert!(first["start_line"].as_str().unwrap().starts_with("REFER "));
        let refused = ladder
            .iter()
            .find(|e| e["start_line"].as_str().unwrap().starts_with("SIP/2.0 481"))
            .unwrap_or_else(|| panic!("{io}: no 481 in {ladder:?}"));
        assert_eq!(refused["from"], carrier.as_str(), "{refused}");
        assert_eq!(refused["trunk"], "carrier-a", "{refused}");
        assert!(
            refused["headers"]["CSeq"]
                .as_str()
                .unwrap()
                .ends_with("REFER"),
            "{refused}"
        );
        assert!(
            ladder.iter().any(|e| e["direction"] == "out"
                && e["start_line"].as_str().unwrap().starts_with("INVITE ")),
            "{io}: no fallback INVITE in {ladder:?}"
        );
        e2e.stop();

        let mut e2e = start(&Options::new(io, 34840 + i as u16 * 80));
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::HandOff,
            target: TargetAnswer::NotReached,
            early_transferor_bye: false,
        };
        blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert!(record.get("diagnostics").is_none(), "{io}: {record}");
        e2e.stop();
    }
}
