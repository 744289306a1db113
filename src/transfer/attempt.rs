//! [`TransferAttempt`]: the sans-IO state machine of ONE transfer, from the platform's REFER to
//! its audit record.
//!
//! The call layer owns the dialogs and transactions. It parses what arrives, calls the `on_*`
//! input that matches, and drains [`TransferAction`]s with [`TransferAttempt::poll_action`]. The
//! attempt never reads a clock: every input carries `now`, and deadlines come out as
//! [`TransferAction::ArmTimer`]; the driver then calls [`TransferAttempt::on_timer`] at or after
//! that instant (early or stale calls are ignored, so timers never need cancelling).
//!
//! Contract with the call layer while an attempt is active (not [`TransferAttempt::is_done`]):
//! - it answers in-dialog requests itself (200 to the carrier's NOTIFYs and BYEs, to the
//!   platform's BYE), and reports them here;
//! - a BYE on one leg does NOT by itself end the other leg: the attempt says when
//!   ([`TransferAction::TearDownPlatformLeg`], [`TransferAction::ReleaseCustomerLeg`]). This is
//!   what keeps an early platform BYE right after the 202 from killing the customer's leg;
//! - it answers the platform's REFER only with [`TransferAction::AnswerPlatform`], which is never
//!   a 2xx before the carrier's own 2xx (or a decision to transfer locally).
//!
//! Flows (issue 5): REFER 2xx, NOTIFY sipfrag 2xx, carrier BYE = `handed_off`. REFER >= 300,
//! no final REFER response, or sipfrag >= 300 = failure: with `on_refer_failure = "reject"` the
//! code is relayed and the transfer `failed`; with `"local"` handoff answers 202 and transfers
//! locally (`fallback_local`, or `failed` with the fallback's code NOTIFYed). `transfer =
//! "local"` goes straight to the local transfer.
//!
//! # Carrier timing (RFC 3515, RFC 6665, RFC 7647)
//!
//! Two clocks bound the carrier's part, and only two:
//! - **`refer_timeout_ms` bounds the wait for the final response to the REFER**, nothing else.
//!   RFC 3515 section 2.4.2: "If no final response has been generated according to the rules
//!   above, the UA MUST return a 202 Accepted response before the REFER transaction expires."
//!   No final response within `refer_timeout_ms` is a failure ("timeout", 408).
//! - **After a 2xx to the REFER the carrier owns the transfer until its final NOTIFY**; no NOTIFY
//!   deadline applies. RFC 3515 section 2.4.4: "The lifetime of the state being subscribed to is
//!   determined by the progress of the referenced request." A target rings for as long as it
//!   rings, and NOTIFYs may be minutes apart or absent until the final one. Silence is not
//!   failure: the failures are a final REFER response >= 300, no final response at all, a
//!   sipfrag >= 300 (RFC 3515 section 2.4.5: "The response class in this status line indicates
//!   the status of the referred action"), or the overall transfer timeout below. RFC 6665's
//!   Timer N (section 4.1.2.4, "If this Timer N expires prior to the receipt of a NOTIFY
//!   request, the subscriber considers the subscription failed") is not used as a failure
//!   either: a failed subscription is not a failed reference (RFC 3515 section 2.4.4:
//!   "Terminating a subscription, either by explicitly unsubscribing or rejecting NOTIFY, is not
//!   an indication that the referenced request should be withdrawn or abandoned").
//! - **`transfer_timeout_s` (`transfer_timeout_ms` here, 0 = off; the carrier trunk's key or
//!   `sbc.transfer_timeout_s`) bounds the carrier's work: from its acceptance (2xx to the REFER,
//!   or a NOTIFY that came first) to its final NOTIFY.** Gaps between NOTIFYs count for
//!   nothing. On expiry (reason `"transfer_timeout"`), while the agent (platform leg) is still on
//!   the call: the platform gets NOTIFY 408 (terminated), ringback stops and the customer talks
//!   to the agent again; handoff does not dial the target while the carrier may still connect
//!   it. If the agent already left, `on_refer_failure` applies: `"local"` dials the target (so
//!   the caller is not left in silence; a late carrier NOTIFY 1xx/2xx still cancels that call),
//!   `"reject"` releases the customer. The same bound, armed afresh, limits how long a local
//!   fallback's leg C may ring.
//! - **A subscription the carrier ends early** (`Subscription-State: terminated` on a 1xx
//!   NOTIFY, RFC 6665 section 4.1.3) ends only the reports, not the reference (RFC 3515 section
//!   2.4.4 above): later NOTIFYs are ignored, the carrier's BYE is the handoff, and the record
//!   says `carrier_subscription_ended`.
//! - **The customer hanging up while the carrier works** (its BYE while its subscription is
//!   active and it reported no final result) is `abandoned`, not a handoff. The BYE may overtake
//!   the final NOTIFY 200 sent with it, so the record waits `late_notify_grace_ms` (16*T1) for
//!   that NOTIFY: a 2xx makes it `handed_off`.
//!
//! After the final sipfrag 2xx the carrier's BYE is awaited for `handoff_bye_after_ms` (default
//! 2 s); then handoff BYEs the carrier leg itself, as a transferor following RFC 5589 does after
//! the final NOTIFY (still `handed_off`, reason `"handoff_bye"`, `ended_by: "handoff"`).
//!
//! A 202 is a 200 (RFC 7647 section 5: an element "MUST treat any 202 responses received as
//! identical to a 200 response"); every 2xx is handled alike. The platform's REFER is answered
//! 202, or 200 when its trunk says `refer_response = 200` (`accept_status`).
//!
//! When handoff itself accepts the platform's REFER (a local transfer, a fallback), it NOTIFYs
//! `SIP/2.0 100 Trying` at once: RFC 3515 section 2.4.4, "The creation of a subscription as
//! defined by [2] always results in an immediate NOTIFY."
//!
//! # Late carrier answers while handoff's own fallback rings
//!
//! When the fallback began because the REFER got no final response in time (reason
//! `"timeout"`), the carrier may still accept it. RFC 3515 section 2.4.2: "If a REFER request is
//! accepted (that is, a 2xx class response is returned), the recipient MUST create a
//! subscription and send notifications of the status of the refer", i.e. it goes on to contact
//! the target. Its NOTIFY may also arrive first (section 2.4.4: the agent that issued the REFER
//! "MUST be prepared to receive a NOTIFY before the REFER transaction completes"). So while leg C
//! is still ringing (state `AwaitingFallbackAnswer`):
//! - a late 2xx to the REFER, or a NOTIFY 1xx: the carrier is calling the target too. handoff
//!   gives way: leg C is CANCELled ([`TransferAction::CancelFallbackInvite`]) and the attempt
//!   waits for the carrier's NOTIFYs as if the 2xx had come in time (the platform already has its
//!   202; the carrier's NOTIFYs are relayed). If the carrier then fails (sipfrag >= 300), the
//!   attempt fails with that code: handoff does not ring the target a third time.
//! - a NOTIFY 2xx: the carrier connected the call. Leg C is CANCELled, the 200 is relayed to the
//!   platform, and the attempt finishes as handed off when the carrier releases the customer.
//! - a late REFER response >= 300 or a sipfrag >= 300: the carrier will not transfer; it is
//!   recorded and the fallback carries on.
//!
//! After a non-2xx final response (RFC 6665 section 4.1.2.1: "Non-200-class final responses
//! indicate that no subscription or new dialog usage has been created, and no subsequent NOTIFY
//! request will be sent") or a final sipfrag, nothing the carrier sends changes the fallback.
//! Once leg C answered, a late carrier answer is ignored: nothing can withdraw the carrier's
//! reference any more.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::{
    ReferFailurePolicy, RingbackMode, SbcConfig, TargetPolicy, TransferMethod, Trunk,
};
use crate::numbering::E164;
use crate::transfer::record::{
    LegEnder, TransferKind, TransferOutcome, TransferReason, TransferRecord, WallClock,
};
use crate::transfer::refer_to::{PlatformReferTo, carrier_refer_to_at, refer_domain};
use crate::vocab::Time;
use crate::vocab::{StatusClass, StatusCode};

