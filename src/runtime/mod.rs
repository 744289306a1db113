//! The runtime: one thread per shard, each driving its sans-IO [`crate::core::ShardCore`] and
//! its media relay over an I/O backend (io_uring, or the epoll fallback).
//!
//! Unsafe boundary: `uring.rs` (the io_uring backend) and `uring_sys.rs` (the raw syscalls the
//! epoll backend and the signal handling need) are the only files with `unsafe` in the crate.

pub mod backend;
pub mod bare;
pub mod epoll;
pub mod queues;
pub mod relay;
pub mod shard;
pub mod uring;
pub mod uring_sys;
pub mod wheel;

pub use backend::{Backend, BackendError, Incoming, MediaPair, MediaSocket, Outbox};
