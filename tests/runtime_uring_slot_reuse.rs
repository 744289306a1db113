//! io_uring media sockets are direct descriptors in a small registered-file table: a slot is
//! reused only after its close completed, so a call opened right after another one closed gets
//! working sockets every time, even when the table is just big enough for one call. The same on
//! the forms of a Linux 5.15 kernel (sockets bound with bind(2) and registered; single-shot
//! receives, whose buffer is the kernel's until the receive ends, so the slot is free only when
//! both its close and its receive completed).

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::uring::{UringBackend, UringFeatures};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn slots_are_recycled_safely_through_many_open_close_cycles() {
    recycle(UringFeatures::ALL);
}

#[test]
fn slots_are_recycled_safely_on_the_forms_of_linux_5_15() {
    recycle(UringFeatures::without("all").0);
}

fn recycle(features: UringFeatures) {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Room for exactly two media sockets: one leg's RTP + RTCP.
    let mut backend =
        UringBackend::with_features(sip, ShardWaker::new().unwrap(), 2, features).unwrap();
    assert_eq!(
        backend.features().missing().is_empty(),
        features == UringFeatures::ALL
    );
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    for round in 0..200u16 {
        // Alternate between two ports so the port itself is never the thing being reused.
        let port = 9720 + (round % 2) * 2;
        let pair = backend
            .open_media_pair(LOOPBACK, port)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        peer.send_to(&round.to_be_bytes(), (LOOPBACK, port))
            .unwrap();
        let mut got = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.is_none() && Instant::now() < deadline {
            backend.wait(Some(Duration::from_millis(10))).unwrap();
            backend
                .dispatch(&mut |incoming, _| {
                    if let Incoming::Media {
                        socket, payload, ..
                    } = incoming
                    {
                        assert_eq!(socket, pair.rtp, "round {round}: only the live socket");
                        got = Some(payload.to_vec());
                    }
                })
                .unwrap();
            backend.flush().unwrap();
        }
        assert_eq!(got, Some(round.to_be_bytes().to_vec()), "round {round}");
        backend.close_media_pair(pair);
        backend.flush().unwrap();
    }
}
