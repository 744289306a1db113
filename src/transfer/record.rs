//! The audit record of one transfer attempt (issue 5, "Transfer record fields"), and the
//! wall-clock arithmetic for its `ts` without reading a clock.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use crate::config::TransferMethod;
use crate::vocab::StatusCode;
use crate::vocab::Time;

/// Blind (unattended) or attended (consultative, with Replaces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    Blind,
    Attended,
    /// A REFER sent by a carrier leg (take-back by the network), refused or relayed by policy.
    CarrierInitiated,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Blind => "blind",
            TransferKind::Attended => "attended",
            TransferKind::CarrierInitiated => "carrier_initiated",
        }
    }
}

/// How a transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferOutcome {
    /// The carrier took the call over (REFER accepted, carrier BYE): no trunk session left.
    HandedOff,
    /// handoff connected the caller to the target itself.
    FallbackLocal,
    /// The transfer did not happen; the caller stays with the agent (or the REFER was refused).
    Failed,
    /// The caller hung up while the transfer was under way.
    Cancelled,
    /// The caller hung up while the carrier was working on the transfer (it had accepted the
    /// REFER and not yet reported success): not a handoff.
    Abandoned,
    /// A carrier's REFER passed on to the platform, which owns its outcome.
    Relayed,
    /// The target is outside the trunk's `transfer_allow`/`transfer_deny`, or the platform
    /// trunk's `refer_hook` said reject: nothing was sent, the platform got 403 and the call
    /// stayed as it was.
    Denied,
    /// handoff answered the request itself with a failure before any transfer began (a REFER
    /// without or with a bad Refer-To, out of order, while another transfer or re-INVITE runs,
    /// naming no dialog; an INVITE whose Replaces names no dialog of ours): nothing was sent
    /// on, the call (if any) stayed as it was. `answer_status` says what handoff answered.
    Refused,
    /// An INVITE with Replaces (RFC 3891) took the named leg's place: handoff is the UAS of
    /// the dialog it names and bridged the new dialog instead of the old one.
    Replaced,
}

impl TransferOutcome {
    pub const ALL: [TransferOutcome; 9] = [
        TransferOutcome::HandedOff,
        TransferOutcome::FallbackLocal,
        TransferOutcome::Failed,
        TransferOutcome::Cancelled,
        TransferOutcome::Abandoned,
        TransferOutcome::Relayed,
        TransferOutcome::Denied,
        TransferOutcome::Refused,
        TransferOutcome::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferOutcome::HandedOff => "handed_off",
            TransferOutcome::FallbackLocal => "fallback_local",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Cancelled => "cancelled",
            TransferOutcome::Abandoned => "abandoned",
            TransferOutcome::Relayed => "relayed",
            TransferOutcome::Denied => "denied",
            TransferOutcome::Refused => "refused",
            TransferOutcome::Replaced => "replaced",
        }
    }
}

/// `"refer"` or `"local"`.
pub fn method_str(method: TransferMethod) -> &'static str {
    match method {
        TransferMethod::Refer => "refer",
        TransferMethod::Local => "local",
    }
}

fn serialize_method<S: Serializer>(method: &TransferMethod, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method_str(*method))
}

/// Why a transfer attempt ended as it did: typed in the core, text only in the audit and logs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferReason {
    /// The carrier released the customer's leg after its success NOTIFY (handed off).
    CarrierBye,
    /// Success was reported and the carrier did not BYE within `handoff_bye_after_ms`: handoff
    /// ended the carrier leg itself (RFC 5589: the transferor's BYE). Still handed off.
    HandoffBye,
    /// The carrier refused the REFER (final non-2xx).
    ReferRejected,
    /// The carrier accepted, then NOTIFYed a failure (sipfrag >= 300).
    SipfragFailure,
    /// No final response to the REFER within `refer_timeout_ms`.
    Timeout,
    /// The carrier gave no final result within `transfer_timeout_s` of its 2xx (or a local
    /// fallback rang that long).
    TransferTimeout,
    /// The trunk transfers locally by configuration (`transfer = "local"`).
    LocalMethod,
    /// The target is not a telephone number (an extension, a SIP URI) that a route takes:
    /// transferred locally, whatever the trunk's method.
    LocalTarget,
    /// The local transfer's target did not answer (busy, declined, no answer).
    FallbackFailed,
    /// The local attended join failed (the replaced leg could not be moved).
    LocalJoinFailed,
    /// The customer hung up before the transfer completed.
    CustomerHungUp,
    /// The Refer-To names no telephone number, and no route takes it as an extension or SIP
    /// URI (404 to the platform).
    TargetNotANumber,
    /// A carrier's REFER passed on to the platform (`carrier_refer = "relay"`).
    RelayedToPlatform,
    /// A carrier's REFER refused (`carrier_refer = "reject"`).
    CarrierReferRejected,
    /// A REFER between two legs of the same role (no transfer across the border).
    ReferBetweenSameRoleTrunks,
    /// The target is outside the trunk's destination policy (`transfer_allow`/`transfer_deny`).
    TargetNotAllowed,
    /// The platform trunk's `refer_hook` said reject (or failed with `on_error = "reject"`).
    HookRejected,
    /// handoff refused the request itself (outcome `refused`; `answer_status` has the code).
    RequestRefused,
    /// An INVITE with Replaces took the named leg's place (outcome `replaced`).
    LegReplaced,
}

