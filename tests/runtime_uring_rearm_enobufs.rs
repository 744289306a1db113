//! io_uring: when a burst outruns the provided-buffer ring, the multishot receive ends with
//! ENOBUFS; the backend re-arms it and every datagram still arrives.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use handoff::runtime::backend::{Backend, Incoming, ShardWaker};
use handoff::runtime::uring::UringBackend;

#[test]
fn burst_larger_than_the_sip_buffer_ring_is_received_whole() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut backend = UringBackend::new(sip, ShardWaker::new().unwrap(), 8).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The SIP buffer ring holds 64 buffers; 300 datagrams queue up before the first dispatch.
    const BURST: u32 = 300;
    for i in 0..BURST {
        peer.send_to(format!("OPTIONS {i}").as_bytes(), sip)
            .unwrap();
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < BURST as usize && Instant::now() < deadline {
        backend.wait(Some(Duration::from_millis(20))).unwrap();
        backend
            .dispatch(&mut |incoming, _| {
                if let Incoming::Sip { payload, .. } = incoming {
                    seen.push(String::from_utf8_lossy(payload).into_owned());
                }
            })
            .unwrap();
        backend.flush().unwrap();
    }
    let expected: Vec<String> = (0..BURST).map(|i| format!("OPTIONS {i}")).collect();
    assert_eq!(seen, expected);
    assert!(
        backend.stats().rearmed_enobufs > 0,
        "the burst must have exhausted the ring at least once: {:?}",
        backend.stats()
    );
}
