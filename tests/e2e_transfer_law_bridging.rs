//! PCMU <-> PCMA bridging after a local fallback (real binary, both backends): the customer's
//! trunk speaks PCMU, the target's PCMA. A 1 kHz tone the customer sends in PCMU is heard by the
//! target decoded as PCMA, and the target's PCMA tone by the customer decoded as PCMU.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::demo::flows::{BlindFlow, CarrierAnswer, TargetAnswer, blind_transfer};
use handoff::media::g711::G711Law;
use handoff::media::tone::tone_amplitude;

#[test]
fn ulaw_customer_and_alaw_target_hear_each_other() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut options = Options::new(io, 9140 + i as u16 * 40);
        options.carrier_law = G711Law::Ulaw;
        options.partner_law = G711Law::Alaw;
        let mut e2e = start(&options);
        let flow = BlindFlow {
            refer_to: "<sip:+15559870000@platform.example>".to_owned(),
            carrier: CarrierAnswer::Reject(403),
            target: TargetAnswer::Answer,
            early_transferor_bye: false,
        };
        let seen = blind_transfer(&mut e2e.cast, &flow).unwrap_or_else(|e| panic!("{io}: {e}"));
        for (who, heard) in [
            ("target", &seen.target_heard),
            ("customer", &seen.customer_heard),
        ] {
            assert!(
                heard.len() >= 1600,
                "{io}: {who} decoded {} samples",
                heard.len()
            );
            let tone = tone_amplitude(heard, 1000.0, 8000.0);
            assert!(tone > 6000.0, "{io}: {who} hears 1 kHz at {tone}");
            let other = tone_amplitude(heard, 1500.0, 8000.0);
            assert!(other < 500.0, "{io}: {who}: 1500 Hz at {other}");
        }
        e2e.stop();
    }
}
