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
use handoff::core::{CallRef, MediaCommand, MediaLeg, MediaSide, ShardId, Time};
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

struct Rig<B: Backend> {
    backend: B,
    relay: MediaRelay,
    origin: Instant,
}

impl<B: Backend> Rig<B> {
    /// Runs the relay loop for `duration`, the far side sending one packet per 20 ms from
    /// `far` (built by `next_far`).
    fn pump(
        &mut self,
        duration: Duration,
        far: &UdpSocket,
        far_port: u16,
        next_far: &mut dyn FnMut() -> Vec<u8>,
    ) {
        let until = Instant::now() + duration;
        let mut next_send = Instant::now();
        while Instant::now() < until {
            if Instant::now() >= next_send {
                far.send_to(&next_far(), (LOOPBACK, far_port)).unwrap();
                next_send += Duration::from_millis(20);
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
                        relay.on_packet(socket, from, payload, outbox);
                    }
                })
                .unwrap();
            self.backend.flush().unwrap();
        }
    }
}

fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    // Let the last flush land.
    std::thread::sleep(Duration::from_millis(30));
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
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

    // The customer hears the far side's stream first.
    let mut seq = 40_000u16;
    let mut ts = 7_000_000u32;
    let mut far_stream = || {
        let p = rtp(FAR_SSRC, seq, ts, 0xFF);
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        p
    };
    rig.pump(Duration::from_millis(200), &far, b_port, &mut far_stream);
    let before = drain(&customer);
    assert!(
        before.len() >= 5,
        "relayed before ringback: {}",
        before.len()
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
            },
        )
        .unwrap();
    // The far side keeps sending (another stream): muted while ringback plays.
    let mut other_seq = 0u16;
    let mut other_stream = || {
        other_seq += 1;
        rtp(OTHER_SSRC, other_seq, u32::from(other_seq) * 160, 0x7F)
    };
    let ring_for = Duration::from_millis(1400);
    rig.pump(ring_for, &far, b_port, &mut other_stream);
    let ringing = drain(&customer);

    assert!(
        ringing.iter().all(|p| p.len() == 172),
        "ringback packets are 172 bytes"
    );
    assert!(
        ringing.iter().all(|p| header(p).2 == FAR_SSRC),
        "only ringback reaches the customer, on the stream's SSRC"
    );
    // 1.4 s at 20 ms: about 70 packets (scheduler slack allowed).
    assert!(
        (50..=75).contains(&ringing.len()),
        "{} ringback packets in 1.4 s",
        ringing.len()
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

    let samples: Vec<i16> = ringing
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
    assert!(rig.relay.stats().muted >= 50, "far side muted");

    rig.relay
        .command(&mut rig.backend, MediaCommand::StopRingback { call })
        .unwrap();
    rig.pump(Duration::from_millis(200), &far, b_port, &mut other_stream);
    let after = drain(&customer);
    assert!(!after.is_empty(), "relayed media flows after StopRingback");
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
