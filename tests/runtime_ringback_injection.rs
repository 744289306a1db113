//! Ringback injected by the runtime relay into the customer's RTP stream, over real sockets on
//! both backends: the customer's socket receives 172-byte PCMU packets every 20 ms that continue
//! the SSRC, sequence and timestamp of the stream it was receiving; decoded, they carry the UK
//! ringback frequencies (400 + 450 Hz) in its cadence (0.4 s on, 0.2 s off, 0.4 s on, then off);
//! the far side's packets are muted meanwhile and flow again after StopRingback.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::config::RingbackTone;
use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSide, MediaSources, ShardId, Time};
use handoff::media::g711::G711Law;
use handoff::media::tone::{detect_cadence, tone_amplitude};
use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::relay::MediaRelay;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FAR_SSRC: u32 = 0x1111_2222;
const OTHER_SSRC: u32 = 0x3333_4444;

fn rtp(ssrc: u32, seq: u16, ts: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// How long a phase may take before the test fails: generous, for busy machines.
const WAIT: Duration = Duration::from_secs(30);
/// Ringback packets the customer must receive: 1.4 s of the UK cadence (0.4 s on, 0.2 s off,
/// 0.4 s on, then the first 0.4 s of the 2 s off).
const RINGBACK_PACKETS: usize = 70;

struct Rig<B: Backend> {
    backend: B,
    relay: MediaRelay,
    origin: Instant,
}

/// The far side of a phase: its socket toward handoff's port, and what it sends every 20 ms
/// (nothing when `None`).
struct Far<'a> {
    socket: &'a UdpSocket,
    port: u16,
    next: Option<&'a mut dyn FnMut() -> Vec<u8>>,
    sent: u64,
}

impl<B: Backend> Rig<B> {
    /// Runs the relay loop, the far side sending one packet per 20 ms (all that are due after a
    /// late turn), and collects what reaches the (non-blocking) `customer` socket into `got`,
    /// until `done` holds; panics naming `what` after [`WAIT`].
    fn pump_until(
        &mut self,
        what: &str,
        far: &mut Far<'_>,
        customer: &UdpSocket,
        got: &mut Vec<Vec<u8>>,
        mut done: impl FnMut(&MediaRelay, &[Vec<u8>], u64) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        let mut next_send = Instant::now();
        let mut buf = [0u8; 2048];
        loop {
            if let Some(next) = far.next.as_mut() {
                while Instant::now() >= next_send {
                    far.socket.send_to(&next(), (LOOPBACK, far.port)).unwrap();
                    far.sent += 1;
                    next_send += Duration::from_millis(20);
                }
            }
            let now = Time(self.origin.elapsed().as_nanos() as u64);
            let next_ringback = self.relay.tick(now, &mut self.backend);
            self.backend.flush().unwrap();
            let mut sleep = Duration::from_millis(5);
            if let Some(due) = next_ringback {
                sleep = sleep.min(Duration::from_nanos(due.0.saturating_sub(now.0)));
            }
            self.backend.wait(Some(sleep)).unwrap();
            let relay = &mut self.relay;
            self.backend
                .dispatch(&mut |incoming, outbox| {
                    if let Incoming::Media {
                        socket,
                        from,
                        payload,
                    } = incoming
                    {
                        relay.on_packet(now, socket, from, payload, outbox);
                    }
                })
                .unwrap();
            self.backend.flush().unwrap();
            while let Ok((n, _)) = customer.recv_from(&mut buf) {
                got.push(buf[..n].to_vec());
            }
            if done(&self.relay, got, far.sent) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {WAIT:?}; {} packets reached the customer, the far side \
                 sent {}, relay stats {:?}",
                got.len(),
                far.sent,
                self.relay.stats()
            );
        }
    }
}

fn header(p: &[u8]) -> (u16, u32, u32) {
    (
        u16::from_be_bytes([p[2], p[3]]),
        u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    )
}

