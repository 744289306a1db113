//! The transfer state a call carries while a blind or local transfer runs: the attempt, the
//! carrier's position, leg C until it is bridged, the retired platform leg. It is the data of
//! the call's phase `CallPhase::Transferring` (kept in `CallPhase::Ended` when the call ends
//! first). Data only; the call layer (`transfer_flow.rs`) drives it.

use super::dialog::Dialog;
use super::transaction::{ClientTxId, ServerTxId};
use crate::media::g711::G711Law;
use crate::transfer::{PlatformReferTo, TransferAttempt, TransferOutcome};
use crate::vocab::{LegId, Side};

/// Client transactions a transfer sends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransferTx {
    /// handoff's REFER to the carrier on leg A.
    Refer,
    /// A NOTIFY to the platform (leg B, or the retired platform leg).
    PlatformNotify,
    /// The local transfer's INVITE to the target (leg C).
    FallbackInvite,
    /// Re-INVITE of the customer's leg to G.711 and sendrecv after bridging.
    CustomerReinvite,
    /// A BYE ending the retired platform leg, or a leg C answered after it was abandoned.
    LegBye,
}

/// The local transfer's leg C toward the target, until it is bridged (the leg itself is one of
/// the call's legs).
#[derive(Debug)]
pub(super) struct FallbackLeg {
    pub(super) leg: LegId,
    pub(super) client: ClientTxId,
    /// The law the target answered with.
    pub(super) law: Option<G711Law>,
    /// Abandoned (customer hung up, or the carrier took the transfer over): its port is already
    /// free; a late 2xx is ACKed and BYEd.
    pub(super) abandoned: bool,
}

/// What the transfer makes of an in-dialog request (see `Call::transfer_takes_request`).
#[derive(Debug)]
pub(super) enum TransferVerdict {
    /// Not the transfer's: the B2BUA relays it as usual.
    NotTransfer,
    /// Taken and answered.
    Answered,
    /// The platform's REFER, well formed and from a platform leg bridged to a carrier leg: an
    /// attended one goes through attended.rs first, then `Call::accept_platform_refer`.
    PlatformRefer(PlatformReferTo),
}

/// The dialogs a platform REFER involves besides the one it names: what an attended REFER's
/// Replaces names, already translated for the carrier (attended.rs), and the dialog an
/// out-of-dialog REFER creates (RFC 5589 section 6.1).
#[derive(Debug, Default)]
pub(super) struct TranslatedDialogs {
    /// The `?Replaces=` value (escaped) for the carrier's Refer-To.
    pub replaces: Option<String>,
    /// The REFER came outside any dialog, naming the call's platform leg in its Target-Dialog
    /// (RFC 4538): the dialog its 2xx creates (handoff is its UAS), in which the NOTIFYs go
    /// (RFC 3515 section 2.4.4, RFC 6665). `None` for a REFER in the platform leg's dialog.
    pub subscription: Option<Box<Dialog>>,
}

/// A platform REFER waiting for its trunk's `refer_hook` answer (`Output::ReferHook`): its
/// server transaction stays open (retransmissions are absorbed) and nothing reaches the carrier
/// until the answer, or the `timeout_ms` deadline (`CoreTimer::ReferHook`), decides.
#[derive(Debug)]
pub(super) struct PendingHook {
    pub(super) request_id: u64,
    pub(super) url: String,
    pub(super) on_error: crate::config::HookAction,
    pub(super) started: super::Time,
    pub(super) tx: ServerTxId,
    pub(super) carrier_side: Side,
    /// The REFER as received, parsed again when the answer comes.
    pub(super) request: Vec<u8>,
    pub(super) refer_to: PlatformReferTo,
    pub(super) translated: TranslatedDialogs,
}

