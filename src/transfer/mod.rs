//! Call transfer building blocks, all sans-IO (no clock reads, no sockets).
//!
//! - [`refer_to`]: turns the platform's Refer-To into the carrier's (`<sip:+E164@refer_domain>`),
//!   keeping a translated `?Replaces=` header.
//! - [`dialog_ids`]: Replaces / Target-Dialog values, their %-escaped URI-header form, and the
//!   translation of dialog identifiers from one side of the B2BUA to the other.
//! - [`attempt`]: the [`TransferAttempt`] state machine for one transfer, from the platform's REFER
//!   to its audit [`TransferRecord`].
//!
//! The call layer owns the SIP dialogs and transactions; it feeds these pieces with what it
//! parsed and turns their outputs into messages.

pub mod attempt;
pub mod dialog_ids;
pub mod escape;
pub mod record;
pub mod refer_to;

pub use attempt::{TransferAction, TransferAttempt, TransferRequest, TransferSettings};
pub use dialog_ids::{DialogId, Replaces, TargetDialog};
pub use record::{TransferKind, TransferOutcome, TransferRecord, WallClock};
pub use refer_to::{CarrierReferTo, PlatformReferTo, ReferToError};
