//! A call between two UAs over real UDP through the running binary, on both backends: SIP both
//! legs, RTP relayed both ways through handoff's ports, BYE relayed, and a call_end audit record
//! carrying the media counters. After the BYE nothing more is relayed.

mod runtime_support;

use std::time::Duration;

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier, rtp_packet};
use runtime_support::{BACKENDS, Handoff, setup};

#[test]
fn call_with_media_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11400 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let mut call = establish(s.sip, &carrier, &platform, &format!("media-{io}"));
        exchange_rtp(&call, &carrier, &platform, 0, 25);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);

        // Within a second of the BYE, nothing more is relayed.
        std::thread::sleep(Duration::from_millis(200));
        carrier
            .rtp
            .send_to(&rtp_packet(999), call.handoff_rtp_for_a)
            .unwrap();
        let mut buf = [0u8; 2048];
        platform
            .rtp
            .set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        assert!(
            platform.rtp.recv_from(&mut buf).is_err(),
            "{io}: RTP relayed after BYE"
        );

        // The audit record of the call, with the relay's counters.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let record = loop {
            let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"call_end\"")) {
                break serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{io}: no call_end record"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(record["from_trunk"], "carrier", "{record}");
        assert_eq!(record["to_trunk"], "platform");
        assert_eq!(record["setup_status"], 200);
        assert_eq!(record["media"]["a_to_b_packets"], 25, "{record}");
        assert_eq!(record["media"]["b_to_a_packets"], 25, "{record}");
        assert_eq!(
            record["media"]["a_to_b_bytes"],
            25 * rtp_packet(0).len() as u64,
            "{record}"
        );
        handoff.signal("TERM");
        assert!(
            handoff
                .wait_exit(Duration::from_secs(5))
                .is_some_and(|s| s.success())
        );
    }
}