impl TransferReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferReason::CarrierBye => "carrier_bye",
            TransferReason::HandoffBye => "handoff_bye",
            TransferReason::ReferRejected => "refer_rejected",
            TransferReason::SipfragFailure => "sipfrag_failure",
            TransferReason::Timeout => "timeout",
            TransferReason::TransferTimeout => "transfer_timeout",
            TransferReason::LocalMethod => "local_method",
            TransferReason::LocalTarget => "local_target",
            TransferReason::FallbackFailed => "fallback_failed",
            TransferReason::LocalJoinFailed => "local_join_failed",
            TransferReason::CustomerHungUp => "customer_hung_up",
            TransferReason::TargetNotANumber => "target_not_a_number",
            TransferReason::RelayedToPlatform => "relayed_to_platform",
            TransferReason::CarrierReferRejected => "carrier_refer_rejected",
            TransferReason::ReferBetweenSameRoleTrunks => "refer_between_same_role_trunks",
            TransferReason::TargetNotAllowed => "target_not_allowed",
            TransferReason::HookRejected => "hook_rejected",
            TransferReason::RequestRefused => "request_refused",
            TransferReason::LegReplaced => "leg_replaced",
        }
    }
}

impl std::fmt::Display for TransferReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for TransferReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for TransferReason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// One JSON line per transfer attempt, written when its outcome is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransferRecord {
    /// Always `"transfer"`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// RFC 3339 UTC with milliseconds, when the outcome became known.
    pub ts: String,
    pub conversation: String,
    pub trunk: String,
    /// Where the REFER came from: the requester's source address (`"ip:port"`).
    pub source: Option<SocketAddr>,
    pub kind: TransferKind,
    #[serde(serialize_with = "serialize_method")]
    pub method: TransferMethod,
    /// The target as the platform sent it.
    pub target: String,
    pub target_e164: Option<String>,
    pub outcome: TransferOutcome,
    /// The carrier's final response to the REFER; null when none came or none was sent.
    pub refer_status: Option<StatusCode>,
    /// The last sipfrag status the carrier NOTIFYed.
    pub notify_status: Option<StatusCode>,
    /// The final status of the local fallback leg.
    pub fallback_status: Option<StatusCode>,
    /// Why the attempt ended the way it did (written as snake_case text, e.g. `"timeout"`).
    pub reason: TransferReason,
    pub duration_ms: u64,
    /// The SIP ladder of the attempt, every message on every leg (see `diagnostics.rs`): only
    /// on a record whose outcome is not `handed_off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<super::diagnostics::LadderEntry>>,
    /// The attempt had more messages than the ladder keeps.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub diagnostics_truncated: bool,
    /// The platform trunk's `refer_hook` call that decided this REFER; absent without a hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<Box<HookRecord>>,
    /// The customer's leg's and the new leg's recording jurisdictions (trunk `jurisdiction`),
    /// when the transfer moved the call from one to the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction_to: Option<String>,
    /// Of a handed-off transfer: who ended the carrier leg (`"carrier"`: its BYE; `"handoff"`:
    /// handoff's BYE after the final NOTIFY 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<LegEnder>,
    /// The carrier ended its refer subscription before its final result (Subscription-State
    /// terminated on a 1xx NOTIFY): from then on only its BYE or `transfer_timeout_s` decided.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub carrier_subscription_ended: bool,
    /// The conversation the transferred call continues (its INVITE's `X-Conversation-ID`
    /// from a trunk), so a chain of transfers across the network reads as one conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_conversation: Option<String>,
    /// The trunk of the leg (or, outside any dialog, of the source) that sent the request
    /// (`trunk` is the carrier trunk the transfer is about). Absent on records written before
    /// it was known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_trunk: Option<String>,
    /// What started the record when it is not an in-dialog REFER: `out_of_dialog_refer` or
    /// `invite_replaces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<TransferRequestKind>,
    /// The failure status handoff answered the request with itself (outcome `refused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_status: Option<StatusCode>,
    /// Local ringback was due but not sent: the customer's leg negotiated no G.711 codec
    /// (RFC 3264 allows media only in a negotiated format).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ringback_skipped: bool,
}