/// How long handoff waits for the platform to hang up after it was told the local transfer
/// succeeded, before ending the platform leg itself.
pub const DEFAULT_PLATFORM_GRACE_MS: u64 = 2_000;

/// The default bound on a whole transfer attempt from its REFER (`sbc.transfer_timeout_s`).
pub const DEFAULT_TRANSFER_TIMEOUT_MS: u64 = 120_000;

/// How long handoff waits for the carrier's BYE after its final sipfrag 2xx before it BYEs the
/// carrier leg itself (`sbc.handoff_bye_after_ms`).
pub const DEFAULT_HANDOFF_BYE_AFTER_MS: u64 = 2_000;

/// After a carrier BYE that came before any final NOTIFY, how long a final NOTIFY overtaken by
/// that BYE may still decide the record: 16*T1 with the default T1 of 500 ms (long enough for a
/// NOTIFY retransmitted after a loss, shorter than the 64*T1 an ended call is kept).
pub const DEFAULT_LATE_NOTIFY_GRACE_MS: u64 = 16 * 500;

/// Per-trunk transfer settings of the carrier trunk (X), frozen when the attempt starts so a
/// config reload never changes a transfer under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferSettings {
    pub trunk: String,
    pub method: TransferMethod,
    pub on_refer_failure: ReferFailurePolicy,
    pub ringback: RingbackMode,
    pub country_code: String,
    /// Host of the carrier Refer-To (see [`refer_domain`]).
    pub refer_domain: String,
    /// The trunk's configured extra headers, added to the REFER.
    pub headers: Vec<(String, String)>,
    /// No final response to the REFER for this long = failure "timeout". Bounds nothing else.
    pub refer_timeout_ms: u64,
    /// From the carrier's acceptance to its final NOTIFY (and a fallback's ringing), at most
    /// this long (0 = no bound); see the module docs.
    pub transfer_timeout_ms: u64,
    /// After the carrier's final sipfrag 2xx, how long its BYE may take before handoff BYEs.
    pub handoff_bye_after_ms: u64,
    /// After a carrier BYE with no final NOTIFY yet, how long that NOTIFY may still come.
    pub late_notify_grace_ms: u64,
    pub platform_grace_ms: u64,
    /// What an accepted platform REFER is answered (202, or 200 by the platform trunk's
    /// `refer_response`).
    pub accept_status: StatusCode,
    /// Which E.164 targets a transfer toward this trunk may name (`transfer_allow`/`_deny`).
    pub targets: TargetPolicy,
    /// The trunk's `conversation_header`: the carrier Refer-To carries
    /// `?X-Conversation-ID=<conversation>`.
    pub conversation_header: bool,
}

impl TransferSettings {
    /// The settings for a call: the carrier trunk's, and the call's `[sbc]` timeouts (a trunk's
    /// own `transfer_timeout_s` / `handoff_bye_after_ms` win).
    pub fn for_call(trunk: &Trunk, sbc: &SbcConfig) -> TransferSettings {
        TransferSettings {
            transfer_timeout_ms: trunk
                .transfer_timeout_s
                .unwrap_or(sbc.transfer_timeout_s)
                .saturating_mul(1_000),
            handoff_bye_after_ms: trunk
                .handoff_bye_after_ms
                .unwrap_or(sbc.handoff_bye_after_ms),
            late_notify_grace_ms: sbc.timers.t1_ms.saturating_mul(16),
            ..TransferSettings::for_trunk(trunk, sbc.refer_timeout_ms)
        }
    }

    /// `expires` on the Subscription-State of NOTIFYs handoff sends the platform while the
    /// transfer runs: at least the transfer timeout (an hour when unbounded), so the platform's
    /// subscription never lapses before handoff's final word; never under 60 s.
    pub fn subscription_expires_s(&self) -> u32 {
        match self.transfer_timeout_ms {
            0 => 3_600,
            ms => u32::try_from(ms.div_ceil(1_000))
                .unwrap_or(u32::MAX)
                .max(60),
        }
    }

    /// The trunk's settings, with [`DEFAULT_TRANSFER_TIMEOUT_MS`],
    /// [`DEFAULT_HANDOFF_BYE_AFTER_MS`] and [`DEFAULT_LATE_NOTIFY_GRACE_MS`].
    pub fn for_trunk(trunk: &Trunk, refer_timeout_ms: u64) -> TransferSettings {
        TransferSettings {
            trunk: trunk.name.clone(),
            method: trunk.transfer,
            on_refer_failure: trunk.on_refer_failure,
            ringback: trunk.ringback,
            country_code: trunk.country_code.clone(),
            refer_domain: refer_domain(trunk),
            headers: trunk
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            refer_timeout_ms,
            transfer_timeout_ms: trunk
                .transfer_timeout_s
                .map_or(DEFAULT_TRANSFER_TIMEOUT_MS, |s| s.saturating_mul(1_000)),
            handoff_bye_after_ms: trunk
                .handoff_bye_after_ms
                .unwrap_or(DEFAULT_HANDOFF_BYE_AFTER_MS),
            late_notify_grace_ms: DEFAULT_LATE_NOTIFY_GRACE_MS,
            platform_grace_ms: DEFAULT_PLATFORM_GRACE_MS,
            accept_status: StatusCode::ACCEPTED,
            targets: trunk.transfer_targets.clone(),
            conversation_header: trunk.conversation_header,
        }
    }
}

