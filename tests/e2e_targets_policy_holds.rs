//! Issue 10, item 4 as an attacker sees it (real binary, both backends): a non-E.164 target must
//! not be a way around the destination policy (`transfer_deny`, the trust work's premium-number
//! protection). `sip:+1-900-555-1234@evil.example` is a number (visual separators, a foreign
//! host): the carrier's policy refuses it, 403. `sip:1900555l234@pbx.local` (letter l) is no
//! number, and its route ends at a trunk with a policy, which only E.164 numbers can satisfy: 403.
//! Nothing is sent to the carrier or the target.

mod e2e_targets_support;

use std::time::Duration;

use e2e_targets_support::*;

fn policed(text: String) -> String {
    let text = with_pbx_domain_route(text);
    text.replace(
        "country_code = \"1\"\n",
        "country_code = \"1\"\ntransfer_deny = [\"+1900\"]\n",
    )
}

#[test]
fn premium_targets_are_denied_however_written() {
    for (i, io) in BACKENDS.iter().enumerate() {
        for (j, target) in [
            "<sip:+1-900-555-1234@evil.example>",
            "<sip:1900555l234@pbx.local>",
        ]
        .into_iter()
        .enumerate()
        {
            let mut e2e = start_with(io, 37200 + (i * 2 + j) as u16 * 40, policed);
            let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
            let status = platform_refers(&mut e2e, &mut call, target, &[]);
            assert_eq!(status, 403, "{io} {target}");
            assert!(
                !receives(&mut e2e, CARRIER, "REFER", Duration::from_millis(300))
                    && !receives(&mut e2e, PARTNER, "INVITE", Duration::from_millis(100)),
                "{io} {target}: a denied target was dialled"
            );
            let record = e2e.one_transfer_record();
            assert_eq!(record["outcome"], "denied", "{record}");
            assert_eq!(record["reason"], "target_not_allowed", "{record}");
            e2e.stop();
        }
    }
}
