//! Call flows for the runtime tests: establish a call carrier -> handoff -> platform with the
//! small UA, exchange RTP, hang up.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::ua::{Msg, Ua, in_dialog, request, response, sdp};

/// How long a step of a call waits for the message it needs: generous, for busy machines.
pub const WAIT: Duration = super::WAIT;

/// How often the first packet of a burst is re-sent while it has not arrived.
const RESEND_FIRST: Duration = Duration::from_millis(250);

pub struct Endpoint {
    pub ua: Ua,
    pub rtp: UdpSocket,
}

impl Endpoint {
    pub fn new(sip: UdpSocket, name: &'static str) -> Endpoint {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Endpoint {
            ua: Ua::new(sip, name),
            rtp,
        }
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }
}

/// Both dialogs of an established call, as each UA sees them.
pub struct CallUp {
    pub call_id: String,
    /// Carrier's view (leg A).
    pub a_from: String,
    pub a_to: String,
    pub a_target: String,
    pub a_cseq: u32,
    /// Platform's view (leg B): handoff is the caller there.
    pub b_call_id: String,
    pub b_from: String,
    pub b_to: String,
    pub b_target: String,
    /// Where each UA must send RTP: handoff's ports from the SDP it sent them.
    pub handoff_rtp_for_a: SocketAddr,
    pub handoff_rtp_for_b: SocketAddr,
}

pub fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// carrier INVITE -> handoff -> platform 200 -> carrier 200 -> ACKs.
pub fn establish(
    handoff: SocketAddr,
    carrier: &Endpoint,
    platform: &Endpoint,
    call_id: &str,
) -> CallUp {
    establish_with(handoff, carrier, platform, call_id, |_| {})
}

/// [`establish`], running `before_answer` with handoff's RTP address on leg B (from its offer)
/// once the INVITE has reached the platform and before the platform answers.
pub fn establish_with(
    handoff: SocketAddr,
    carrier: &Endpoint,
    platform: &Endpoint,
    call_id: &str,
    before_answer: impl FnOnce(SocketAddr),
) -> CallUp {
    let (offer, answer) = (sdp(carrier.rtp_port()), sdp(platform.rtp_port()));
    establish_offering(
        handoff,
        carrier,
        platform,
        call_id,
        (&offer, &answer),
        before_answer,
    )
}

/// [`establish_with`] with the carrier's offer and the platform's answer given (other codecs,
/// dynamic payload types).
pub fn establish_offering(
    handoff: SocketAddr,
    carrier: &Endpoint,
    platform: &Endpoint,
    call_id: &str,
    (offer, answer): (&str, &str),
    before_answer: impl FnOnce(SocketAddr),
) -> CallUp {
    let a_addr = carrier.ua.addr();
    let invite = request(
        "INVITE",
        a_addr,
        handoff,
        "+15550001111",
        call_id,
        "atag",
        1,
        offer,
    );
    carrier.ua.send(handoff, &invite);

    let (b_invite, b_src) = platform
        .ua
        .expect("INVITE on leg B", WAIT, |m| m.method() == Some("INVITE"));
    assert_eq!(b_src, handoff, "leg B comes from handoff's SIP address");
    assert_ne!(
        b_invite.header("call-id"),
        Some(call_id),
        "B2BUA: leg B has its own Call-ID"
    );
    let handoff_rtp_for_b = b_invite.sdp_audio().expect("SDP offer on leg B");
    assert_eq!(handoff_rtp_for_b.ip().to_string(), "127.0.0.1");
    before_answer(handoff_rtp_for_b);
    let b_addr = platform.ua.addr();
    platform.ua.send(
        b_src,
        &response(&b_invite, 180, "Ringing", "btag", b_addr, ""),
    );
    platform.ua.send(
        b_src,
        &response(&b_invite, 200, "OK", "btag", b_addr, answer),
    );

    let (ok, _) = carrier.ua.expect("200 to the INVITE", WAIT, |m| {
        m.status() == Some(200) && m.cseq_method() == Some("INVITE")
    });
    let handoff_rtp_for_a = ok.sdp_audio().expect("SDP answer on leg A");
    let a_from = ok.header("from").unwrap().to_owned();
    let a_to = ok.header("to").unwrap().to_owned();
    let a_target = ok.contact_uri().expect("Contact in the 200");
    carrier.ua.send(
        handoff,
        &in_dialog(
            "ACK",
            &a_target,
            a_addr,
            call_id,
            &a_from,
            &a_to,
            1,
            &format!("{call_id}-ack"),
        ),
    );
    let (_ack, _) = platform
        .ua
        .expect("ACK on leg B", WAIT, |m| m.method() == Some("ACK"));

    // On leg B, handoff is the caller: its From is our To.
    CallUp {
        call_id: call_id.to_owned(),
        a_from,
        a_to,
        a_target,
        a_cseq: 1,
        b_call_id: b_invite.header("call-id").unwrap().to_owned(),
        b_from: b_invite.header("from").unwrap().to_owned(),
        b_to: format!("{};tag=btag", b_invite.header("to").unwrap()),
        b_target: b_invite.contact_uri().expect("Contact in the INVITE"),
        handoff_rtp_for_a,
        handoff_rtp_for_b,
    }
}

