//! Issue 11, "HEP to Homer", against the real binary on both backends: with `sbc.hep` pointed at
//! a UDP socket the test owns, every SIP datagram handoff receives or sends arrives there as a
//! HEP v3 packet. The packets are decoded by a decoder written here from the HEP3 specification
//! (sipcapture/HEP), independent of handoff's encoder, and each chunk is checked: the header and
//! lengths, the IP family and protocol, the addresses and ports of the real sockets, the
//! protocol type (SIP), the capture agent id (`sbc.hep_id`), the correlation id (the call's
//! conversation id from the audit record; the Call-ID outside calls) and the payload, byte for
//! byte what went over the wire. The admin API counts them (`handoff_hep_sent_total`, none
//! dropped).

mod runtime_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runtime_support::call::{Endpoint, establish};
use runtime_support::ua::{Msg, in_dialog, request, response};
use runtime_support::{BACKENDS, Handoff, WAIT, netns, setup};

const HEP_ID: u32 = 424_242;
const COLLECTOR_PORT: u16 = 32060;
const ADMIN_PORT: u16 = 32061;

/// `GET /metrics` from the admin API (HTTP/1.0, read to the end); the value of sample `name`.
fn metric(admin: SocketAddr, name: &str) -> u64 {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: handoff\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {reply}"))
        .parse()
        .unwrap()
}

/// One decoded HEP v3 packet: generic chunks by type (each type at most once), the rest
/// rejected.
#[derive(Debug)]
struct Hep {
    chunks: BTreeMap<u16, Vec<u8>>,
}

impl Hep {
    /// Decodes per the specification: "HEP3", the total length (u16, big-endian, the whole
    /// packet), then chunks of vendor id (u16), type id (u16), length (u16, its 6-byte header
    /// included) and value, covering the packet exactly.
    fn decode(packet: &[u8]) -> Hep {
        assert!(packet.len() >= 6, "short packet: {packet:?}");
        assert_eq!(&packet[..4], b"HEP3", "version header");
        let total = u16::from_be_bytes([packet[4], packet[5]]) as usize;
        assert_eq!(total, packet.len(), "total length is the datagram's");
        let mut chunks = BTreeMap::new();
        let mut at = 6;
        while at < packet.len() {
            assert!(at + 6 <= packet.len(), "truncated chunk header at {at}");
            let vendor = u16::from_be_bytes([packet[at], packet[at + 1]]);
            let kind = u16::from_be_bytes([packet[at + 2], packet[at + 3]]);
            let len = u16::from_be_bytes([packet[at + 4], packet[at + 5]]) as usize;
            assert_eq!(vendor, 0, "generic chunks only");
            assert!(
                len >= 6 && at + len <= packet.len(),
                "chunk {kind:#06x} length {len}"
            );
            let value = packet[at + 6..at + len].to_vec();
            assert!(
                chunks.insert(kind, value).is_none(),
                "chunk {kind:#06x} twice"
            );
            at += len;
        }
        assert_eq!(at, packet.len(), "chunks cover the packet exactly");
        Hep { chunks }
    }

    fn chunk(&self, kind: u16) -> &[u8] {
        self.chunks
            .get(&kind)
            .unwrap_or_else(|| panic!("no chunk {kind:#06x} in {:?}", self.chunks.keys()))
    }

    fn u8(&self, kind: u16) -> u8 {
        let v = self.chunk(kind);
        assert_eq!(v.len(), 1, "chunk {kind:#06x} is a u8");
        v[0]
    }

    fn u16(&self, kind: u16) -> u16 {
        let v = self.chunk(kind);
        assert_eq!(v.len(), 2, "chunk {kind:#06x} is a u16");
        u16::from_be_bytes([v[0], v[1]])
    }

    fn u32(&self, kind: u16) -> u32 {
        let v = self.chunk(kind);
        assert_eq!(v.len(), 4, "chunk {kind:#06x} is a u32");
        u32::from_be_bytes([v[0], v[1], v[2], v[3]])
    }