/// The kind of request a transfer record is about, when not an in-dialog REFER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferRequestKind {
    /// A REFER outside any dialog (RFC 5589 section 6.1 names its dialog with Target-Dialog).
    OutOfDialogRefer,
    /// An INVITE with a Replaces header (RFC 3891 section 3).
    InviteReplaces,
}

/// Who ended the carrier leg of a handed-off transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegEnder {
    /// The carrier's BYE.
    Carrier,
    /// handoff's BYE, `handoff_bye_after_ms` after the carrier's final NOTIFY 200.
    Handoff,
}

/// One REFER hook call, as the transfer record keeps it:
/// `{"url": .., "status": 200, "action": "refer", "error": null, "duration_ms": N}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HookRecord {
    pub url: String,
    /// The HTTP status of the answer; null when none came (timeout, connection error).
    pub status: Option<u16>,
    /// What handoff did: the answer's action, or `on_error`'s when the call failed.
    pub action: &'static str,
    /// Why the call failed (`timeout`, `connection: ..`, `status 500`, `bad answer: ..`); null
    /// when the answer decided.
    pub error: Option<String>,
    /// From the REFER to the answer (or to the time-out).
    pub duration_ms: u64,
}

impl TransferRecord {
    /// A record of a request that ended at once (refused, relayed, replaced): no carrier
    /// codes, no duration; the optional fields empty.
    #[allow(clippy::too_many_arguments)]
    pub fn immediate(
        ts: String,
        conversation: String,
        trunk: String,
        source: Option<SocketAddr>,
        kind: TransferKind,
        method: TransferMethod,
        target: String,
        outcome: TransferOutcome,
        reason: TransferReason,
    ) -> TransferRecord {
        TransferRecord {
            record_type: "transfer",
            ts,
            conversation,
            trunk,
            source,
            kind,
            method,
            target,
            target_e164: None,
            outcome,
            refer_status: None,
            notify_status: None,
            fallback_status: None,
            reason,
            duration_ms: 0,
            diagnostics: None,
            diagnostics_truncated: false,
            hook: None,
            jurisdiction_from: None,
            jurisdiction_to: None,
            ended_by: None,
            carrier_subscription_ended: false,
            linked_conversation: None,
            requester_trunk: None,
            request: None,
            answer_status: None,
            ringback_skipped: false,
        }
    }

    /// The record as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising plain strings, integers and options cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Ties the driver's monotonic [`Time`] to wall-clock time, so the core can stamp records
/// without reading a clock: the driver reads both clocks once and passes this in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// A monotonic instant...
    pub at: Time,
    /// ...and the Unix time in milliseconds at that instant.
    pub unix_ms: u64,
}

impl WallClock {
    /// Unix milliseconds at `now` (instants before `at` clamp to it).
    pub fn unix_ms_at(&self, now: Time) -> u64 {
        self.unix_ms.saturating_add(now.millis_since(self.at))
    }

