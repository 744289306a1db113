//! HEP v3 (the Homer Encapsulation Protocol, also called EEP) encoding: a captured SIP datagram
//! with its addresses, time, capture agent id and correlation id, as Homer's heplify-server and
//! Kamailio's sipcapture receive it. Pure: bytes in, bytes out; the runtime sends them
//! (`runtime/hep.rs`).
//!
//! The format (sipcapture/HEP, "HEP3 Network Protocol Specification"): the four bytes `HEP3`,
//! the total length of the packet (u16, network order, the 6-byte header included), then chunks.
//! A chunk is a vendor id (u16, 0x0000 = generic), a type id (u16), a length (u16, the 6-byte
//! chunk header included) and the value. Every number is big-endian. The generic chunks used
//! here:
//!
//! | type | value |
//! | --- | --- |
//! | 0x0001 | IP protocol family, u8: 2 = IPv4, 10 = IPv6 |
//! | 0x0002 | IP protocol id, u8: 17 = UDP |
//! | 0x0003 / 0x0004 | IPv4 source / destination address (4 bytes) |
//! | 0x0005 / 0x0006 | IPv6 source / destination address (16 bytes) |
//! | 0x0007 / 0x0008 | source / destination port, u16 |
//! | 0x0009 / 0x000a | timestamp: Unix seconds, u32 / microseconds within the second, u32 |
//! | 0x000b | protocol type, u8: 1 = SIP |
//! | 0x000c | capture agent id, u32 |
//! | 0x0011 | correlation id (text): calls' messages carry the conversation id |
//! | 0x000f | the captured payload: the SIP message exactly |
//!
//! Written here rather than taken from a crate: the one HEP crate on crates.io (`hep`, 2021)
//! only decodes, and an encoder is a few dozen lines that append into a buffer the caller
//! reuses (no allocation per packet).

use std::net::{IpAddr, SocketAddr};

/// Generic chunk type ids (vendor 0x0000).
pub mod chunk {
    pub const IP_FAMILY: u16 = 0x0001;
    pub const IP_PROTOCOL: u16 = 0x0002;
    pub const IPV4_SRC: u16 = 0x0003;
    pub const IPV4_DST: u16 = 0x0004;
    pub const IPV6_SRC: u16 = 0x0005;
    pub const IPV6_DST: u16 = 0x0006;
    pub const SRC_PORT: u16 = 0x0007;
    pub const DST_PORT: u16 = 0x0008;
    pub const TIME_SEC: u16 = 0x0009;
    pub const TIME_USEC: u16 = 0x000a;
    pub const PROTOCOL_TYPE: u16 = 0x000b;
    pub const CAPTURE_ID: u16 = 0x000c;
    pub const PAYLOAD: u16 = 0x000f;
    pub const CORRELATION_ID: u16 = 0x0011;
}

/// `AF_INET` / `AF_INET6` as HEP writes them (chunk 0x0001).
pub const FAMILY_IPV4: u8 = 2;
pub const FAMILY_IPV6: u8 = 10;
/// UDP (chunk 0x0002).
pub const PROTOCOL_UDP: u8 = 17;
/// SIP (chunk 0x000b).
pub const PROTOCOL_TYPE_SIP: u8 = 1;

/// A HEP packet's length is a u16.
pub const MAX_PACKET: usize = u16::MAX as usize;

/// One captured SIP datagram.
#[derive(Clone, Copy, Debug)]
pub struct Capture<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// When, in microseconds since the Unix epoch.
    pub unix_us: u64,
    pub capture_id: u32,
    /// Chunk 0x0011, left out when `None`.
    pub correlation: Option<&'a str>,
    pub payload: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a HEP packet of {0} bytes exceeds the format's 65535")]
pub struct TooLarge(pub usize);

