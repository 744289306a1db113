//! The shared vocabulary: small value types every layer names (time, shards, calls, leg sides,
//! trunk roles, a leg's media endpoint) and the shard-ownership rules of identifiers.
//!
//! This module is a leaf: it imports nothing from handoff, so `core`, `transfer`, `media`,
//! `config`, `audit` and the runtime can all use it without importing upward from `core`.

use std::net::SocketAddr;

pub mod ownership;

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
}

/// Index of a shard: 0..shard_count.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

/// Identifies one call inside its owning shard (unique for the shard's lifetime).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRef {
    pub shard: ShardId,
    pub seq: u64,
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

/// One leg's media as the relay sees it. The RTCP socket is `local_port + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaLeg {
    /// Even port from the shard's slice of the media range.
    pub local_port: u16,
    /// Where the SDP of this leg's peer says to send RTP; `None` until known.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; `None` = derived (rtp port + 1), or muxed.
    pub remote_rtcp: Option<SocketAddr>,
    /// Both sides negotiated a=rtcp-mux.
    pub rtcp_mux: bool,
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
}
