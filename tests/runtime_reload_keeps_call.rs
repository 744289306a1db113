//! SIGHUP with a changed config while a call is up: the call keeps relaying media and can still
//! be torn down; both backends.

mod runtime_support;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn a_call_survives_sighup_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11600 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let mut call = establish(s.sip, &carrier, &platform, &format!("reload-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 5);

        // New codecs for new calls; the running call keeps what it negotiated.
        let text = std::fs::read_to_string(&s.config_path).unwrap();
        std::fs::write(
            &s.config_path,
            text.replace("\"PCMU\", \"PCMA\"", "\"PCMA\", \"PCMU\""),
        )
        .unwrap();
        handoff.signal("HUP");
        handoff.wait_for_log("configuration reloaded", WAIT);
        handoff.wait_for_log("new configuration shard=0", WAIT);
        handoff.wait_for_log("new configuration shard=1", WAIT);

        exchange_rtp(&call, &carrier, &platform, 5, 5);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        assert!(handoff.is_running());
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