/// Packets sent by [`exchange_rtp`], each way. `count` of each arrived; the first packet of the
/// burst may have been sent more than once (see there), so the relay's counters lie between
/// `count` and these.
#[derive(Clone, Copy, Debug, Default)]
pub struct RtpSent {
    pub a_to_b: u64,
    pub b_to_a: u64,
}

/// Sends `count` RTP packets from each side and checks they arrive on the other, from handoff;
/// returns how many were sent each way.
pub fn exchange_rtp(
    call: &CallUp,
    carrier: &Endpoint,
    platform: &Endpoint,
    first_seq: u16,
    count: u16,
) -> RtpSent {
    let mut sent = RtpSent::default();
    for seq in first_seq..first_seq + count {
        // RTP is lossy by nature; the first packet of a burst may race the relay's socket setup
        // on a loaded machine, so it alone is re-sent until it arrives (a phone sends 50 a
        // second anyway). The others are sent once: loopback does not lose them.
        let resend = seq == first_seq;
        sent.a_to_b += relay_one(
            &carrier.rtp,
            call.handoff_rtp_for_a,
            &platform.rtp,
            call.handoff_rtp_for_b,
            seq,
            resend,
            "RTP carrier -> platform, sent from handoff's leg-B port",
        );
        sent.b_to_a += relay_one(
            &platform.rtp,
            call.handoff_rtp_for_b,
            &carrier.rtp,
            call.handoff_rtp_for_a,
            seq,
            resend,
            "RTP platform -> carrier, sent from handoff's leg-A port",
        );
    }
    sent
}

/// Sends packet `seq` to handoff (every [`RESEND_FIRST`] while it has not arrived when
/// `resend`) and waits up to [`WAIT`] for exactly it on the far side (copies of earlier
/// re-sent packets are skipped); returns how many times it was sent.
fn relay_one(
    from: &UdpSocket,
    to: SocketAddr,
    far: &UdpSocket,
    expected_source: SocketAddr,
    seq: u16,
    resend: bool,
    what: &str,
) -> u64 {
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + WAIT;
    let mut sends = 0;
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            panic!("{what}: packet {seq} never arrived within {WAIT:?} (sent {sends} times)");
        }
        if sends == 0 || (resend && now >= next_send) {
            from.send_to(&rtp_packet(seq), to).unwrap();
            sends += 1;
            next_send = now + RESEND_FIRST;
        }
        let wait_until = if resend { next_send } else { deadline };
        let timeout = wait_until
            .min(deadline)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        far.set_read_timeout(Some(timeout)).unwrap();
        while let Ok((n, source)) = far.recv_from(&mut buf) {
            if n >= 4 && u16::from_be_bytes([buf[2], buf[3]]) < seq {
                continue;
            }
            assert_eq!(&buf[..n], &rtp_packet(seq)[..], "{what}");
            assert_eq!(source, expected_source, "{what}");
            return sends;
        }
    }
}

/// The carrier hangs up; the platform gets the BYE and answers; the carrier gets its 200.
pub fn hang_up_from_carrier(
    handoff: SocketAddr,
    call: &mut CallUp,
    carrier: &Endpoint,
    platform: &Endpoint,
) {
    call.a_cseq += 1;
    carrier.ua.send(
        handoff,
        &in_dialog(
            "BYE",
            &call.a_target,
            carrier.ua.addr(),
            &call.call_id,
            &call.a_from,
            &call.a_to,
            call.a_cseq,
            &format!("{}-bye", call.call_id),
        ),
    );
    let (bye, src) = platform
        .ua
        .expect("BYE on leg B", WAIT, |m| m.method() == Some("BYE"));
    platform.ua.send(
        src,
        &response(&bye, 200, "OK", "btag", platform.ua.addr(), ""),
    );
    carrier.ua.expect("200 to the BYE", WAIT, |m| {
        m.status() == Some(200) && m.cseq_method() == Some("BYE")
    });
}

/// Answers any BYE the UA gets within `within` with 200; returns how many.
pub fn answer_byes(ua: &Ua, within: Duration) -> Msg {
    let (bye, src) = ua.expect("BYE", within, |m| m.method() == Some("BYE"));
    ua.send(src, &response(&bye, 200, "OK", "x", ua.addr(), ""));
    bye
}
