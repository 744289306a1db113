//! Any text as the transfer headers handoff reads from peers: Refer-To (RFC 3515), Replaces
//! (RFC 3891), Target-Dialog (RFC 4538) and a NOTIFY's message/sipfrag body (RFC 3420). Parsing
//! never panics; what parses renders back to something that parses to the same value.
#![no_main]

use handoff::sip::parse_sipfrag;
use handoff::transfer::dialog_ids::{Replaces, TargetDialog};
use handoff::transfer::refer_to::PlatformReferTo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(status) = parse_sipfrag(data) {
        assert!(
            (100..=699).contains(&status.code.as_u16()),
            "{}",
            status.code
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = PlatformReferTo::parse_bytes(data);
        return;
    };
    if let Ok(refer_to) = PlatformReferTo::parse(text) {
        let _ = (refer_to.e164("1"), refer_to.replaces(), refer_to.is_attended());
        // The target alone, as a name-addr, names the same target.
        let again = PlatformReferTo::parse(&format!("<{}>", refer_to.target()))
            .expect("a Refer-To of the parsed target parses");
        assert_eq!(again.target(), refer_to.target());
    }
    if let Ok(replaces) = Replaces::parse(text) {
        let again = Replaces::parse(&replaces.render()).expect("a rendered Replaces parses");
        assert_eq!(again, replaces);
        let escaped = Replaces::parse_escaped(&replaces.render_escaped())
            .expect("an escaped Replaces parses");
        assert_eq!(escaped, replaces);
    }
    let _ = Replaces::parse_escaped(text);
    if let Ok(target) = TargetDialog::parse(text) {
        let again = TargetDialog::parse(&target.render()).expect("a rendered Target-Dialog parses");
        assert_eq!(again, target);
    }
});
