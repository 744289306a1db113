//! Real binary (both backends, 2 shards): who may send an out-of-dialog REFER (RFC 5589 section
//! 6.1) for a call. The Target-Dialog proves only that the sender knows the dialog's
//! identifiers (RFC 4538 section 4: "any eavesdropper on the original dialog path would have
//! access to the dialog identifiers, and thus the authorization is optional"); handoff also
//! requires the sender to be the leg's bound peer. Attack: the partner trunk (a known source,
//! another trunk) and a stranger (no trunk's source) learnt the platform leg's identifiers and
//! send the platform's REFER with a correct Target-Dialog. The partner gets 403 (RFC 4538
//! section 3: unauthorised), the stranger nothing at all (strangers get silence, not stateful
//! answers); the carrier gets no REFER, no NOTIFY goes anywhere, and the call goes on. The
//! platform's own identical REFER then goes through (202), so the refusals were about who sent
//! it.

mod border_support;
mod golden_support;
mod runtime_support;

use std::net::UdpSocket;
use std::time::Duration;

use border_support::{SiteOptions, call_up, is_final, transfer_site};
use golden_support::{carrier_completes, carrier_refer};
use runtime_support::BACKENDS;
use runtime_support::WAIT;
use runtime_support::ua::Ua;

#[test]
fn only_the_legs_peer_may_refer_out_of_dialog() {
    for io in BACKENDS {
        only_the_legs_peer_on(io);
    }
}

/// The platform's out-of-dialog REFER for leg B (`b_call_id`, handoff's tag, the platform's
/// tag), sent from `from` with Call-ID `call_id`.
fn refer_text(
    from: std::net::SocketAddr,
    handoff: std::net::SocketAddr,
    call_id: &str,
    target_dialog: &str,
) -> String {
    format!(
        "REFER sip:handoff@{handoff} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:handoff@{handoff}>\r\n\
         From: <sip:agent@platform.example>;tag=attacker-{call_id}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REFER\r\n\
         Require: tdialog\r\n\
         Refer-To: <sip:+15559876543@platform.example>\r\n\
         Target-Dialog: {target_dialog}\r\n\
         Contact: <sip:agent@{from}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn only_the_legs_peer_on(io: &'static str) {
    let site = transfer_site(
        io,
        &SiteOptions {
            media: 31600,
            drain_s: 1,
            carrier: &[],
            partner_codecs: "[\"PCMU\"]",
        },
    );
    let (_call, a, b) = call_up(&site, &format!("ood-auth-{io}"));
    // RFC 4538 section 3: local-tag = the recipient's (handoff's) tag, remote-tag the platform's.
    let handoff_tag = border_support::tag_of(&b.to);
    let platform_tag = border_support::tag_of(&b.from);
    let target_dialog = format!(
        "{};local-tag={handoff_tag};remote-tag={platform_tag}",
        b.call_id
    );

    // Another trunk: 403.
    let partner = &site.partner.ua;
    partner.send(
        site.sip,
        &refer_text(partner.addr(), site.sip, "from-partner", &target_dialog),
    );
    let (answer, _) = partner.expect(&format!("{io}: answer to the partner"), WAIT, |m| {
        is_final(m, "REFER", "from-partner")
    });
    assert_eq!(answer.status(), Some(403), "{io}: {}", answer.first_line);

    // A stranger: silence.
    let stranger = Ua::new(UdpSocket::bind("127.0.0.1:0").expect("bind"), "stranger");
    stranger.send(
        site.sip,
        &refer_text(stranger.addr(), site.sip, "from-stranger", &target_dialog),
    );
    stranger.expect_none(Duration::from_millis(500), |_| true);
    site.carrier
        .ua
        .expect_none(Duration::from_millis(300), |m| m.method() == Some("REFER"));

    // The leg's own peer, same REFER: the transfer starts.
    let platform = &site.platform.ua;
    platform.send(
        site.sip,
        &refer_text(platform.addr(), site.sip, "from-platform", &target_dialog),
    );
    carrier_refer(&site, &a, 202);
    let (answer, _) = platform.expect(&format!("{io}: answer to the platform"), WAIT, |m| {
        is_final(m, "REFER", "from-platform")
    });
    assert_eq!(answer.status(), Some(202), "{io}: {}", answer.first_line);
    carrier_completes(&site, &a, &b);
    site.stop();
}
