//! Local ringback only in a codec the customer's leg negotiated (issue 10 item 7), against the
//! real binary, both backends, 2 shards. The carrier trunk plays its own ringback while the
//! carrier works on a transfer (`ringback = "local"`).
//!
//! RFC 3264 section 5.1: "the offerer [...] MUST be prepared to receive media for any of those
//! formats", and the answerer sends in a format of the answer; section 6.1: once the answer is
//! received, the offerer "MAY send media [...] using any formats listed in the answer", with the
//! payload type numbers the SDP bound them to (a dynamic one by `a=rtpmap`). So:
//! - a call that bound PCMU to the dynamic payload type 96 hears ringback as PCMU in payload
//!   type 96, never in 0;
//! - a call that negotiated G.729 alone gets no ringback at all (handoff has no G.729 encoder),
//!   and the transfer record says `ringback_skipped: true`.

mod border_support;
mod runtime_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use border_support::{
    Site, TrunkSpec, assert_exits_cleanly, config_text_prefixed, is_final, is_request, legs_of,
    refer_notify, wait_for_json_line,
};
use runtime_support::call::{Endpoint, WAIT, establish_offering};
use runtime_support::ua::response;
use runtime_support::{BACKENDS, Handoff, setup};

/// An SDP body at `port` with `formats` (payload type, rtpmap) as given.
fn sdp(port: u16, formats: &[(u8, &str)]) -> String {
    let list = formats
        .iter()
        .map(|(pt, _)| pt.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {list}\r\n"
    );
    for (pt, map) in formats {
        text.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
    }
    text.push_str("a=sendrecv\r\n");
    text
}

struct Run {
    io: &'static str,
    sip: SocketAddr,
    audit: std::path::PathBuf,
    handoff: Handoff,
    carrier: Endpoint,
    platform: Endpoint,
    _dir: tempfile::TempDir,
}

fn start(io: &'static str, media: u16) -> Run {
    let s = setup(io, media, 2, 30);
    let carrier = Endpoint::new(s.carrier.try_clone().expect("carrier socket"), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().expect("platform socket"), "platform");
    let text = config_text_prefixed(
        &Site {
            io,
            sip: s.sip,
            media,
            shards: 2,
            drain_s: 30,
            audit: &s.audit_path,
        },
        &[
            TrunkSpec::new("carrier", "carrier", carrier.ua.addr())
                .with("codecs = [\"G729\", \"PCMU\"]")
                .with("ringback = \"local\""),
            TrunkSpec::new("platform", "platform", platform.ua.addr())
                .with("codecs = [\"G729\", \"PCMU\", \"PCMA\"]"),
        ],
        &[("carrier", "", "platform"), ("platform", "", "carrier")],
    );
    std::fs::write(&s.config_path, text).expect("write the config");
    let handoff = Handoff::start(&s.config_path);
    Run {
        io,
        sip: s.sip,
        audit: s.audit_path.clone(),
        handoff,
        carrier,
        platform,
        _dir: s.dir,
    }
}

/// A call on `formats`, REFERed by the platform; returns what the customer's RTP socket
/// received from handoff while the carrier held the REFER unanswered for 1.5 s, then lets the
/// carrier take the call over (202, NOTIFY 200, BYE) and returns the transfer record.
fn ringback_heard(
    run: &Run,
    call_id: &str,
    formats: &[(u8, &str)],
) -> (Vec<Vec<u8>>, serde_json::Value) {
    let io = run.io;
    let call = establish_offering(
        run.sip,
        &run.carrier,
        &run.platform,
        call_id,
        (
            &sdp(run.carrier.rtp_port(), formats),
            &sdp(run.platform.rtp_port(), formats),
        ),
        |_| {},
    );
    let (a, b) = legs_of(&call);
    run.platform.ua.send(
        run.sip,
        &b.request(
            "REFER",
            run.platform.ua.addr(),
            &["Refer-To: <sip:+15559870000@platform.example>".to_owned()],
        ),
    );
    let (refer, src) = run
        .carrier
        .ua
        .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
            is_request(m, "REFER", &a.call_id)
        });
    // While the carrier works: what reaches the customer's RTP port?
    let mut packets = Vec::new();
    let until = Instant::now() + Duration::from_millis(1_500);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        run.carrier
            .rtp
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        if let Ok((n, from)) = run.carrier.rtp.recv_from(&mut buf)
            && from == call.handoff_rtp_for_a
        {
            packets.push(buf[..n].to_vec());
        }
    }
    let c_addr = run.carrier.ua.addr();
    run.carrier
        .ua
        .send(src, &response(&refer, 202, "Accepted", "x", c_addr, ""));
    run.carrier.ua.send(
        run.sip,
        &refer_notify(&a, c_addr, "200 OK", "terminated;reason=noresource"),
    );
    run.carrier
        .ua
        .expect(&format!("{io}: 200 to the NOTIFY"), WAIT, |m| {
            is_final(m, "NOTIFY", &a.call_id)
        });
    run.carrier.ua.send(run.sip, &a.request("BYE", c_addr, &[]));
    run.carrier
        .ua
        .expect(&format!("{io}: 200 to the carrier's BYE"), WAIT, |m| {
            is_final(m, "BYE", &a.call_id)
        });
    // The platform answers its NOTIFYs and handoff's BYE on leg B.
    loop {
        let (m, from) =
            run.platform
                .ua
                .expect(&format!("{io}: NOTIFY or BYE on leg B"), WAIT, |m| {
                    is_request(m, "NOTIFY", &b.call_id) || is_request(m, "BYE", &b.call_id)
                });
        let p_addr = run.platform.ua.addr();
        run.platform
            .ua
            .send(from, &response(&m, 200, "OK", "x", p_addr, ""));
        if m.method() == Some("BYE") {
            break;
        }
    }
    let record = wait_for_json_line(&run.audit, Duration::from_secs(20), |r| {
        r["type"] == "transfer"
    });
    assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
    (packets, record)
}

#[test]
fn ringback_goes_out_in_the_dynamic_payload_type_the_leg_bound_to_pcmu() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut run = start(io, 41900 + i as u16 * 100);
        let (packets, record) = ringback_heard(&run, &format!("rb96-{io}"), &[(96, "PCMU/8000")]);
        assert!(
            packets.len() >= 20,
            "{io}: {} ringback packets in 1.5 s",
            packets.len()
        );
        let types: Vec<u8> = packets.iter().map(|p| p[1] & 0x7f).collect();
        assert!(
            types.iter().all(|pt| *pt == 96),
            "{io}: ringback payload types {types:?}, expected 96 only"
        );
        assert!(record.get("ringback_skipped").is_none(), "{io}: {record}");
        assert_exits_cleanly(&mut run.handoff, io, Duration::from_secs(30));
    }
}

#[test]
fn a_call_without_g711_gets_no_ringback_and_the_record_says_so() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut run = start(io, 42300 + i as u16 * 100);
        let (packets, record) = ringback_heard(&run, &format!("rb729-{io}"), &[(18, "G729/8000")]);
        assert!(
            packets.is_empty(),
            "{io}: {} packets reached a G.729-only customer during the transfer",
            packets.len()
        );
        assert_eq!(record["ringback_skipped"], true, "{io}: {record}");
        assert_exits_cleanly(&mut run.handoff, io, Duration::from_secs(30));
    }
}
