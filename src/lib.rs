//! handoff: a session border controller for SIP trunks, built to make call transfers across
//! carrier boundaries work. See ARCHITECTURE.md for the layers, the data flow and the invariants.

// `unsafe` lives only in the io_uring module tree (src/runtime/uring.rs and uring_sys.rs, where it
// is allowed again); everything else reaches the kernel through std, socket2, nix and io-uring.
#![deny(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod border_log;
pub mod config;
pub mod core;
pub mod demo;
pub mod hep;
pub mod media;
pub mod metrics;
pub mod numbering;
pub mod preflight;
pub mod probe;
pub mod runtime;
pub mod sdp;
pub mod server;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod sip;
pub mod sources;
pub mod transfer;
pub mod vocab;

pub use server::run;

/// The git commit this binary was built from ("unknown" outside a checkout); see build.rs.
pub const BUILD_COMMIT: &str = env!("HANDOFF_COMMIT");
