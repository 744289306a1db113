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
//!
//! # Wiring (for the call layer)
//!
//! On a REFER in dialog B of a call whose carrier leg A goes to trunk X:
//! 1. `PlatformReferTo::parse(refer_to_header_value)`; on error answer 400.
//! 2. Attended (`replaces_escaped()` is `Some`): translate it with
//!    `dialog_ids::translate(DialogIdForm::ReplacesInUri, raw, lookup)` where `lookup` maps a leg
//!    of this shard to the leg bridged to it. If the named dialog lives on another shard
//!    (`named_dialog(..).owning_shard(n)`), ask that shard by message, then `rewrite_for(..)`.
//!    Same for a `Target-Dialog` header (`DialogIdForm::TargetDialogHeader`) and for `Replaces`
//!    on an INVITE (`DialogIdForm::ReplacesHeader`).
//! 3. `TransferAttempt::start(now, TransferRequest { .. }, TransferSettings::for_call(x, &sbc))`
//!    (`refer_timeout_ms`, `transfer_timeout_s` and T1 come from the call's `[sbc]`) and keep the
//!    attempt in the call. Drain `poll_action()` after every input.
//! 4. Feed: REFER responses (`on_refer_response`), NOTIFY sipfrag codes (`on_notify_sipfrag`, after
//!    answering the NOTIFY 200 yourself), fallback leg responses (`on_fallback_response`), BYE on
//!    A (`on_bye_from_carrier`) or B (`on_transferor_bye`), timers (`on_timer`).
//! 5. `TransferAction::Finished(record)`: write `record.to_json()` to the audit log and call
//!    `ShardMetrics::record_transfer(&record)`.
//!
//! NOTIFYs toward the platform use [`notify::sipfrag_body`] and [`notify::subscription_state`].

pub mod attempt;
pub mod diagnostics;
pub mod dialog_ids;
pub mod escape;
pub mod notify;
pub mod record;
pub mod refer_to;

pub use attempt::{
    ExtensionRoute, TransferAction, TransferAttempt, TransferRequest, TransferSettings,
};
pub use diagnostics::{Direction, Ladder, LadderEntry};
pub use dialog_ids::{DialogId, Replaces, TargetDialog};
pub use record::{
    HookRecord, LegEnder, TransferKind, TransferOutcome, TransferReason, TransferRecord,
    TransferRequestKind, WallClock,
};
pub use refer_to::{CarrierReferTo, PlatformReferTo, ReferToError};