    fn ipv4(&self, kind: u16) -> IpAddr {
        let v = self.chunk(kind);
        assert_eq!(v.len(), 4, "chunk {kind:#06x} is an IPv4 address");
        IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))
    }

    /// Checks the chunks every packet of this test carries; returns (source, destination).
    fn check_common(&self) -> (SocketAddr, SocketAddr) {
        assert_eq!(self.u8(0x0001), 2, "IP family: IPv4");
        assert_eq!(self.u8(0x0002), 17, "IP protocol: UDP");
        assert_eq!(self.u8(0x000b), 1, "protocol type: SIP");
        assert_eq!(self.u32(0x000c), HEP_ID, "capture agent id = sbc.hep_id");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = u64::from(self.u32(0x0009));
        assert!(
            seconds + 300 >= now && seconds <= now + 5,
            "timestamp {seconds} vs now {now}"
        );
        assert!(
            self.u32(0x000a) < 1_000_000,
            "microseconds within the second"
        );
        let src = SocketAddr::new(self.ipv4(0x0003), self.u16(0x0007));
        let dst = SocketAddr::new(self.ipv4(0x0004), self.u16(0x0008));
        (src, dst)
    }

    fn correlation(&self) -> String {
        String::from_utf8(self.chunk(0x0011).to_vec()).expect("correlation id is text")
    }

    fn payload(&self) -> &[u8] {
        self.chunk(0x000f)
    }
}

struct Captured {
    src: SocketAddr,
    dst: SocketAddr,
    hep: Hep,
    msg: Msg,
}

/// Reads HEP packets until `done` holds for what was read (and then `linger` more, for what is
/// still on its way), or panics after [`WAIT`].
fn collect(
    collector: &UdpSocket,
    into: &mut Vec<Captured>,
    linger: Duration,
    done: impl Fn(&[Captured]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    let mut done_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65536];
    loop {
        if done_at.is_none() && done(into) {
            done_at = Some(Instant::now());
        }
        if done_at.is_some_and(|at| at.elapsed() >= linger) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "HEP packets so far: {:?}",
            into.iter()
                .map(|c| (c.src, c.dst, c.msg.first_line.clone()))
                .collect::<Vec<_>>()
        );
        collector
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let Ok((n, _)) = collector.recv_from(&mut buf) else {
            continue;
        };
        let hep = Hep::decode(&buf[..n]);
        let (src, dst) = hep.check_common();
        let msg = Msg::parse(hep.payload()).expect("the payload is a SIP message");
        into.push(Captured { src, dst, hep, msg });
    }
}

