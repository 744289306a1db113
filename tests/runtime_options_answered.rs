//! An OPTIONS keepalive from a trunk is answered 200 by the running binary, whichever shard's
//! socket the kernel hands it to, on both backends.

mod runtime_support;

use runtime_support::ua::{Ua, request};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn options_from_a_trunk_gets_200_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11200 + i as u16 * 100, 2, 30);
        let _handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
        for n in 0..5 {
            let call_id = format!("options-{io}-{n}");
            carrier.send(
                s.sip,
                &request(
                    "OPTIONS",
                    carrier.addr(),
                    s.sip,
                    "ping",
                    &call_id,
                    "o1",
                    1,
                    "",
                ),
            );
            let (ok, from) = carrier.expect("200 to OPTIONS", WAIT, |m| {
                m.header("call-id") == Some(call_id.as_str())
            });
            assert_eq!(ok.status(), Some(200), "{io}: {}", ok.raw);
            assert_eq!(from, s.sip);
            assert!(
                ok.header("allow").is_some_and(|a| a.contains("INVITE")),
                "{}",
                ok.raw
            );
        }
    }
}
