//! Media: pure building blocks for the relay (no sockets, no clocks).
//!
//! - [`pool`]: per-shard RTP/RTCP port allocation.
//! - [`relay`]: the per-packet forwarding decision (validation, symmetric latching, counters).
//! - [`g711`]: μ-law / A-law companding and transcoding tables.
//! - [`ringback`]: local ringback tones and RTP stream continuation for injecting them.
//! - [`tone`]: Goertzel tone and cadence detection, used to verify the audio.

pub mod g711;
pub mod pool;
pub mod relay;
pub mod ringback;
pub mod tone;

pub use g711::G711Law;
pub use pool::{PortPool, PortPoolError};
pub use relay::{CallSlots, DropReason, RelayDecision, RelayError, RelayTable, SlotId, Transcode};
pub use ringback::{RingbackGenerator, RtpStreamContinuation};