/// The transfer state a call carries (see the module docs).
#[derive(Debug)]
pub struct CallTransfer {
    pub(super) attempt: TransferAttempt,
    /// The customer's leg, toward the carrier, that the transfer hands off (A on an inbound call,
    /// B on a dialer call). The other position holds the platform leg (later leg C).
    pub(super) carrier: Side,
    /// The platform's REFER (server transaction) and its bytes, to answer it.
    pub(super) refer: ServerTxId,
    pub(super) refer_request: Vec<u8>,
    /// The platform sent `Refer-Sub: false`.
    pub(super) no_subscription: bool,
    /// The platform REFER's CSeq, and whether NOTIFYs name it with `Event: refer;id=<CSeq>`
    /// (the second and later REFER of the platform's dialog, RFC 3515 section 2.4.6).
    pub(super) platform_refer_cseq: u32,
    pub(super) platform_event_id: bool,
    /// handoff's REFER to the carrier: its CSeq, and whether it was the first REFER in that
    /// dialog (then the carrier's NOTIFYs may omit the id). `None` until sent.
    pub(super) carrier_refer: Option<(u32, bool)>,
    /// The carrier BYEd before its final NOTIFY: the call ends (with this positional reason
    /// unless handed off) once the attempt has its outcome.
    pub(super) carrier_left: Option<super::EndReason>,
    /// The customer's G.711 law (ringback encoding).
    pub(super) customer_law: G711Law,
    /// The customer's leg's negotiated G.711 codec (law, payload type) when the transfer began:
    /// local ringback is sent in it, and not at all without one (RFC 3264).
    pub(super) ringback_codec: Option<(G711Law, u8)>,
    /// Ringback was due but the customer's leg negotiated no G.711: none was sent.
    pub(super) ringback_skipped: bool,
    /// The trunk of the platform leg that sent the REFER (the record's `requester_trunk`).
    pub(super) requester_trunk: String,
    pub(super) fallback: Option<FallbackLeg>,
    /// The platform leg, retired from the bridge after leg C took its place.
    pub(super) retired_platform: Option<LegId>,
    pub(super) platform_gone: bool,
    /// The relay's b side points at leg C's early media.
    pub(super) early_media: bool,
    /// ReleaseCustomerLeg was asked: end the call once the actions are done.
    pub(super) release_customer: bool,
    pub(super) outcome: Option<TransferOutcome>,
    /// The law leg C answered with, once bridged.
    pub(super) bridged_law: Option<G711Law>,
    /// The Target-Dialog handoff puts on the carrier's REFER: the customer's leg as the carrier
    /// sees it (RFC 4538 section 3), only when the Refer-To's Replaces names another dialog.
    pub(super) target_dialog: Option<String>,
    /// The dialog an out-of-dialog REFER created (see [`TranslatedDialogs::subscription`]):
    /// the 2xx carries its tag and every NOTIFY to the platform goes in it.
    pub(super) subscription: Option<Box<Dialog>>,
    /// The local join (attended.rs, by join id) this transfer runs, once it asked for one.
    pub(super) join: Option<u64>,
    /// (customer's, new leg's) recording jurisdictions, when the local transfer crossed one.
    pub(super) jurisdiction: Option<(String, String)>,
    /// The `refer_hook` call that let this transfer start, for its record.
    pub(super) hook: Option<Box<crate::transfer::HookRecord>>,
    /// Header fields the local transfer's INVITE carries for the platform: the Refer-To's URI
    /// headers (User-to-User, X-..., RFC 3261 section 19.1.1) and the REFER's own X- headers,
    /// as (name, value), already vetted (`PlatformReferTo::parse`).
    pub(super) carried: Vec<(String, String)>,
}

impl CallTransfer {
    /// The attempt still needs input.
    pub fn is_active(&self) -> bool {
        !self.attempt.is_done()
    }

    pub fn attempt(&self) -> &TransferAttempt {
        &self.attempt
    }

    /// The platform leg that leg C replaced in the bridge.
    pub fn retired_platform(&self) -> Option<LegId> {
        self.retired_platform
    }

    /// The position of the carrier (customer) leg.
    pub fn carrier_side(&self) -> Side {
        self.carrier
    }

    /// The position of the platform leg (leg C once it took the platform's place).
    pub fn platform_side(&self) -> Side {
        self.carrier.other()
    }

    pub(super) fn swapped(&self) -> bool {
        self.retired_platform.is_some()
    }
}