/// What the platform asked for, as the call layer parsed it from the REFER on leg B.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRequest {
    /// The id shared by all legs of the customer's interaction.
    pub conversation: String,
    pub refer_to: PlatformReferTo,
    /// For an attended transfer: the Refer-To's Replaces, already translated to the carrier side
    /// and %-escaped ([`crate::transfer::dialog_ids::translate`] with `ReplacesInUri`). Its
    /// presence makes the transfer attended.
    pub translated_replaces: Option<String>,
    /// The platform's Referred-By header value, kept intact (RFC 3892).
    pub referred_by: Option<String>,
    /// The platform's P-Asserted-Identity, kept intact.
    pub p_asserted_identity: Option<String>,
    /// Referred-By value used when the platform sent none, e.g. `<sip:handoff@192.0.2.1>`.
    pub handoff_identity: String,
    /// False when the platform's REFER said `Refer-Sub: false` (RFC 4488): no NOTIFYs to it.
    pub notify_platform: bool,
    pub wall_clock: WallClock,
    /// The REFER's source address, for the audit record.
    pub source: Option<SocketAddr>,
    /// For a target that is not a telephone number: what the route table makes of it (the call
    /// layer asks `routing::route_transfer_target` and the routed trunk's policy).
    pub extension: ExtensionRoute,
}

/// Where a transfer target that is not a telephone number (an extension, a SIP URI) can go.
/// Such a target is never REFERed to the carrier (carriers route E.164 only): it is transferred
/// locally, whatever the trunk's `transfer` method, when a route takes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExtensionRoute {
    /// No route takes it (or the target is a number): 404 when it is not a number.
    #[default]
    NoRoute,
    /// A route takes it to a trunk that accepts such targets: local transfer.
    Routed,
    /// The route's trunk has a destination policy (`transfer_allow`/`transfer_deny`), which only
    /// E.164 numbers can satisfy: 403, as for a denied number.
    Denied,
}

impl TransferRequest {
    pub fn kind(&self) -> TransferKind {
        if self.translated_replaces.is_some() {
            TransferKind::Attended
        } else {
            TransferKind::Blind
        }
    }
}

/// What the call layer must do, drained in order with [`TransferAttempt::poll_action`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferAction {
    /// Send REFER to the carrier in dialog A with `Refer-To: {refer_to}` and these headers
    /// (Referred-By, P-Asserted-Identity, the trunk's headers), in order.
    SendRefer {
        refer_to: String,
        headers: Vec<(String, String)>,
    },
    /// Final response to the platform's REFER.
    AnswerPlatform { status: StatusCode },
    /// Answer the platform's REFER with `status` and this reason phrase (a refusal the platform's
    /// operator must be able to read, e.g. a denied target).
    RefusePlatform {
        status: StatusCode,
        reason: &'static str,
    },
    /// Relay the carrier's NOTIFY to the platform in dialog B: sipfrag `SIP/2.0 {status}`.
    /// `subscription_ends` = `Subscription-State: terminated`.
    RelayNotify {
        status: StatusCode,
        subscription_ends: bool,
    },
    /// NOTIFY handoff originates toward the platform (local transfer progress or result).
    NotifyPlatform {
        status: StatusCode,
        subscription_ends: bool,
    },
    /// INVITE the target, routed as if the platform had called it (leg C).
    StartFallbackInvite {
        target: String,
        target_e164: Option<E164>,
    },
    /// Leg C sent early media (18x with SDP): relay it to the customer instead of ringback.
    RelayFallbackEarlyMedia,
    /// CANCEL the pending fallback INVITE.
    CancelFallbackInvite,
    /// Attended transfer done locally: join the customer's leg with the replaced dialog's
    /// far leg in handoff's relay; report with [`TransferAttempt::on_local_join_result`].
    StartLocalJoin,
    /// Inject ringback into the customer's RTP stream (trunk's ringback_tone).
    StartRingback,
    /// Stop injecting; the customer's media flows from its bridged peer again.
    StopRingback,
    /// Bridge the customer's leg A with the answered leg C.
    BridgeFallback,
    /// End the platform leg B with BYE.
    TearDownPlatformLeg,
    /// Attended transfer joined locally: end the replaced call's platform leg (B2) with BYE; its
    /// carrier leg (A2) now belongs to the joined call.
    TearDownReplacedPlatformLeg,
    /// End the customer's leg A with BYE (nobody is left to talk to it).
    ReleaseCustomerLeg,
    /// Call [`TransferAttempt::on_timer`] at or after `at`.
    ArmTimer { at: Time },
    /// The outcome is known: write this record to the audit log and count it.
    Finished(Box<TransferRecord>),
}

/// The states, named for what they await. Transitions consume the state.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    AwaitingReferResponse {
        deadline: Time,
    },
    /// The carrier accepted: it owns the transfer until its final sipfrag. No deadline of its
    /// own (only the transfer timeout): silence is not failure.
    AwaitingNotify,
    /// The carrier reported success; waiting (`handoff_bye_after_ms`) for it to release leg A.
    AwaitingCarrierBye {
        deadline: Time,
    },
    /// The carrier BYEd before any final NOTIFY while its subscription was active: a final
    /// NOTIFY 2xx overtaken by that BYE makes it a handoff, anything else (or nothing until the
    /// deadline) an abandoned transfer.
    AwaitingLateNotify {
        deadline: Time,
    },
    /// Leg C is being set up.
    AwaitingFallbackAnswer,
    AwaitingLocalJoin,
    /// Outcome recorded; the platform has a grace period to hang up leg B itself.
    AwaitingPlatformBye {
        deadline: Time,
    },
    Done,
}