    /// RFC 3339 UTC timestamp at `now`, e.g. `2026-11-21T11:50:06.123Z`.
    pub fn rfc3339_at(&self, now: Time) -> String {
        rfc3339_from_unix_ms(self.unix_ms_at(now))
    }
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision
/// (`humantime`, a small maintained crate, instead of hand-written calendar arithmetic).
pub fn rfc3339_from_unix_ms(unix_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Parses an RFC 3339 timestamp into Unix milliseconds: `2026-12-05T04:00:00Z`, with optional
/// fractional seconds (kept to the millisecond) and a `Z` or `+hh:mm`/`-hh:mm` offset, as
/// [`rfc3339_from_unix_ms`] writes it and as a client may send it. `None` for anything else, or
/// an instant before 1970. The date and time are humantime's to read; only the offset, which
/// humantime does not take, is read here.
pub fn unix_ms_from_rfc3339(text: &str) -> Option<u64> {
    let (local, offset_minutes) = if let Some(local) = text.strip_suffix(['Z', 'z']) {
        (local, 0i64)
    } else {
        let split = text.len().checked_sub(6)?;
        let (local, offset) = (text.get(..split)?, text.get(split..)?.as_bytes());
        let digits = |a: u8, b: u8| -> Option<i64> {
            (a.is_ascii_digit() && b.is_ascii_digit())
                .then(|| i64::from((a - b'0') * 10 + (b - b'0')))
        };
        let (hours, minutes) = (digits(offset[1], offset[2])?, digits(offset[4], offset[5])?);
        if offset[3] != b':' || hours > 23 || minutes > 59 {
            return None;
        }
        match offset[0] {
            b'+' => (local, hours * 60 + minutes),
            b'-' => (local, -(hours * 60 + minutes)),
            _ => return None,
        }
    };
    // RFC 3339's time-secfrac is "." 1*DIGIT; humantime would take a bare ".".
    if local.ends_with('.') {
        return None;
    }
    // humantime wants the 'T' (or a space: the weak form) and a 'Z'.
    let local = local.replacen('t', "T", 1);
    let at = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
    let ms = i64::try_from(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?;
    u64::try_from(ms - offset_minutes * 60_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_text_of_a_reason_is_its_as_str() {
        use TransferReason::*;
        for reason in [
            CarrierBye,
            HandoffBye,
            ReferRejected,
            SipfragFailure,
            Timeout,
            TransferTimeout,
            LocalMethod,
            LocalTarget,
            FallbackFailed,
            LocalJoinFailed,
            CustomerHungUp,
            TargetNotANumber,
            RelayedToPlatform,
            CarrierReferRejected,
            ReferBetweenSameRoleTrunks,
            TargetNotAllowed,
        ] {
            let json = serde_json::to_string(&reason).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }

    #[test]
    fn rfc3339_parses_back_what_it_writes_and_what_clients_send() {
        for ms in [
            0,
            951_827_696_789,
            1_735_689_599_999,
            1_735_689_600_000,
            1_796_443_200_123,
        ] {
            assert_eq!(unix_ms_from_rfc3339(&rfc3339_from_unix_ms(ms)), Some(ms));
        }
        assert_eq!(unix_ms_from_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_ms_from_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            unix_ms_from_rfc3339("1970-01-01T00:00:01.5-00:00"),
            Some(1500)
        );
        assert_eq!(
            unix_ms_from_rfc3339("1970-01-01t00:00:00.123456z"),
            Some(123)
        );
        for bad in [
            "",
            "2026-12-05",
            "2026-12-05T04:00:00",
            "2026-13-05T04:00:00Z",
            "2026-02-29T04:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T04:00:00.Z",
            "2026-12-05T04:00:00+0100",
            "2026-12-05T04:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "١٢٣٤-12-05T04:00:00Z",
        ] {
            assert_eq!(unix_ms_from_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_instants_format_as_rfc3339() {
        assert_eq!(rfc3339_from_unix_ms(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (leap day in a century leap year) 12:34:56.789 UTC.
        assert_eq!(
            rfc3339_from_unix_ms(951_827_696_789),
            "2000-02-29T12:34:56.789Z"
        );
        // 2024-12-31T23:59:59.999Z, the last millisecond of a leap year.
        assert_eq!(
            rfc3339_from_unix_ms(1_735_689_599_999),
            "2024-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_from_unix_ms(1_735_689_600_000),
            "2025-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn wall_clock_offsets_by_monotonic_elapsed_time() {
        let clock = WallClock {
            at: Time::from_millis(5_000),
            unix_ms: 1_735_689_600_000,
        };
        assert_eq!(
            clock.rfc3339_at(Time::from_millis(6_250)),
            "2025-01-01T00:00:01.250Z"
        );
        assert_eq!(
            clock.unix_ms_at(Time::from_millis(1_000)),
            1_735_689_600_000
        );
    }
}
