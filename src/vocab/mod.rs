//! The shared vocabulary: small value types every layer names (time, shards, calls, leg sides,
//! trunk roles, a leg's media endpoint, SIP response statuses) and the shard-ownership rules of identifiers.
//!
//! This module is a leaf: it imports nothing from handoff, so `core`, `transfer`, `media`,
//! `config`, `audit` and the runtime can all use it without importing upward from `core`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub mod hash;
pub mod ownership;
mod status;

pub use status::{InvalidStatusCode, StatusClass, StatusCode};

/// Monotonic time in nanoseconds since an origin chosen by the driver.
///
/// The runtime reads its clock once per loop turn; the simulation advances a virtual clock.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }

    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    pub const fn plus_millis(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms * 1_000_000))
    }

    pub const fn millis_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0) / 1_000_000
    }

    pub const fn micros_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0) / 1_000
    }
}

/// Index of a shard: 0..shard_count.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies one call inside its owning shard (unique for the shard's lifetime).
///
/// Shown in logs as `shard.seq` (e.g. `1.7`), in Debug output too, so a log line holding a
/// structure with a call in it stays readable.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRef {
    pub shard: ShardId,
    pub seq: u64,
}

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.shard.0, self.seq)
    }
}

impl std::fmt::Debug for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call {self}")
    }
}

/// Which side of the border a trunk is. Transfers are asked for by platform legs and carried out
/// on carrier legs, whichever side placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrunkRole {
    Carrier,
    Platform,
}

impl TrunkRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkRole::Carrier => "carrier",
            TrunkRole::Platform => "platform",
        }
    }
}

/// A position of a call's bridge: which of the two joined legs. At setup A faces the trunk the
/// initial INVITE came from and B the trunk routing picked; a transfer or a Replaces may put
/// another leg at a position. Rules about who may do what ask a leg's role, not its position.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// 0 for A, 1 for B (index into a pair).
    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// A leg of a call, by its place in the call's list of legs (never reused while the call lives).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u16);

/// An IP network (`network/prefix`), as a trunk's `media_networks` lists them. IPv4-mapped IPv6
/// addresses compare as their IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    network: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `network/prefix`; the host bits are cleared, a prefix beyond the address is clamped.
    pub fn new(network: IpAddr, prefix: u8) -> IpNetwork {
        let network = canonical_ip(network);
        let prefix = prefix.min(ip_bits(network));
        IpNetwork {
            network: from_masked(network, masked_ip(network, prefix)),
            prefix,
        }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside the network (no allocation, a mask and a compare).
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.network.is_ipv4()
            && masked_ip(ip, self.prefix) == masked_ip(self.network, self.prefix)
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as their IPv4 address.
#[inline]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn ip_bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn masked_ip(ip: IpAddr, prefix: u8) -> u128 {
    let (value, width) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 128u32),
    };
    let keep = u32::from(prefix).min(width);
    if keep == 0 {
        return 0;
    }
    let shift = width - keep;
    (value >> shift) << shift
}

fn from_masked(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(value as u32)),
        IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(value)),
    }
}

/// Where a leg's media may come from besides the address its SDP `c=` names (issue 9, strict
/// media sources): its trunk's peer IP, and any address inside the trunk's `media_networks`.
/// Copied from the call's own config snapshot when the relay is programmed, so a reload never
/// changes an established call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaSources {
    /// The leg's trunk peer IP (canonical).
    pub peer: Option<IpAddr>,
    /// The trunk's `media_networks` (empty: none).
    pub networks: Arc<[IpNetwork]>,
}

impl MediaSources {
    /// Whether `ip` is the peer's or inside one of the networks.
    #[inline]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.peer == Some(ip) || self.networks.iter().any(|n| n.contains(ip))
    }

    /// Whether an SDP `c=` (or `a=rtcp`) address may name this leg's media: any ordinary
    /// unicast address, and loopback, multicast, unspecified, broadcast or link-local addresses
    /// only when they are the trunk's peer IP or inside its `media_networks` (otherwise a peer
    /// could point handoff's relay at handoff's own host, or at a multicast group).
    pub fn accepts_connection(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        if self.trusts(ip) {
            return true;
        }
        let special = match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback()
                    || v4.is_multicast()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.is_link_local()
            }
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_multicast()
                    || v6.is_unspecified()
                    || v6.is_unicast_link_local()
            }
        };
        !special
    }
}

/// One leg's media as the relay sees it. The RTCP socket is `local_port + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaLeg {
    /// Even port from the shard's slice of the media range.
    pub local_port: u16,
    /// Where the SDP of this leg's peer says to send RTP; `None` until known.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; `None` = derived (rtp port + 1), or muxed.
    pub remote_rtcp: Option<SocketAddr>,
    /// Both sides negotiated a=rtcp-mux.
    pub rtcp_mux: bool,
    /// Who besides the SDP address may send this leg's media (strict media sources).
    pub sources: MediaSources,
}

/// Which leg of a call's media pair a command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaSide {
    A,
    B,
}

/// Per-direction media counters, filled by the runtime's relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub a_to_b_packets: u64,
    pub a_to_b_bytes: u64,
    pub b_to_a_packets: u64,
    pub b_to_a_bytes: u64,
    pub dropped: u64,
    /// Of `dropped`: packets from a source outside the leg's allowed set (strict media sources).
    pub dropped_foreign_source: u64,
}
