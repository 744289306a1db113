//! Against the real binary, both backends: an in-dialog BYE and a REFER to a premium number that
//! name the platform's dialog, sent by a host that is not the platform, are dropped unanswered
//! (the attack of the call-model issue: another party using a dialog's identifiers). The call
//! keeps relaying media and ends normally.

mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier};
use runtime_support::ua::{Ua, in_dialog};
use runtime_support::{BACKENDS, Handoff, setup};

#[test]
fn strangers_naming_a_dialog_get_silence_and_change_nothing() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 9400 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let mut call = establish(s.sip, &carrier, &platform, &format!("strangers-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 3);

        let stranger = Ua::new(UdpSocket::bind("127.0.0.1:0").unwrap(), "stranger");
        // As the platform would write them: From = the platform's side (tag btag), To = handoff's.
        let bye = in_dialog(
            "BYE",
            "sip:handoff@127.0.0.1",
            stranger.addr(),
            &call.b_call_id,
            &call.b_to,
            &call.b_from,
            90,
            "forged-bye",
        );
        let refer = in_dialog(
            "REFER",
            "sip:handoff@127.0.0.1",
            stranger.addr(),
            &call.b_call_id,
            &call.b_to,
            &call.b_from,
            91,
            "forged-refer",
        )
        .replacen(
            "Contact:",
            "Refer-To: <sip:+19005550199@platform.example>\r\nContact:",
            1,
        );
        const DROPPED: &str = "reason=in_dialog_from_wrong_peer";
        for forged in [&bye, &refer] {
            handoff.log.retain(|l| !l.contains(DROPPED));
            stranger.send(s.sip, forged);
            handoff.wait_for_log(DROPPED, Duration::from_secs(20));
        }
        stranger.expect_none(Duration::from_millis(300), |_| true);
        carrier.ua.expect_none(Duration::from_millis(50), |m| {
            matches!(m.method(), Some("BYE") | Some("REFER"))
        });

        // The call is untouched: media flows, and the carrier's BYE ends it as usual.
        exchange_rtp(&call, &carrier, &platform, 3, 3);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);
        handoff.signal("TERM");
        assert!(
            handoff
                .wait_exit(Duration::from_secs(20))
                .is_some_and(|s| s.success())
        );
    }
}
