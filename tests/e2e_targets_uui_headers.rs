//! Issue 10, item 8 (real binary, both backends): "User-to-User (RFC 7433) and other `?headers`
//! in the platform's Refer-To are dropped, as are X- headers on the REFER. Contact centers carry
//! CTI data this way (Genesys, Avaya)." Now an Avaya-style UUI (RFC 7433 section 4.1:
//! `00C8..;encoding=hex;purpose=isdn-uui`) and a Genesys X- header in the Refer-To reach the
//! carrier's Refer-To, %-escaped (RFC 3261 section 19.1.1, 25.1), the REFER's own X- header
//! reaches the carrier's REFER; and when the carrier refuses, handoff's own INVITE to the target
//! carries them all as header fields (RFC 3261 section 19.1.5: a request built from a URI gets
//! its headers).

mod e2e_targets_support;

use e2e_targets_support::*;

const UUI: &str = "00C8042A0B6D7C00;encoding=hex;purpose=isdn-uui";

#[test]
fn uui_and_x_headers_reach_the_carrier_and_the_target() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37400 + i as u16 * 40, |t| t);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        let refer_to = "<sip:+15559870000@platform.example?User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui&X-Genesys-CallUUID=01ABCDEF>";
        e2e.cast[PLATFORM]
            .request(
                &mut call.b,
                "REFER",
                &[("Refer-To", refer_to), ("X-Agent-Id", "agent-7")],
                None,
            )
            .expect("REFER sent");
        let refer = request_at(&mut e2e, CARRIER, "REFER");
        assert_eq!(
            refer.header("Refer-To"),
            Some(
                "<sip:+15559870000@trunk.carrier-a.example?User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui&X-Genesys-CallUUID=01ABCDEF>"
            ),
            "{io}"
        );
        assert_eq!(refer.header("X-Agent-Id"), Some("agent-7"), "{io}");
        e2e.cast[CARRIER]
            .respond(&refer, 403, "Forbidden", "", None)
            .expect("403");
        let invite = request_at(&mut e2e, PARTNER, "INVITE");
        assert_eq!(invite.header("User-to-User"), Some(UUI), "{io}");
        assert_eq!(
            invite.header("X-Genesys-CallUUID"),
            Some("01ABCDEF"),
            "{io}"
        );
        assert_eq!(invite.header("X-Agent-Id"), Some("agent-7"), "{io}");
        target_answers(&mut e2e, &invite);
        let record = e2e.one_transfer_record();
        assert_eq!(record["outcome"], "fallback_local", "{record}");
        e2e.stop();
    }
}
