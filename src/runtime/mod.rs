//! The runtime: one thread per shard, each driving its sans-IO [`crate::core::ShardCore`] and
//! its media relay over an I/O backend (io_uring, or the epoll fallback).
//!
//! - [`backend::Backend`]: what a shard loop needs from I/O (SIP datagrams, media socket pairs,
//!   batched receive/send through an [`Outbox`], wait with a timeout, wake a peer shard).
//!   Implemented by [`uring::UringBackend`] and [`epoll::EpollBackend`].
//! - [`shard::run_shard`]: the loop (the core's deadlines, SPSC mesh, core outputs, media commands,
//!   audit); [`crate::server::Server`] starts one per shard and turns signals into messages.
//! - [`relay::MediaRelay`]: the socket side of the relay (commands -> sockets + `RelayTable`,
//!   per-packet fast path); [`bare::BareForwarder`]: the same plumbing without SBC logic, the
//!   perf baseline.
//! - [`pool_open::PoolOpener`]: a shard's media pool, opened from its loop in chunks once it
//!   serves.
//! - [`queues::ShardMesh`]: shard-to-shard queues.
//! - [`steering`]: which shard's SIP socket reads a datagram (`sbc.sip_steering`: the receiving
//!   CPU's shard through a reuseport BPF program, or the kernel's 4-tuple hash).
//! - [`hep::HepSender`]: the HEP capture of a shard (`sbc.hep`): encoded during the turn, sent
//!   in `sendmmsg` batches after the backend's flush, never waiting.
//!
//! Unsafe boundary: `uring.rs` (the io_uring backend) and `uring_sys.rs` (what no kept crate
//! offers: raw sockaddr reads and writes for io_uring, the `Send` of nix's preallocated
//! recvmmsg/sendmmsg headers, the eventfd write to a peer's raw descriptor) are the only files
//! with `unsafe` in the crate (`deny(unsafe_code)` in lib.rs). epoll, eventfd, signalfd, rlimits
//! and socket options go through nix and socket2.

pub mod backend;
pub mod bare;
pub mod epoll;
pub mod hep;
pub mod hook;
pub mod host;
pub mod pool_open;
pub mod queues;
pub mod relay;
pub mod shard;
pub mod steering;
#[allow(unsafe_code)]
pub mod uring;
#[allow(unsafe_code)]
pub mod uring_sys;

pub use backend::{Backend, BackendError, Incoming, MediaPair, MediaSocket, Outbox};