/// The two addresses in one family: both IPv4, or both IPv6 (an IPv4 one mapped, `::ffff:a.b.c.d`,
/// when the other is IPv6).
fn addresses(src: IpAddr, dst: IpAddr) -> Addresses {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Addresses::V4(s.octets(), d.octets()),
        (s, d) => Addresses::V6(v6(s), v6(d)),
    }
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

enum Addresses {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

/// The encoded length of `capture`.
pub fn encoded_len(capture: &Capture<'_>) -> usize {
    let address_chunks = match addresses(capture.src.ip(), capture.dst.ip()) {
        Addresses::V4(..) => 2 * (6 + 4),
        Addresses::V6(..) => 2 * (6 + 16),
    };
    6 // "HEP3" + length
        + 2 * (6 + 1) // family, protocol
        + address_chunks
        + 2 * (6 + 2) // ports
        + 2 * (6 + 4) // time
        + (6 + 1) // protocol type
        + (6 + 4) // capture id
        + capture.correlation.map_or(0, |c| 6 + c.len())
        + 6
        + capture.payload.len()
}

/// Appends `capture`, encoded, to `out` (which the caller reuses: nothing is allocated once it
/// has grown to its working size). On `TooLarge`, `out` is left as it was.
pub fn encode(capture: &Capture<'_>, out: &mut Vec<u8>) -> Result<(), TooLarge> {
    let len = encoded_len(capture);
    if len > MAX_PACKET {
        return Err(TooLarge(len));
    }
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(b"HEP3");
    out.extend_from_slice(&(len as u16).to_be_bytes());
    let addresses = addresses(capture.src.ip(), capture.dst.ip());
    let family = match addresses {
        Addresses::V4(..) => FAMILY_IPV4,
        Addresses::V6(..) => FAMILY_IPV6,
    };
    put(out, chunk::IP_FAMILY, &[family]);
    put(out, chunk::IP_PROTOCOL, &[PROTOCOL_UDP]);
    match &addresses {
        Addresses::V4(src, dst) => {
            put(out, chunk::IPV4_SRC, src);
            put(out, chunk::IPV4_DST, dst);
        }
        Addresses::V6(src, dst) => {
            put(out, chunk::IPV6_SRC, src);
            put(out, chunk::IPV6_DST, dst);
        }
    }
    put(out, chunk::SRC_PORT, &capture.src.port().to_be_bytes());
    put(out, chunk::DST_PORT, &capture.dst.port().to_be_bytes());
    let seconds = (capture.unix_us / 1_000_000) as u32;
    let micros = (capture.unix_us % 1_000_000) as u32;
    put(out, chunk::TIME_SEC, &seconds.to_be_bytes());
    put(out, chunk::TIME_USEC, &micros.to_be_bytes());
    put(out, chunk::PROTOCOL_TYPE, &[PROTOCOL_TYPE_SIP]);
    put(out, chunk::CAPTURE_ID, &capture.capture_id.to_be_bytes());
    if let Some(correlation) = capture.correlation {
        put(out, chunk::CORRELATION_ID, correlation.as_bytes());
    }
    put(out, chunk::PAYLOAD, capture.payload);
    debug_assert_eq!(out.len() - start, len);
    Ok(())
}

/// One generic chunk; `value` fits (the caller checked the whole packet's length).
fn put(out: &mut Vec<u8>, type_id: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&type_id.to_be_bytes());
    out.extend_from_slice(&((6 + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 capture, byte by byte as the specification lays it out.
    #[test]
    fn ipv4_capture_matches_the_specification_byte_for_byte() {
        let capture = Capture {
            src: "192.0.2.1:5060".parse().unwrap(),
            dst: "198.51.100.7:5070".parse().unwrap(),
            unix_us: 1_700_000_000_123_456,
            capture_id: 2001,
            correlation: Some("conv-1"),
            payload: b"OPTIONS",
        };
        let mut expected: Vec<u8> = Vec::new();
        expected.extend_from_slice(b"HEP3");
        // 6 + 7 + 7 + 10 + 10 + 8 + 8 + 10 + 10 + 7 + 10 + (6 + 6) + (6 + 7) = 118
        expected.extend_from_slice(&[0x00, 0x76]);
        let chunks: &[&[u8]] = &[
            &[0, 0, 0, 1, 0, 7, 2],
            &[0, 0, 0, 2, 0, 7, 17],
            &[0, 0, 0, 3, 0, 10, 192, 0, 2, 1],
            &[0, 0, 0, 4, 0, 10, 198, 51, 100, 7],
            &[0, 0, 0, 7, 0, 8, 0x13, 0xc4],
            &[0, 0, 0, 8, 0, 8, 0x13, 0xce],
            // 1_700_000_000 = 0x6553f100
            &[0, 0, 0, 9, 0, 10, 0x65, 0x53, 0xf1, 0x00],
            // 123_456 = 0x0001e240
            &[0, 0, 0, 0x0a, 0, 10, 0x00, 0x01, 0xe2, 0x40],
            &[0, 0, 0, 0x0b, 0, 7, 1],
            // 2001 = 0x07d1
            &[0, 0, 0, 0x0c, 0, 10, 0, 0, 0x07, 0xd1],
            &[0, 0, 0, 0x11, 0, 12, b'c', b'o', b'n', b'v', b'-', b'1'],
            &[
                0, 0, 0, 0x0f, 0, 13, b'O', b'P', b'T', b'I', b'O', b'N', b'S',
            ],
        ];
        for chunk in chunks {
            expected.extend_from_slice(chunk);
        }
        assert_eq!(expected.len(), 118);
        let mut out = vec![0xAA];
        encode(&capture, &mut out).unwrap();
        assert_eq!(out[0], 0xAA, "appends, keeps what was there");
        assert_eq!(&out[1..], &expected[..]);
        assert_eq!(encoded_len(&capture), 118);
    }

    #[test]
    fn ipv6_and_mixed_families_use_ipv6_chunks() {
        let capture = Capture {
            src: "[2001:db8::1]:5060".parse().unwrap(),
            dst: "192.0.2.9:5080".parse().unwrap(),
            unix_us: 0,
            capture_id: 7,
            correlation: None,
            payload: b"x",
        };
        let mut out = Vec::new();
        encode(&capture, &mut out).unwrap();
        assert_eq!(&out[..4], b"HEP3");
        assert_eq!(usize::from(u16::from_be_bytes([out[4], out[5]])), out.len());
        assert_eq!(&out[6..13], &[0, 0, 0, 1, 0, 7, 10]);
        // Source: 2001:db8::1.
        assert_eq!(&out[20..26], &[0, 0, 0, 5, 0, 22]);
        assert_eq!(&out[26..28], &[0x20, 0x01]);
        // Destination: ::ffff:192.0.2.9.
        assert_eq!(&out[42..48], &[0, 0, 0, 6, 0, 22]);
        assert_eq!(&out[48..64], &{
            let mut a = [0u8; 16];
            a[10] = 0xff;
            a[11] = 0xff;
            a[12..].copy_from_slice(&[192, 0, 2, 9]);
            a
        });
        // No correlation chunk: the payload follows the capture id.
        assert_eq!(&out[out.len() - 7..], &[0, 0, 0, 0x0f, 0, 7, b'x']);
    }

    #[test]
    fn a_packet_over_65535_bytes_is_refused_and_leaves_the_buffer_alone() {
        let payload = vec![b'a'; MAX_PACKET];
        let capture = Capture {
            src: "127.0.0.1:1".parse().unwrap(),
            dst: "127.0.0.1:2".parse().unwrap(),
            unix_us: 0,
            capture_id: 0,
            correlation: None,
            payload: &payload,
        };
        let mut out = vec![1, 2, 3];
        assert!(matches!(encode(&capture, &mut out), Err(TooLarge(_))));
        assert_eq!(out, vec![1, 2, 3]);
    }
}
