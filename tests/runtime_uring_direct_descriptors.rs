//! io_uring media sockets are direct descriptors: opening many of them leaves the process's fd
//! table (what RLIMIT_NOFILE counts) untouched, while the same sockets on epoll each take an fd.

#[path = "runtime_support/netns.rs"]
mod netns;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use handoff::runtime::backend::{Backend, ShardWaker};
use handoff::runtime::epoll::EpollBackend;
use handoff::runtime::uring::UringBackend;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PAIRS: u16 = 50;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn uring_media_sockets_take_no_process_fds_but_epoll_ones_do() {
    netns::enter();
    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut uring = UringBackend::new(sip, ShardWaker::new().unwrap(), 2 * PAIRS as usize).unwrap();
    let before = open_fds();
    let pairs: Vec<_> = (0..PAIRS)
        .map(|i| uring.open_media_pair(LOOPBACK, 9500 + i * 2).unwrap())
        .collect();
    assert_eq!(
        open_fds(),
        before,
        "direct descriptors are not in the fd table"
    );
    // They are real bound sockets all the same: the ports are taken.
    assert!(UdpSocket::bind((LOOPBACK, 9500)).is_err());
    for p in pairs {
        uring.close_media_pair(p);
    }
    uring.flush().unwrap();
    drop(uring);

    let sip = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut epoll = EpollBackend::new(sip, ShardWaker::new().unwrap(), 2 * PAIRS as usize).unwrap();
    let before = open_fds();
    let pairs: Vec<_> = (0..PAIRS)
        .map(|i| epoll.open_media_pair(LOOPBACK, 9400 + i * 2).unwrap())
        .collect();
    assert_eq!(open_fds(), before + 2 * PAIRS as usize);
    for p in pairs {
        epoll.close_media_pair(p);
    }
    assert_eq!(open_fds(), before);
}
