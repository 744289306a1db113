//! A call between two UAs over real UDP through the running binary, on both backends: SIP both
//! legs, RTP relayed both ways through handoff's ports, BYE relayed, and a call_end audit record
//! carrying the media counters. After the BYE nothing more is relayed.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::call::{Endpoint, establish, exchange_rtp, hang_up_from_carrier, rtp_packet};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// Packets each way.
const PACKETS: u64 = 25;

#[test]
fn call_with_media_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11400 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let mut call = establish(s.sip, &carrier, &platform, &format!("media-{io}"));
        let sent = exchange_rtp(&call, &carrier, &platform, 0, PACKETS as u16);
        hang_up_from_carrier(s.sip, &mut call, &carrier, &platform);

        // The audit record of the call, with the relay's counters: written once the call has
        // ended, i.e. after the BYE closed its media.
        let deadline = Instant::now() + WAIT;
        let record = loop {
            let text = std::fs::read_to_string(&s.audit_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"call_end\"")) {
                break serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
            assert!(Instant::now() < deadline, "{io}: no call_end record");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(record["from_trunk"], "carrier", "{record}");
        assert_eq!(record["to_trunk"], "platform");
        assert_eq!(record["setup_status"], 200);
        // Every packet that arrived was counted; the first of the burst may have been re-sent
        // (exchange_rtp) and then counted more than once, but nothing beyond what was sent.
        let media = &record["media"];
        let a_to_b = media["a_to_b_packets"].as_u64().expect("a_to_b_packets");
        let b_to_a = media["b_to_a_packets"].as_u64().expect("b_to_a_packets");
        assert!(
            (PACKETS..=sent.a_to_b).contains(&a_to_b),
            "{io}: a_to_b_packets {a_to_b}, sent {sent:?}: {record}"
        );
        assert!(
            (PACKETS..=sent.b_to_a).contains(&b_to_a),
            "{io}: b_to_a_packets {b_to_a}, sent {sent:?}: {record}"
        );
        assert_eq!(
            media["a_to_b_bytes"].as_u64(),
            Some(a_to_b * rtp_packet(0).len() as u64),
            "{record}"
        );

        // After the BYE (answered, and the call's end recorded) nothing more is relayed.
        carrier
            .rtp
            .send_to(&rtp_packet(999), call.handoff_rtp_for_a)
            .unwrap();
        // (A late copy of a re-sent first packet may still come in; only 999 is the question.)
        let mut buf = [0u8; 2048];
        let quiet_until = Instant::now() + Duration::from_secs(1);
        while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
            platform
                .rtp
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            if let Ok((n, _)) = platform.rtp.recv_from(&mut buf) {
                assert_ne!(
                    &buf[..n],
                    &rtp_packet(999)[..],
                    "{io}: RTP relayed after BYE"
                );
            }
        }

        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
