//! Blind REFER handoff against the real binary, on both backends: the platform REFERs a
//! national number; carrier-a gets REFER in dialog A with `<sip:+E164@refer_domain>` (From the
//! dialled DID, the platform's Referred-By), accepts,
//! NOTIFYs 100 and 200 and hangs up; the platform gets 202 only after the carrier's 202, the
//! NOTIFYs, and a BYE; the audit says "handed_off".

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn blind_transfer_is_handed_off_to_the_carrier() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start(&Options::new(io, 8500 + i as u16 * 40));
        let flow = BlindFlow {
            refer_to: "<sip:5559876543@platform.example;user=phone>".to_owned(),
            carrier: CarrierAnswer::HandOff,
            target: TargetAnswer::NotReached,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        let refer = seen.carrier_refer.expect("REFER reached the carrier");
        assert_eq!(
            refer.header("refer-to"),
            Some("<sip:+15559876543@trunk.carrier-a.example>"),
            "{io}"
        );
        assert!(
            refer
                .header("from")
                .is_some_and(|f| f.contains("+15550001111")),
            "{io}: REFER From is the DID the customer dialled: {:?}",
            refer.header("from")
        );
        assert!(
            refer
                .header("referred-by")
                .is_some_and(|r| r.contains("agent7@platform.example")),
            "{io}: Referred-By kept: {:?}",
            refer.header("referred-by")
        );
        assert_eq!(seen.platform_refer_status, Some(202), "{io}");
        assert!(
            seen.platform_notifies.contains(&200),
            "{io}: {:?}",
            seen.platform_notifies
        );
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["method"], "refer");
        assert_eq!(record["kind"], "blind");
        assert_eq!(record["refer_status"], 202);
        assert_eq!(record["notify_status"], 200);
        assert_eq!(record["target_e164"], "+15559876543");
        e2e.stop();
    }
}
