//! The HEP capture of one shard (`sbc.hep`): every SIP datagram the shard receives or sends is
//! encoded (`crate::hep`) into one buffer during the loop turn, and the turn's packets leave
//! together after the backend's own flush, in `sendmmsg` batches from a non-blocking UDP socket
//! of the shard's own. Nothing here waits: a packet the kernel will not take now (the socket
//! would block, the collector is unreachable) is dropped and counted, as is one that finds the
//! turn's queue full. The buffer and the batch scratch are reused, so a captured datagram costs
//! a copy and no allocation once they have grown to their working size.
//!
//! Both backends use this the same way: it is driven by `run_shard`, not by a backend.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use super::uring_sys::{self, SendItem, SendScratch};
use crate::core::Time;
use crate::hep::{self, Capture};

/// Packets queued in one loop turn, at most; more are dropped (counted).
pub const MAX_PACKETS_PER_TURN: usize = 4096;
/// Bytes queued in one loop turn, at most.
pub const MAX_BYTES_PER_TURN: usize = 8 * 1024 * 1024;
/// Packets per `sendmmsg` call.
const BATCH: usize = 64;

/// Where the capture of one shard goes, and what it has done so far.
pub struct HepSender {
    socket: UdpSocket,
    collector: SocketAddr,
    capture_id: u32,
    /// The address handoff's SIP socket is seen at: the source of what it sends, the
    /// destination of what it receives.
    local: SocketAddr,
    /// Ties `Time` to Unix time: `Time` `at` was `unix_us`.
    at: Time,
    unix_us: u64,
    /// The timestamp of the last capture: the next is at least one microsecond later.
    last_us: u64,
    buf: Vec<u8>,
    /// (start, len) of each queued packet in `buf`.
    packets: Vec<(usize, usize)>,
    scratch: SendScratch,
    sent: u64,
    dropped: u64,
}

impl HepSender {
    /// A sender to `collector` naming itself `capture_id`, whose SIP socket is `local` (with a
    /// wildcard IP, `advertise` is written instead). `now` and `unix_us` are the same moment.
    pub fn new(
        collector: SocketAddr,
        capture_id: u32,
        local: SocketAddr,
        advertise: IpAddr,
        now: Time,
        unix_us: u64,
    ) -> io::Result<HepSender> {
        let bind: SocketAddr = match collector {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        // Room for bursts between turns; the kernel may grant less, which only means drops
        // come sooner.
        let _ = socket2::SockRef::from(&socket).set_send_buffer_size(4 * 1024 * 1024);
        let local = if local.ip().is_unspecified() {
            SocketAddr::new(advertise, local.port())
        } else {
            local
        };
        Ok(HepSender {
            socket,
            collector,
            capture_id,
            local,
            at: now,
            unix_us,
            last_us: 0,
            buf: Vec::with_capacity(64 * 1024),
            packets: Vec::with_capacity(BATCH),
            scratch: SendScratch::new(BATCH),
            sent: 0,
            dropped: 0,
        })
    }

    /// A datagram the shard received from `from`.
    pub fn received(
        &mut self,
        now: Time,
        from: SocketAddr,
        correlation: Option<&str>,
        payload: &[u8],
    ) {
        self.capture(now, from, self.local, correlation, payload);
    }

    /// A datagram the shard sends to `to`.
    pub fn sent(&mut self, now: Time, to: SocketAddr, correlation: Option<&str>, payload: &[u8]) {
        self.capture(now, self.local, to, correlation, payload);
    }

    fn capture(
        &mut self,
        now: Time,
        src: SocketAddr,
        dst: SocketAddr,
        correlation: Option<&str>,
        payload: &[u8],
    ) {
        // The loop reads its clock once per turn, so a turn's captures share a time; a collector
        // orders by time, so each gets its own microsecond, in the order captured (a datagram
        // received before what the shard sent in answer).
        let unix_us =
            (self.unix_us + now.0.saturating_sub(self.at.0) / 1_000).max(self.last_us + 1);
        self.last_us = unix_us;
        let capture = Capture {
            src,
            dst,
            unix_us,
            capture_id: self.capture_id,
            correlation,
            payload,
        };
        let len = hep::encoded_len(&capture);
        if self.packets.len() >= MAX_PACKETS_PER_TURN || self.buf.len() + len > MAX_BYTES_PER_TURN {
            self.dropped += 1;
            return;
        }
        let start = self.buf.len();
        match hep::encode(&capture, &mut self.buf) {
            Ok(()) => self.packets.push((start, self.buf.len() - start)),
            Err(_) => self.dropped += 1,
        }
    }

    /// Sends what this turn queued, `BATCH` packets per `sendmmsg`, without waiting; what the
    /// kernel refuses is dropped and counted, and once the socket would block the rest of the
    /// turn is dropped (counted) without another system call.
    pub fn flush(&mut self) {
        let fd = self.socket.as_raw_fd();
        let mut blocked = false;
        for batch in self.packets.chunks(BATCH) {
            if blocked {
                // The send buffer is full: what is left of the turn is dropped untried.
                self.dropped += batch.len() as u64;
                continue;
            }
            let mut items: [SendItem<'_>; BATCH] = std::array::from_fn(|_| SendItem {
                to: self.collector,
                payload: &[],
            });
            for (item, &(start, len)) in items.iter_mut().zip(batch) {
                item.payload = &self.buf[start..start + len];
            }
            let mut refused = 0u64;
            let sent = uring_sys::sendmmsg_until_blocked(
                fd,
                &items[..batch.len()],
                &mut self.scratch,
                &mut refused,
            );
            blocked = sent as u64 + refused < batch.len() as u64;
            self.sent += sent as u64;
            self.dropped += batch.len() as u64 - sent as u64;
        }
        self.packets.clear();
        self.buf.clear();
    }