/// Everything but the state.
#[derive(Debug)]
struct Context {
    settings: TransferSettings,
    request: TransferRequest,
    kind: TransferKind,
    target_e164: Option<E164>,
    started: Time,
    actions: VecDeque<TransferAction>,
    /// Final response sent to the platform's REFER (2xx means a subscription exists).
    platform_answer: Option<StatusCode>,
    platform_gone: bool,
    ringback_playing: bool,
    refer_status: Option<StatusCode>,
    notify_status: Option<StatusCode>,
    fallback_status: Option<StatusCode>,
    /// Why the local transfer was started ("refer_rejected", "timeout", ...).
    fallback_reason: TransferReason,
    /// handoff INVITEd the target itself (leg C), even if it later gave way to the carrier.
    target_dialled: bool,
    /// The end of the carrier's work (`transfer_timeout_ms` after its acceptance) or of the
    /// fallback's ringing, if bounded.
    transfer_deadline: Option<Time>,
    /// The carrier ended its subscription (terminated on a 1xx NOTIFY): its later NOTIFYs are
    /// ignored, its BYE is the handoff.
    carrier_subscription_ended: bool,
    /// The platform's subscription got its terminating NOTIFY (or never existed).
    platform_subscription_ended: bool,
    /// The last sipfrag status sent to the platform (a SUBSCRIBE refresh repeats it).
    platform_status: Option<StatusCode>,
    /// Who ended the carrier leg of a handed-off transfer, for the record.
    ended_by: Option<LegEnder>,
    record: Option<TransferRecord>,
}

/// One transfer. See the module docs.
#[derive(Debug)]
pub struct TransferAttempt {
    state: State,
    context: Context,
}

impl TransferAttempt {
    /// Starts a transfer: validates the target and sends the REFER, or (for `transfer = "local"`)
    /// starts the local transfer.
    pub fn start(
        now: Time,
        request: TransferRequest,
        settings: TransferSettings,
    ) -> TransferAttempt {
        let kind = request.kind();
        let target_e164 = request.refer_to.e164(&settings.country_code).ok();
        let mut context = Context {
            settings,
            request,
            kind,
            target_e164,
            started: now,
            actions: VecDeque::new(),
            platform_answer: None,
            platform_gone: false,
            ringback_playing: false,
            refer_status: None,
            notify_status: None,
            fallback_status: None,
            fallback_reason: TransferReason::LocalMethod,
            target_dialled: false,
            transfer_deadline: None,
            carrier_subscription_ended: false,
            platform_subscription_ended: false,
            platform_status: None,
            ended_by: None,
            record: None,
        };
        // RFC 3261 section 19.1.1: the Refer-To's URI headers (User-to-User, X-...) are fields
        // of the request the carrier builds from it; handoff's conversation label goes last.
        let mut carried = context.request.refer_to.carried_headers();
        if context.settings.conversation_header {
            carried.push((
                crate::transfer::refer_to::CONVERSATION_HEADER.to_owned(),
                context.request.conversation.clone(),
            ));
        }
        let carrier = carrier_refer_to_at(
            &context.request.refer_to,
            &context.settings.country_code,
            &context.settings.refer_domain,
            context.request.translated_replaces.as_deref(),
            &carried,
        );
        // An attended transfer joined locally replaces a dialog: its target needs no number.
        let local_join =
            context.settings.method == TransferMethod::Local && kind == TransferKind::Attended;
        let denied = context
            .target_e164
            .as_ref()
            .is_some_and(|e164| !context.settings.targets.allows(e164.as_str()));
        let state = match carrier {
            // The trunk's destination policy (toll fraud): no REFER, no local INVITE.
            Ok(_) if denied => {
                context.emit(TransferAction::RefusePlatform {
                    status: StatusCode::FORBIDDEN,
                    reason: "Forbidden (transfer target not allowed)",
                });
                context.platform_answer = Some(StatusCode::FORBIDDEN);
                context.finish(
                    now,
                    TransferOutcome::Denied,
                    TransferReason::TargetNotAllowed,
                );
                State::Done
            }
            Err(_) if local_join => {
                context.accept_locally();
                context.begin_local(now, TransferReason::LocalMethod)
            }
            // Not a number: carriers route E.164 only, so no REFER. A route that takes the
            // extension or SIP URI makes it a local transfer, whatever the trunk's method.
            Err(_) => match context.request.extension {
                ExtensionRoute::Routed => {
                    context.settings.method = TransferMethod::Local;
                    context.accept_locally();
                    context.begin_local(now, TransferReason::LocalTarget)
                }
                ExtensionRoute::Denied => {
                    context.emit(TransferAction::RefusePlatform {
                        status: StatusCode::FORBIDDEN,
                        reason: "Forbidden (transfer target not allowed)",
                    });
                    context.platform_answer = Some(StatusCode::FORBIDDEN);
                    context.finish(
                        now,
                        TransferOutcome::Denied,
                        TransferReason::TargetNotAllowed,
                    );
                    State::Done
                }
                ExtensionRoute::NoRoute => {
                    context.emit(TransferAction::RefusePlatform {
                        status: StatusCode::NOT_FOUND,
                        reason: "Not Found (transfer target is not a number and no route takes it)",
                    });
                    context.platform_answer = Some(StatusCode::NOT_FOUND);
                    context.finish(
                        now,
                        TransferOutcome::Failed,
                        TransferReason::TargetNotANumber,
                    );
                    State::Done
                }
            },
            Ok(_) if context.settings.method == TransferMethod::Local => {
                context.accept_locally();
                context.begin_local(now, TransferReason::LocalMethod)
            }
            Ok(carrier) => {
                let headers = context.refer_headers();
                context.emit(TransferAction::SendRefer {
                    refer_to: carrier.header_value(),
                    headers,
                });
                if context.settings.ringback == RingbackMode::Local {
                    context.start_ringback();
                }
                let deadline = context.arm(now);
                State::AwaitingReferResponse { deadline }
            }
        };
        TransferAttempt { state, context }
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<TransferAction> {
        self.context.actions.pop_front()
    }

    /// The carrier's response to the REFER (1xx ignored).
    pub fn on_refer_response(&mut self, now: Time, status: StatusCode) {
        self.step(|state, context| state.on_refer_response(context, now, status));
    }

    /// A NOTIFY (Event: refer) from the carrier, with the status of its message/sipfrag body
    /// (its subscription taken as still active on a 1xx).
    pub fn on_notify_sipfrag(&mut self, now: Time, status: StatusCode) {
        self.on_notify(now, status, false);
    }

    /// A NOTIFY (Event: refer) from the carrier: its sipfrag status, and whether its
    /// Subscription-State said `terminated`. A 1xx that ends the subscription ends the reports,
    /// not the carrier's work (module docs).
    pub fn on_notify(&mut self, now: Time, status: StatusCode, terminated: bool) {
        if self.context.carrier_subscription_ended {
            // RFC 6665 section 4.1.3: no subscription, nothing to report.
            return;
        }
        if terminated && status.is_provisional() && !self.is_done() {
            self.context.carrier_subscription_ended = true;
        }
        self.step(|state, context| state.on_notify_sipfrag(context, now, status));
    }

    /// The platform refreshes (or ends, `expires == 0`) its refer subscription with an in-dialog
    /// SUBSCRIBE (RFC 3515 section 2.4.4). False when it has no such subscription: the caller
    /// answers 403 ("If a SUBSCRIBE request for event refer is received for a subscription that
    /// does not already exist, it MUST be rejected with a 403"). True: answer 200; the attempt
    /// NOTIFYs the current state at once (RFC 6665 section 4.2.1.4).
    pub fn on_platform_subscribe(&mut self, expires: u32) -> bool {
        let context = &mut self.context;
        if self.state == State::Done
            || context.platform_subscription_ended
            || !context.may_notify_platform()
        {
            return false;
        }
        let status = context.platform_status.unwrap_or(StatusCode::TRYING);
        context.notify_platform(status, expires == 0);
        true
    }

    /// The carrier BYEd before its final NOTIFY; the outcome waits for that NOTIFY (module
    /// docs), and the call with it.
    pub fn awaiting_late_notify(&self) -> bool {
        matches!(self.state, State::AwaitingLateNotify { .. })
    }

    /// The platform may still get NOTIFYs for this attempt's REFER.
    pub fn platform_subscribed(&self) -> bool {
        self.state != State::Done
            && !self.context.platform_subscription_ended
            && self.context.may_notify_platform()
    }

    /// `expires` for the Subscription-State of NOTIFYs to the platform.
    pub fn subscription_expires_s(&self) -> u32 {
        self.context.settings.subscription_expires_s()
    }

    /// A response on the fallback leg C; `with_sdp` = it carries an SDP body (early media).
    pub fn on_fallback_response(&mut self, now: Time, status: StatusCode, with_sdp: bool) {
        self.step(|state, context| state.on_fallback_response(context, now, status, with_sdp));
    }

    /// Result of [`TransferAction::StartLocalJoin`]: 2xx once both legs are joined, else the
    /// failing code.
    pub fn on_local_join_result(&mut self, now: Time, status: StatusCode) {
        self.step(|state, context| state.on_local_join_result(context, now, status));
    }

    /// BYE from the carrier on leg A (already answered 200 by the call layer).
    pub fn on_bye_from_carrier(&mut self, now: Time) {
        self.step(|state, context| state.on_bye_from_carrier(context, now));
    }

    /// BYE from the platform (the transferor) on leg B (already answered 200).
    pub fn on_transferor_bye(&mut self, now: Time) {
        self.step(|state, context| state.on_transferor_bye(context, now));
    }

    /// A timer armed by [`TransferAction::ArmTimer`] fired. Early or stale calls do nothing.
    pub fn on_timer(&mut self, now: Time) {
        self.step(|state, context| state.on_timer(context, now));
    }

    /// The audit record, once the outcome is known.
    pub fn record(&self) -> Option<&TransferRecord> {
        self.context.record.as_ref()
    }

    /// True once the attempt needs no more input (its record is written and leg B is settled).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub fn kind(&self) -> TransferKind {
        self.context.kind
    }

