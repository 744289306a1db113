//! The platform hangs up B right after the 202 (before the carrier's NOTIFYs and BYE) (real
//! binary, epoll): leg A stays up until the carrier's BYE; the customer never gets a BYE from
//! handoff; the transfer is still "handed_off".

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::agent::Msg;
use handoff::demo::flows::{BlindFlow, CARRIER, CarrierAnswer, TargetAnswer, blind_transfer};

#[test]
fn early_transferor_bye_does_not_end_the_customers_leg() {
    for io in BACKENDS {
        early_transferor_bye_does_not_end_the_customers_leg_on(io);
    }
}

fn early_transferor_bye_does_not_end_the_customers_leg_on(io: &'static str) {
    let mut e2e = start(&Options::new(io, 8900));
    let flow = BlindFlow {
        refer_to: "<sip:+15559876543@platform.example>".to_owned(),
        carrier: CarrierAnswer::HandOff,
        target: TargetAnswer::NotReached,
        early_transferor_bye: true,
    };
    let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.platform_refer_status, Some(202));
    assert!(
        e2e.cast[CARRIER]
            .take(&|m: &Msg| m.is_request("BYE"))
            .is_none(),
        "handoff sent the customer a BYE"
    );
    let record = e2e.one_transfer_record();
    assert_eq!(record["outcome"], "handed_off", "{record}");
    e2e.stop();
}