    /// Packets sent so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    /// Packets dropped so far.
    pub fn packets_dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_leaves_in_one_flush_and_overflow_is_counted() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut sender = HepSender::new(
            collector.local_addr().unwrap(),
            9,
            "0.0.0.0:5060".parse().unwrap(),
            "192.0.2.10".parse().unwrap(),
            Time::ZERO,
            1_000_000,
        )
        .unwrap();
        let peer: SocketAddr = "198.51.100.1:5070".parse().unwrap();
        sender.received(Time::from_millis(1), peer, Some("conv-1"), b"INVITE");
        sender.sent(Time::from_millis(2), peer, None, b"SIP/2.0 100 Trying");
        let mut buf = [0u8; 2048];
        sender.flush();
        assert_eq!((sender.packets_sent(), sender.packets_dropped()), (2, 0));
        let mut expected = Vec::new();
        hep::encode(
            &Capture {
                src: peer,
                dst: "192.0.2.10:5060".parse().unwrap(),
                unix_us: 1_001_000,
                capture_id: 9,
                correlation: Some("conv-1"),
                payload: b"INVITE",
            },
            &mut expected,
        )
        .unwrap();
        let n = collector.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &expected[..],
            "the wildcard listen IP is written as advertise"
        );
        let n = collector.recv(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"SIP/2.0 100 Trying"));

        // Captures of one turn (one `now`) get increasing microseconds, in capture order.
        sender.received(Time::from_millis(5), peer, None, b"a");
        sender.sent(Time::from_millis(5), peer, None, b"b");
        sender.flush();
        let mut stamps = Vec::new();
        for _ in 0..2 {
            let n = collector.recv(&mut buf).unwrap();
            let packet = &buf[..n];
            let at = packet
                .windows(6)
                .position(|w| w == [0, 0, 0, 0x0a, 0, 10])
                .unwrap();
            let micros = u32::from_be_bytes(packet[at + 6..at + 10].try_into().unwrap());
            stamps.push((packet[n - 1], micros));
        }
        assert_eq!(stamps, vec![(b'a', 5_000), (b'b', 5_001)]);

        for _ in 0..MAX_PACKETS_PER_TURN + 3 {
            sender.sent(Time::from_millis(3), peer, None, b"x");
        }
        assert_eq!(
            sender.packets_dropped(),
            3,
            "over a turn's queue: dropped, counted"
        );
        sender.flush();
        assert_eq!(
            sender.packets_sent() + sender.packets_dropped(),
            4 + MAX_PACKETS_PER_TURN as u64 + 3
        );
    }
}