    /// The name of the current state, for logs.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::AwaitingReferResponse { .. } => "AwaitingReferResponse",
            State::AwaitingNotify => "AwaitingNotify",
            State::AwaitingCarrierBye { .. } => "AwaitingCarrierBye",
            State::AwaitingLateNotify { .. } => "AwaitingLateNotify",
            State::AwaitingFallbackAnswer => "AwaitingFallbackAnswer",
            State::AwaitingLocalJoin => "AwaitingLocalJoin",
            State::AwaitingPlatformBye { .. } => "AwaitingPlatformBye",
            State::Done => "Done",
        }
    }

    fn step(&mut self, transition: impl FnOnce(State, &mut Context) -> State) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = transition(state, &mut self.context);
    }
}

impl State {
    fn on_refer_response(self, context: &mut Context, now: Time, status: StatusCode) -> State {
        match self {
            State::AwaitingReferResponse { .. } => match status.class() {
                StatusClass::Provisional => self,
                // The carrier owns the transfer now: no deadline but the transfer timeout.
                StatusClass::Success => {
                    context.refer_status = Some(status);
                    context.answer_platform(status);
                    context.carrier_accepted(now);
                    State::AwaitingNotify
                }
                _ => {
                    context.refer_status = Some(status);
                    context.refer_failed(now, TransferReason::ReferRejected, status)
                }
            },
            // A NOTIFY overtook the 2xx; keep its code for the record.
            State::AwaitingNotify | State::AwaitingCarrierBye { .. }
                if status.is_success() && context.refer_status.is_none() =>
            {
                context.refer_status = Some(status);
                self
            }
            // The REFER's final response comes after refer_timeout_ms sent handoff to its own
            // fallback (module docs, "Late carrier answers").
            State::AwaitingFallbackAnswer
                if status.is_final() && context.carrier_may_still_act() =>
            {
                context.refer_status = Some(status);
                if status.is_success() {
                    // The carrier is calling the target too: give way, it owns the transfer.
                    context.emit(TransferAction::CancelFallbackInvite);
                    context.carrier_accepted(now);
                    State::AwaitingNotify
                } else {
                    // The carrier will not transfer: the fallback carries on.
                    self
                }
            }
            other => other,
        }
    }

