//! Each backend receives on a media socket pair and on its SIP socket, and sends a staged batch
//! back out: the socket plumbing the relay fast path rests on, on real loopback UDP.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn free_port_pair() -> u16 {
    // Even port whose odd neighbour is free too.
    for _ in 0..200 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if port > 1024
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair");
}

fn free_sip_addr() -> SocketAddr {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

fn echo_through(mut backend: impl Backend, sip: SocketAddr) {
    let port = free_port_pair();
    let pair = backend.open_media_pair(LOOPBACK, port).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let packets: Vec<Vec<u8>> = (0..40u8).map(|i| vec![0x80, i, 1, 2, 3]).collect();
    for p in &packets {
        peer.send_to(p, ("127.0.0.1", port)).unwrap();
    }
    peer.send_to(b"rtcp", ("127.0.0.1", port + 1)).unwrap();
    peer.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", sip).unwrap();

    let mut media_seen = Vec::new();
    let mut rtcp_seen = 0;
    let mut sip_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (media_seen.len() < packets.len() || rtcp_seen == 0 || sip_seen == 0)
        && Instant::now() < deadline
    {
        backend.wait(Some(Duration::from_millis(50))).unwrap();
        backend
            .dispatch(&mut |incoming, outbox| match incoming {
                Incoming::Media {
                    socket,
                    from,
                    payload,
                } => {
                    if socket == pair.rtp {
                        media_seen.push(payload.to_vec());
                        // Echo back from the RTCP socket, so the send side is exercised too.
                        assert!(outbox.push(pair.rtcp, from, payload));
                    } else if socket == pair.rtcp {
                        rtcp_seen += 1;
                    }
                }
                Incoming::Sip { payload, .. } => {
                    assert!(payload.starts_with(b"OPTIONS "));
                    sip_seen += 1;
                }
            })
            .unwrap();
        backend.flush().unwrap();
    }
    assert_eq!(
        media_seen, packets,
        "every RTP packet dispatched once, in order"
    );
    assert_eq!(rtcp_seen, 1);
    assert_eq!(sip_seen, 1);
    let mut buf = [0u8; 64];
    for p in &packets {
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &p[..]);
        assert_eq!(from.port(), port + 1, "sent from the RTCP socket");
    }

    // After close, the ports are free again and nothing more is dispatched.
    backend.close_media_pair(pair);
    backend.flush().unwrap();
    peer.send_to(&packets[0], ("127.0.0.1", port)).unwrap();
    backend.wait(Some(Duration::from_millis(50))).unwrap();
    backend
        .dispatch(&mut |incoming, _| {
            if let Incoming::Media { .. } = incoming {
                panic!("packet dispatched on a closed socket")
            }
        })
        .unwrap();
    let reopened = backend.open_media_pair(LOOPBACK, port).unwrap();
    backend.close_media_pair(reopened);
    backend.flush().unwrap();
}

#[test]
fn epoll_backend_receives_and_sends_batches() {
    netns::enter();
    let sip = free_sip_addr();
    let backend = EpollBackend::new(sip, ShardWaker::new().unwrap(), 64).unwrap();
    echo_through(backend, sip);
}

#[test]
fn uring_backend_receives_and_sends_batches() {
    netns::enter();
    let sip = free_sip_addr();
    let backend = UringBackend::new(sip, ShardWaker::new().unwrap(), 64).unwrap();
    echo_through(backend, sip);
}
