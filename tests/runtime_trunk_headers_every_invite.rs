//! Issue 10 item 12 against the real binary, both backends: a trunk's `headers` ("extra
//! headers added to REFER and INVITE sent to this trunk") are on the initial INVITE of a call to
//! that trunk and on a re-INVITE relayed to it, not on its BYE. A SIGHUP that changes them is
//! on the next new call's INVITE (each call reads them from the config it started with; before
//! this change the initial INVITE never carried them, so no reload could show).

mod runtime_support;

use std::net::SocketAddr;

use runtime_support::ua::{Msg, Ua, in_dialog, request, response, sdp};
use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// The config with the platform trunk's `headers = { "X-Tenant" = value }` (replacing any).
fn with_tenant(text: &str, value: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("headers = "))
        .collect();
    let text = kept.join("\n") + "\n";
    text.replacen(
        "role = \"platform\"\n",
        &format!("role = \"platform\"\nheaders = {{ \"X-Tenant\" = \"{value}\" }}\n"),
        1,
    )
}

/// The carrier's view of an established call.
struct ALeg {
    call_id: String,
    from: String,
    to: String,
    target: String,
    cseq: u32,
}

/// carrier INVITE -> platform; returns the platform's INVITE (checked by the caller) and the
/// carrier's dialog once the platform answered 200 and the carrier ACKed.
fn call(sip: SocketAddr, carrier: &Ua, platform: &Ua, call_id: &str) -> (Msg, ALeg) {
    let a = carrier.addr();
    carrier.send(
        sip,
        &request(
            "INVITE",
            a,
            sip,
            "+15550001111",
            call_id,
            "atag",
            1,
            &sdp(7100),
        ),
    );
    let (invite, src) = platform.expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
    platform.send(
        src,
        &response(&invite, 200, "OK", "btag", platform.addr(), &sdp(7200)),
    );
    let (ok, _) = carrier.expect("200 to the INVITE", WAIT, |m| {
        m.status() == Some(200) && m.cseq_method() == Some("INVITE")
    });
    let leg = ALeg {
        call_id: call_id.to_owned(),
        from: ok.header("from").unwrap().to_owned(),
        to: ok.header("to").unwrap().to_owned(),
        target: ok.contact_uri().unwrap(),
        cseq: 1,
    };
    carrier.send(
        sip,
        &in_dialog(
            "ACK",
            &leg.target,
            a,
            call_id,
            &leg.from,
            &leg.to,
            1,
            &format!("{call_id}-ack1"),
        ),
    );
    platform.expect("ACK on leg B", WAIT, |m| m.method() == Some("ACK"));
    (invite, leg)
}

fn in_leg(carrier: &Ua, leg: &mut ALeg, method: &str, body: &str) -> String {
    leg.cseq += 1;
    let text = in_dialog(
        method,
        &leg.target,
        carrier.addr(),
        &leg.call_id,
        &leg.from,
        &leg.to,
        leg.cseq,
        &format!("{}-{method}-{}", leg.call_id, leg.cseq),
    );
    if body.is_empty() {
        text
    } else {
        text.replacen(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            1,
        )
    }
}

/// The carrier hangs up; returns the BYE the platform got (answered).
fn hang_up(sip: SocketAddr, carrier: &Ua, platform: &Ua, leg: &mut ALeg) -> Msg {
    carrier.send(sip, &in_leg(carrier, leg, "BYE", ""));
    let (bye, src) = platform.expect("BYE on leg B", WAIT, |m| m.method() == Some("BYE"));
    platform.send(src, &response(&bye, 200, "OK", "btag", platform.addr(), ""));
    carrier.expect("200 to the BYE", WAIT, |m| {
        m.status() == Some(200) && m.cseq_method() == Some("BYE")
    });
    bye
}

#[test]
fn trunk_headers_on_initial_invite_reinvite_and_after_reload() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11400 + i as u16 * 100, 2, 1);
        let text = std::fs::read_to_string(&s.config_path).unwrap();
        std::fs::write(&s.config_path, with_tenant(&text, "t-1")).unwrap();
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Ua::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Ua::new(s.platform.try_clone().unwrap(), "platform");

        let (invite, mut leg) = call(s.sip, &carrier, &platform, &format!("hdr-{io}-1"));
        assert_eq!(
            invite.header("x-tenant"),
            Some("t-1"),
            "{io}: {}",
            invite.raw
        );

        // A re-INVITE from the carrier reaches the platform with the header.
        let b_call_id = invite.header("call-id").unwrap().to_owned();
        carrier.send(s.sip, &in_leg(&carrier, &mut leg, "INVITE", &sdp(7102)));
        let (re, src) = platform.expect("re-INVITE on leg B", WAIT, |m| {
            m.method() == Some("INVITE") && m.header("call-id") == Some(b_call_id.as_str())
        });
        assert_eq!(re.header("x-tenant"), Some("t-1"), "{io}: {}", re.raw);
        platform.send(
            src,
            &response(&re, 200, "OK", "btag", platform.addr(), &sdp(7202)),
        );
        carrier.expect("200 to the re-INVITE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("INVITE")
        });
        let ack = in_dialog(
            "ACK",
            &leg.target,
            carrier.addr(),
            &leg.call_id,
            &leg.from,
            &leg.to,
            leg.cseq,
            &format!("hdr-{io}-reack"),
        );
        carrier.send(s.sip, &ack);

        // The BYE carries no trunk header.
        let bye = hang_up(s.sip, &carrier, &platform, &mut leg);
        assert_eq!(bye.header("x-tenant"), None, "{io}: {}", bye.raw);

        // Reload with a new value: the next call's initial INVITE carries it.
        let text = std::fs::read_to_string(&s.config_path).unwrap();
        std::fs::write(&s.config_path, with_tenant(&text, "t-2")).unwrap();
        handoff.signal("HUP");
        handoff.wait_for_log("configuration reloaded", WAIT);
        handoff.wait_for_log("new configuration shard=0", WAIT);
        handoff.wait_for_log("new configuration shard=1", WAIT);
        let (invite, mut leg) = call(s.sip, &carrier, &platform, &format!("hdr-{io}-2"));
        assert_eq!(
            invite.header("x-tenant"),
            Some("t-2"),
            "{io}: the new call's INVITE after the reload: {}",
            invite.raw
        );
        hang_up(s.sip, &carrier, &platform, &mut leg);
    }
}