fn scenario<B: Backend>(backend: B, a_port: u16, b_port: u16) {
    let mut rig = Rig {
        backend,
        relay: MediaRelay::new(LOOPBACK),
        origin: Instant::now(),
    };
    let customer = UdpSocket::bind("127.0.0.1:0").unwrap();
    customer.set_nonblocking(true).unwrap();
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    let leg = |port, s: &UdpSocket| MediaLeg {
        local_port: port,
        remote_rtp: Some(s.local_addr().unwrap()),
        remote_rtcp: None,
        rtcp_mux: false,
        // The peers are on loopback: the trunk's peer IP (strict media sources).
        sources: MediaSources {
            peer: Some(LOOPBACK),
            ..Default::default()
        },
    };
    let call = CallRef {
        shard: ShardId(0),
        seq: 3,
    };
    rig.relay
        .command(
            &mut rig.backend,
            MediaCommand::Open {
                call,
                a: leg(a_port, &customer),
                b: leg(b_port, &far),
            },
        )
        .unwrap();

    // The customer hears the far side's stream first: a few packets, then the far side stops
    // and every packet it sent has reached the customer (nothing left in flight).
    let mut seq = 40_000u16;
    let mut ts = 7_000_000u32;
    let mut far_stream = || {
        let p = rtp(FAR_SSRC, seq, ts, 0xFF);
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        p
    };
    let mut before = Vec::new();
    let mut far_side = Far {
        socket: &far,
        port: b_port,
        next: Some(&mut far_stream),
        sent: 0,
    };
    rig.pump_until(
        "relayed before ringback",
        &mut far_side,
        &customer,
        &mut before,
        |_, got, _| got.len() >= 5,
    );
    far_side.next = None;
    rig.pump_until(
        "the far side's packets all relayed",
        &mut far_side,
        &customer,
        &mut before,
        |_, got, sent| got.len() as u64 >= sent,
    );
    assert_eq!(
        before.len() as u64,
        far_side.sent,
        "every packet relayed once"
    );
    let (last_seq, last_ts, last_ssrc) = header(before.last().unwrap());
    assert_eq!(last_ssrc, FAR_SSRC);

    rig.relay
        .command(
            &mut rig.backend,
            MediaCommand::StartRingback {
                call,
                toward: MediaSide::A,
                tone: RingbackTone::Uk,
                law: G711Law::Ulaw,
                payload_type: 0,
            },
        )
        .unwrap();
    let ringback_started = Instant::now();
    // The far side keeps sending (another stream): muted while ringback plays.
    let mut other_seq = 0u16;
    let mut other_stream = || {
        other_seq += 1;
        rtp(OTHER_SSRC, other_seq, u32::from(other_seq) * 160, 0x7F)
    };
    let mut ringing = Vec::new();
    let mut far_side = Far {
        socket: &far,
        port: b_port,
        next: Some(&mut other_stream),
        sent: 0,
    };
    rig.pump_until(
        "1.4 s of ringback",
        &mut far_side,
        &customer,
        &mut ringing,
        |_, got, _| got.len() >= RINGBACK_PACKETS,
    );
    // Ringback is paced at 20 ms: the 70th packet is due 69 * 20 ms after the first. Only a
    // lower bound: a loaded machine makes it late, never early.
    let ringing_for = ringback_started.elapsed();
    assert!(
        ringing_for >= Duration::from_millis(1300),
        "{RINGBACK_PACKETS} ringback packets after only {ringing_for:?}: not paced at 20 ms"
    );
    // The far side stops; once the relay has handled (muted) all it sent and every ringback
    // packet staged has arrived, nothing is in flight.
    far_side.next = None;
    rig.pump_until(
        "the far side's packets all muted, the ringback all arrived",
        &mut far_side,
        &customer,
        &mut ringing,
        |relay, got, sent| {
            let stats = relay.stats();
            stats.muted >= sent && got.len() as u64 >= stats.ringback_sent
        },
    );
    let far_sent_while_ringing = far_side.sent;

    assert!(
        ringing.iter().all(|p| p.len() == 172),
        "ringback packets are 172 bytes"
    );
    assert!(
        ringing.iter().all(|p| header(p).2 == FAR_SSRC),
        "only ringback reaches the customer, on the stream's SSRC"
    );
    assert_eq!(
        ringing.len() as u64,
        rig.relay.stats().ringback_sent,
        "every ringback packet staged reached the customer, once"
    );
    for (i, p) in ringing.iter().enumerate() {
        let (s, t, _) = header(p);
        assert_eq!(s, last_seq.wrapping_add(1 + i as u16), "sequence continues");
        assert_eq!(
            t,
            last_ts.wrapping_add(160 * (1 + i as u32)),
            "timestamp continues"
        );
        assert_eq!(p[1] & 0x7F, 0, "PCMU");
    }

    // The first 1.4 s of the tone (later packets continue the cadence's long pause).
    let samples: Vec<i16> = ringing[..RINGBACK_PACKETS]
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| G711Law::Ulaw.decode(c)))
        .collect();
    let first_burst = &samples[..3200];
    for f in [400.0, 450.0] {
        let amplitude = tone_amplitude(first_burst, f, 8000.0);
        assert!(amplitude > 2000.0, "{f} Hz amplitude {amplitude}");
    }
    for f in [440.0, 480.0, 1000.0] {
        let amplitude = tone_amplitude(first_burst, f, 8000.0);
        assert!(amplitude < 300.0, "{f} Hz amplitude {amplitude} (absent)");
    }
    let cadence = detect_cadence(&samples);
    let shape: Vec<(bool, u32)> = cadence.iter().map(|s| (s.on, s.duration_ms)).collect();
    assert!(shape.len() == 4, "cadence {shape:?}");
    for ((on, ms), (want_on, want_ms)) in shape.iter().zip([(true, 400), (false, 200), (true, 400)])
    {
        assert_eq!(*on, want_on, "cadence {shape:?}");
        assert!(ms.abs_diff(want_ms) <= 20, "cadence {shape:?}");
    }
    assert!(!shape[3].0, "silence after the second burst: {shape:?}");
    let muted = rig.relay.stats().muted;
    assert_eq!(
        muted, far_sent_while_ringing,
        "every far-side packet muted while ringback played"
    );
    assert!(muted >= 50, "far side muted: {muted}");

    rig.relay
        .command(&mut rig.backend, MediaCommand::StopRingback { call })
        .unwrap();
    let mut after = Vec::new();
    let mut far_side = Far {
        socket: &far,
        port: b_port,
        next: Some(&mut other_stream),
        sent: 0,
    };
    rig.pump_until(
        "relayed media after StopRingback",
        &mut far_side,
        &customer,
        &mut after,
        |_, got, _| got.len() >= 5,
    );
    assert!(
        after.iter().all(|p| header(p).2 == OTHER_SSRC),
        "no ringback after StopRingback"
    );
    rig.relay.close(&mut rig.backend, call);
}

#[test]
fn epoll_ringback_injected_into_customer_stream() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        EpollBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9760,
        9770,
    );
}

#[test]
fn uring_ringback_injected_into_customer_stream() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scenario(
        UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap(),
        9780,
        9790,
    );
}