    fn on_notify_sipfrag(self, context: &mut Context, now: Time, status: StatusCode) -> State {
        match self {
            // RFC 3515 lets the first NOTIFY arrive before the 202: the carrier has accepted.
            State::AwaitingReferResponse { .. } => {
                context.answer_platform(StatusCode::ACCEPTED);
                context.carrier_accepted(now);
                State::AwaitingNotify.on_notify_sipfrag(context, now, status)
            }
            State::AwaitingNotify => {
                context.notify_status = Some(status);
                match status.class() {
                    // Progress, not a deadline: the carrier may take minutes (module docs).
                    StatusClass::Provisional => {
                        context.relay_notify(status, false);
                        if status == StatusCode::RINGING
                            && context.settings.ringback == RingbackMode::Auto
                        {
                            context.start_ringback();
                        }
                        State::AwaitingNotify
                    }
                    StatusClass::Success => {
                        context.relay_notify(status, true);
                        let deadline = now.plus_millis(context.settings.handoff_bye_after_ms);
                        context.emit(TransferAction::ArmTimer { at: deadline });
                        State::AwaitingCarrierBye { deadline }
                    }
                    _ => context.refer_failed(now, TransferReason::SipfragFailure, status),
                }
            }
            // The carrier accepted after all (its NOTIFY may precede its 2xx, RFC 3515 section
            // 2.4.4) while handoff's fallback rings: a 1xx means it is calling the target too, a
            // 2xx that it connected the call. Either way leg C must go (module docs).
            State::AwaitingFallbackAnswer if context.carrier_may_still_act() => {
                if !status.is_failure() {
                    context.emit(TransferAction::CancelFallbackInvite);
                    context.carrier_accepted(now);
                    State::AwaitingNotify.on_notify_sipfrag(context, now, status)
                } else {
                    // The carrier failed; the fallback carries on.
                    context.notify_status = Some(status);
                    self
                }
            }
            // The carrier's BYE overtook its final NOTIFY (module docs).
            State::AwaitingLateNotify { .. } if status.is_final() => {
                context.notify_status = Some(status);
                if status.is_success() {
                    context.relay_notify(status, true);
                    context.tear_down_platform();
                    context.ended_by = Some(LegEnder::Carrier);
                    context.finish(now, TransferOutcome::HandedOff, TransferReason::CarrierBye);
                    State::Done
                } else {
                    context.abandoned(now)
                }
            }
            // A late or repeated NOTIFY (e.g. racing the BYE) changes nothing.
            other => other,
        }
    }

    fn on_fallback_response(
        self,
        context: &mut Context,
        now: Time,
        status: StatusCode,
        with_sdp: bool,
    ) -> State {
        if self != State::AwaitingFallbackAnswer {
            return self;
        }
        match status.class() {
            StatusClass::Provisional if status < StatusCode::RINGING => self,
            StatusClass::Provisional => {
                context.notify_platform(status, false);
                match context.settings.ringback {
                    RingbackMode::Auto if with_sdp => {
                        context.stop_ringback();
                        context.emit(TransferAction::RelayFallbackEarlyMedia);
                    }
                    RingbackMode::Auto => context.start_ringback(),
                    RingbackMode::Local | RingbackMode::Off => {}
                }
                self
            }
            StatusClass::Success => {
                context.fallback_status = Some(status);
                context.stop_ringback();
                context.emit(TransferAction::BridgeFallback);
                context.local_transfer_succeeded(now)
            }
            _ => {
                context.fallback_status = Some(status);
                context.local_transfer_failed(now, status, TransferReason::FallbackFailed)
            }
        }
    }

    fn on_local_join_result(self, context: &mut Context, now: Time, status: StatusCode) -> State {
        if self != State::AwaitingLocalJoin {
            return self;
        }
        context.fallback_status = Some(status);
        if status.is_success() {
            context.stop_ringback();
            context.local_transfer_succeeded(now)
        } else {
            context.local_transfer_failed(now, status, TransferReason::LocalJoinFailed)
        }
    }

    fn on_bye_from_carrier(self, context: &mut Context, now: Time) -> State {
        match self {
            // Before the carrier accepted, its BYE is the customer hanging up.
            State::AwaitingReferResponse { .. } => {
                context.stop_ringback();
                context.answer_platform(StatusCode::REQUEST_TERMINATED);
                context.tear_down_platform();
                context.finish(
                    now,
                    TransferOutcome::Cancelled,
                    TransferReason::CustomerHungUp,
                );
                State::Done
            }
            // The carrier's subscription is active and it reported no result: the customer hung
            // up while the carrier worked, unless a final NOTIFY 2xx overtaken by this BYE comes.
            State::AwaitingNotify if !context.carrier_subscription_ended => {
                context.stop_ringback();
                let deadline = now.plus_millis(context.settings.late_notify_grace_ms);
                context.emit(TransferAction::ArmTimer { at: deadline });
                State::AwaitingLateNotify { deadline }
            }
            // The carrier took the call over: leg A is released, so is leg B.
            State::AwaitingNotify | State::AwaitingCarrierBye { .. } => {
                context.stop_ringback();
                if self == State::AwaitingNotify {
                    // Its subscription ended early; the release itself says it worked.
                    context.notify_platform(StatusCode::OK, true);
                }
                context.tear_down_platform();
                context.ended_by = Some(LegEnder::Carrier);
                context.finish(now, TransferOutcome::HandedOff, TransferReason::CarrierBye);
                State::Done
            }
            State::AwaitingLateNotify { .. } => self,
            State::AwaitingFallbackAnswer | State::AwaitingLocalJoin => {
                if self == State::AwaitingFallbackAnswer {
                    context.emit(TransferAction::CancelFallbackInvite);
                }
                context.stop_ringback();
                context.notify_platform(StatusCode::REQUEST_TERMINATED, true);
                context.tear_down_platform();
                context.finish(
                    now,
                    TransferOutcome::Cancelled,
                    TransferReason::CustomerHungUp,
                );
                State::Done
            }
            // The bridged call ended after the transfer; leg B still has to go.
            State::AwaitingPlatformBye { .. } => {
                context.tear_down_platform();
                State::Done
            }
            State::Done => State::Done,
        }
    }

    fn on_transferor_bye(self, context: &mut Context, _now: Time) -> State {
        context.platform_gone = true;
        match self {
            State::AwaitingPlatformBye { .. } => State::Done,
            // Leg A stays up: the transfer carries on without the platform.
            other => other,
        }
    }