fn audit_conversation(path: &Path, call_id: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            if record["type"] == "call_end" {
                return record["conversation"].as_str().unwrap().to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no call_end for {call_id} in {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_sip_datagram_reaches_the_collector_as_hep_v3_on_both_backends() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 32100 + i as u16 * 100, 2, 30);
        let collector = UdpSocket::bind(netns::udp_addr(COLLECTOR_PORT)).unwrap();
        let admin = netns::udp_addr(ADMIN_PORT);
        let config = std::fs::read_to_string(&s.config_path)
            .unwrap()
            .replacen(
                "[sbc]\n",
                &format!(
                    "[sbc]\nhep = \"{}\"\nhep_id = {HEP_ID}\n",
                    collector.local_addr().unwrap()
                ),
                1,
            )
            .replace("admin = \"off\"", &format!("admin = \"{admin}\""));
        std::fs::write(&s.config_path, config).unwrap();
        let mut handoff = Handoff::start(&s.config_path);
        let carrier = Endpoint::new(s.carrier.try_clone().unwrap(), "carrier");
        let platform = Endpoint::new(s.platform.try_clone().unwrap(), "platform");
        let (a, b) = (carrier.ua.addr(), platform.ua.addr());

        // Outside any call: an OPTIONS keepalive and its 200, named by their Call-ID.
        let options_call_id = format!("hep-options-{io}");
        let options = request(
            "OPTIONS",
            a,
            s.sip,
            "handoff",
            &options_call_id,
            "ot",
            1,
            "",
        );
        carrier.ua.send(s.sip, &options);
        let (options_ok, _) = carrier.ua.expect("200 to OPTIONS", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("OPTIONS")
        });

        // A call, hung up by the carrier; the BYE and its 200 are kept as sent and received.
        let mut call = establish(s.sip, &carrier, &platform, &format!("hep-call-{io}"));
        call.a_cseq += 1;
        let bye = in_dialog(
            "BYE",
            &call.a_target,
            a,
            &call.call_id,
            &call.a_from,
            &call.a_to,
            call.a_cseq,
            &format!("{}-bye", call.call_id),
        );
        carrier.ua.send(s.sip, &bye);
        let (b_bye, src) = platform
            .ua
            .expect("BYE on leg B", WAIT, |m| m.method() == Some("BYE"));
        let b_bye_ok = response(&b_bye, 200, "OK", "btag", b, "");
        platform.ua.send(src, &b_bye_ok);
        let (bye_ok, _) = carrier.ua.expect("200 to the BYE", WAIT, |m| {
            m.status() == Some(200) && m.cseq_method() == Some("BYE")
        });
        let conversation = audit_conversation(&s.audit_path, &call.call_id);

        let mut captured = Vec::new();
        let has = |c: &[Captured], src: SocketAddr, dst: SocketAddr, payload: &str| {
            c.iter()
                .any(|c| c.src == src && c.dst == dst && c.hep.payload() == payload.as_bytes())
        };
        collect(&collector, &mut captured, Duration::from_millis(500), |c| {
            has(c, a, s.sip, &options)
                && has(c, s.sip, a, &options_ok.raw)
                && has(c, a, s.sip, &bye)
                && has(c, s.sip, b, &b_bye.raw)
                && has(c, b, s.sip, &b_bye_ok)
                && has(c, s.sip, a, &bye_ok.raw)
        });

        // Every packet is between handoff's SIP socket and a peer's, in one direction or the
        // other, and names its call by the conversation id, anything else by its Call-ID.
        for c in &captured {
            let peer = if c.src == s.sip { c.dst } else { c.src };
            assert!(
                (c.src == s.sip) != (c.dst == s.sip) && (peer == a || peer == b),
                "{io}: {} -> {}: {}",
                c.src,
                c.dst,
                c.msg.first_line
            );
            let call_id = c.msg.header("call-id").unwrap();
            let expected = if call_id == call.call_id || call_id == call.b_call_id {
                conversation.as_str()
            } else {
                call_id
            };
            assert_eq!(
                c.hep.correlation(),
                expected,
                "{io}: {} {}",
                c.msg.first_line,
                call_id
            );
        }
        // The carrier's INVITE (captured once its call exists), handoff's INVITE on leg B and
        // the answers.
        let count = |pred: &dyn Fn(&Captured) -> bool| captured.iter().filter(|c| pred(c)).count();
        assert_eq!(
            count(&|c| c.src == a
                && c.msg.method() == Some("INVITE")
                && c.msg.header("call-id") == Some(call.call_id.as_str())),
            1,
            "{io}: the carrier's INVITE, once"
        );
        // (At least once: Timer A may retransmit it on a loaded machine.)
        assert!(
            count(&|c| c.dst == b
                && c.msg.method() == Some("INVITE")
                && c.msg.header("call-id") == Some(call.b_call_id.as_str()))
                >= 1,
            "{io}: handoff's INVITE on leg B"
        );
        assert!(count(&|c| c.src == b && c.msg.status() == Some(200)) >= 2);
        assert!(count(&|c| c.dst == a && c.msg.status() == Some(200)) >= 2);
        assert!(count(&|c| c.msg.method() == Some("ACK")) >= 2);
        assert!(conversation.starts_with("conv-"), "{conversation}");
        // Counted: every packet that reached the collector was sent, none dropped.
        assert!(
            metric(admin, "handoff_hep_sent_total") >= captured.len() as u64,
            "{io}"
        );
        assert_eq!(metric(admin, "handoff_hep_dropped_total"), 0, "{io}");

        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