    fn on_timer(self, context: &mut Context, now: Time) -> State {
        match self {
            // The carrier's work outlived transfer_timeout_s (module docs).
            State::AwaitingNotify if context.transfer_expired(now) => {
                context.carrier_timed_out(now)
            }
            State::AwaitingFallbackAnswer if context.transfer_expired(now) => {
                context.emit(TransferAction::CancelFallbackInvite);
                context.transfer_timed_out(now)
            }
            // No final response to the REFER in time.
            State::AwaitingReferResponse { deadline } if now >= deadline => {
                context.refer_failed(now, TransferReason::Timeout, StatusCode::REQUEST_TIMEOUT)
            }
            // The carrier reported success but did not release leg A: handoff ends it, as a
            // transferor does after the final NOTIFY (RFC 5589).
            State::AwaitingCarrierBye { deadline } if now >= deadline => {
                context.stop_ringback();
                context.emit(TransferAction::ReleaseCustomerLeg);
                context.tear_down_platform();
                context.ended_by = Some(LegEnder::Handoff);
                context.finish(now, TransferOutcome::HandedOff, TransferReason::HandoffBye);
                State::Done
            }
            // No final NOTIFY followed the carrier's BYE: the customer abandoned the transfer.
            State::AwaitingLateNotify { deadline } if now >= deadline => context.abandoned(now),
            State::AwaitingPlatformBye { deadline } if now >= deadline => {
                context.tear_down_platform();
                State::Done
            }
            other => other,
        }
    }
}

impl Context {
    fn emit(&mut self, action: TransferAction) {
        self.actions.push_back(action);
    }

    /// Arms the `refer_timeout_ms` deadline from `now`: the REFER's final response.
    fn arm(&mut self, now: Time) -> Time {
        let deadline = now.plus_millis(self.settings.refer_timeout_ms);
        self.emit(TransferAction::ArmTimer { at: deadline });
        deadline
    }

    /// The carrier accepted the REFER (its 2xx, or a NOTIFY first; called on the way into
    /// `AwaitingNotify` only, never per NOTIFY): its work is bounded by `transfer_timeout_ms`
    /// from now.
    fn carrier_accepted(&mut self, now: Time) {
        self.arm_transfer_deadline(now);
    }

    /// Arms the transfer bound from `now` (none if `transfer_timeout_ms` is 0).
    fn arm_transfer_deadline(&mut self, now: Time) {
        if self.settings.transfer_timeout_ms > 0 {
            let deadline = now.plus_millis(self.settings.transfer_timeout_ms);
            self.transfer_deadline = Some(deadline);
            self.emit(TransferAction::ArmTimer { at: deadline });
        }
    }

    fn transfer_expired(&self, now: Time) -> bool {
        self.transfer_deadline
            .is_some_and(|deadline| now >= deadline)
    }

    /// While leg C rings: handoff started it because the REFER got no final response in time,
    /// and the carrier has given no final word since, so it may yet accept and call the target.
    /// Or handoff started it because the carrier's work outlived `transfer_timeout_s` with the
    /// agent gone, and the carrier's last word was progress.
    fn carrier_may_still_act(&self) -> bool {
        match self.fallback_reason {
            TransferReason::Timeout => self.refer_status.is_none() && self.notify_status.is_none(),
            TransferReason::TransferTimeout => {
                !self.carrier_subscription_ended
                    && self.notify_status.is_none_or(|s| s.is_provisional())
            }
            _ => false,
        }
    }

    /// The carrier accepted but gave no final result within `transfer_timeout_s` (module
    /// docs): with the agent still there, NOTIFY 408 and the customer is back with the agent;
    /// with the agent gone, `on_refer_failure` applies.
    fn carrier_timed_out(&mut self, now: Time) -> State {
        self.stop_ringback();
        if !self.platform_gone {
            self.notify_platform(StatusCode::REQUEST_TIMEOUT, true);
            self.finish(
                now,
                TransferOutcome::Failed,
                TransferReason::TransferTimeout,
            );
            return State::Done;
        }
        match self.settings.on_refer_failure {
            ReferFailurePolicy::Local if !self.target_dialled => {
                self.begin_local(now, TransferReason::TransferTimeout)
            }
            ReferFailurePolicy::Local | ReferFailurePolicy::Reject => {
                self.emit(TransferAction::ReleaseCustomerLeg);
                self.finish(
                    now,
                    TransferOutcome::Failed,
                    TransferReason::TransferTimeout,
                );
                State::Done
            }
        }
    }

    /// The customer hung up while the carrier worked (module docs): the platform hears 487.
    fn abandoned(&mut self, now: Time) -> State {
        self.notify_platform(StatusCode::REQUEST_TERMINATED, true);
        self.tear_down_platform();
        self.finish(
            now,
            TransferOutcome::Abandoned,
            TransferReason::CustomerHungUp,
        );
        State::Done
    }

    /// A local fallback's leg C rang for `transfer_timeout_s`: the attempt fails with 408
    /// toward the platform, and no other fallback follows.
    fn transfer_timed_out(&mut self, now: Time) -> State {
        self.stop_ringback();
        if self.platform_answer.is_none() {
            self.answer_platform(StatusCode::REQUEST_TIMEOUT);
        } else {
            self.notify_platform(StatusCode::REQUEST_TIMEOUT, true);
        }
        if self.platform_gone {
            self.emit(TransferAction::ReleaseCustomerLeg);
        }
        self.finish(
            now,
            TransferOutcome::Failed,
            TransferReason::TransferTimeout,
        );
        State::Done
    }

    fn refer_headers(&self) -> Vec<(String, String)> {
        let request = &self.request;
        let referred_by = request
            .referred_by
            .clone()
            .unwrap_or_else(|| request.handoff_identity.clone());
        let mut headers = vec![("Referred-By".to_owned(), referred_by)];
        if let Some(identity) = &request.p_asserted_identity {
            headers.push(("P-Asserted-Identity".to_owned(), identity.clone()));
        }
        headers.extend(self.settings.headers.iter().cloned());
        headers
    }

    /// handoff itself accepts the platform's REFER (a local transfer or a fallback before the
    /// carrier answered): 202 (or the trunk's `refer_response`), then at once NOTIFY 100, RFC
    /// 3515 section 2.4.4: "The creation of a subscription as defined by [2] always results in
    /// an immediate NOTIFY."
    fn accept_locally(&mut self) {
        if self.platform_answer.is_none() && !self.platform_gone {
            self.answer_platform(StatusCode::ACCEPTED);
            self.notify_platform(StatusCode::TRYING, false);
        }
    }

    /// Answers the platform's REFER once; nothing if it already has an answer or hung up. A
    /// 2xx is the `accept_status` (RFC 7647 section 5: 200 and 202 are alike).
    fn answer_platform(&mut self, status: StatusCode) {
        let status = if status.is_success() {
            self.settings.accept_status
        } else {
            status
        };
        if self.platform_answer.is_none() && !self.platform_gone {
            self.platform_answer = Some(status);
            self.emit(TransferAction::AnswerPlatform { status });
        }
    }

    /// NOTIFYs exist only inside the subscription a 2xx to the REFER created.
    fn may_notify_platform(&self) -> bool {
        self.request.notify_platform
            && !self.platform_gone
            && self.platform_answer.is_some_and(|s| s.is_success())
    }

    fn relay_notify(&mut self, status: StatusCode, subscription_ends: bool) {
        if self.may_notify_platform() && !self.platform_subscription_ended {
            self.platform_status = Some(status);
            self.platform_subscription_ended = subscription_ends;
            self.emit(TransferAction::RelayNotify {
                status,
                subscription_ends,
            });
        }
    }

    fn notify_platform(&mut self, status: StatusCode, subscription_ends: bool) {
        if self.may_notify_platform() && !self.platform_subscription_ended {
            self.platform_status = Some(status);
            self.platform_subscription_ended = subscription_ends;
            self.emit(TransferAction::NotifyPlatform {
                status,
                subscription_ends,
            });
        }
    }

    fn start_ringback(&mut self) {
        if !self.ringback_playing && self.settings.ringback != RingbackMode::Off {
            self.ringback_playing = true;
            self.emit(TransferAction::StartRingback);
        }
    }

    fn stop_ringback(&mut self) {
        if self.ringback_playing {
            self.ringback_playing = false;
            self.emit(TransferAction::StopRingback);
        }
    }

    fn tear_down_platform(&mut self) {
        if !self.platform_gone {
            self.platform_gone = true;
            self.emit(TransferAction::TearDownPlatformLeg);
        }
    }

    /// The REFER failed (`status` is the carrier's code, or 408 for a timeout). A target
    /// handoff already dialled once (then gave way to the carrier) is not dialled again.
    ///
    /// `"reject"` means "the platform hears the code and keeps the caller". A platform that
    /// said `Refer-Sub: false` (RFC 4488: no NOTIFYs) and hung up after its 2xx can be told
    /// nothing and keeps nobody, so rejecting would only drop the caller: the local transfer
    /// runs instead (issue 10, item 5).
    fn refer_failed(&mut self, now: Time, reason: TransferReason, status: StatusCode) -> State {
        let unreachable_platform = !self.request.notify_platform
            && self.platform_gone
            && self.platform_answer.is_some_and(|s| s.is_success());
        let policy = if unreachable_platform {
            ReferFailurePolicy::Local
        } else {
            self.settings.on_refer_failure
        };
        match policy {
            ReferFailurePolicy::Local if !self.target_dialled => {
                self.accept_locally();
                self.begin_local(now, reason)
            }
            ReferFailurePolicy::Local | ReferFailurePolicy::Reject => {
                self.stop_ringback();
                if self.platform_answer.is_none() {
                    self.answer_platform(status);
                } else if reason == TransferReason::SipfragFailure {
                    self.relay_notify(status, true);
                } else {
                    self.notify_platform(status, true);
                }
                if self.platform_gone {
                    self.emit(TransferAction::ReleaseCustomerLeg);
                }
                self.finish(now, TransferOutcome::Failed, reason);
                State::Done
            }
        }
    }

    /// Starts the local transfer: INVITE the target (blind) or join the replaced call (attended).
    fn begin_local(&mut self, now: Time, reason: TransferReason) -> State {
        self.fallback_reason = reason;
        match self.kind {
            // An attempt is blind or attended; carrier-initiated REFERs never start one.
            TransferKind::Blind | TransferKind::CarrierInitiated => {
                if self.settings.ringback == RingbackMode::Local {
                    self.start_ringback();
                }
                self.target_dialled = true;
                // Leg C may ring for transfer_timeout_s at most (not a transfer = "local"
                // attempt's: that bound is the INVITE's own).
                if reason != TransferReason::LocalMethod {
                    self.arm_transfer_deadline(now);
                }
                self.emit(TransferAction::StartFallbackInvite {
                    target: self.request.refer_to.target().to_owned(),
                    target_e164: self.target_e164.clone(),
                });
                State::AwaitingFallbackAnswer
            }
            TransferKind::Attended => {
                self.stop_ringback();
                self.emit(TransferAction::StartLocalJoin);
                State::AwaitingLocalJoin
            }
        }
    }

    fn local_transfer_succeeded(&mut self, now: Time) -> State {
        self.notify_platform(StatusCode::OK, true);
        if self.kind == TransferKind::Attended {
            self.emit(TransferAction::TearDownReplacedPlatformLeg);
        }
        let reason = self.fallback_reason;
        self.finish(now, TransferOutcome::FallbackLocal, reason);
        if self.platform_gone {
            State::Done
        } else {
            let deadline = now.plus_millis(self.settings.platform_grace_ms);
            self.emit(TransferAction::ArmTimer { at: deadline });
            State::AwaitingPlatformBye { deadline }
        }
    }

    /// The target did not answer: the customer stays with the platform (if it is still there).
    fn local_transfer_failed(
        &mut self,
        now: Time,
        status: StatusCode,
        reason: TransferReason,
    ) -> State {
        self.stop_ringback();
        self.notify_platform(status, true);
        if self.platform_gone {
            self.emit(TransferAction::ReleaseCustomerLeg);
        }
        self.finish(now, TransferOutcome::Failed, reason);
        State::Done
    }

    fn finish(&mut self, now: Time, outcome: TransferOutcome, reason: TransferReason) {
        let record = TransferRecord {
            record_type: "transfer",
            ts: self.request.wall_clock.rfc3339_at(now),
            conversation: self.request.conversation.clone(),
            trunk: self.settings.trunk.clone(),
            source: self.request.source,
            kind: self.kind,
            method: self.settings.method,
            target: self.request.refer_to.target().to_owned(),
            target_e164: self.target_e164.as_ref().map(|n| n.as_str().to_owned()),
            outcome,
            refer_status: self.refer_status,
            notify_status: self.notify_status,
            fallback_status: self.fallback_status,
            reason,
            duration_ms: now.millis_since(self.started),
            diagnostics: None,
            diagnostics_truncated: false,
            hook: None,
            jurisdiction_from: None,
            jurisdiction_to: None,
            ended_by: self.ended_by,
            carrier_subscription_ended: self.carrier_subscription_ended,
            linked_conversation: None,
            requester_trunk: None,
            request: None,
            answer_status: None,
            ringback_skipped: false,
        };
        self.record = Some(record.clone());
        self.emit(TransferAction::Finished(Box::new(record)));
    }
}
