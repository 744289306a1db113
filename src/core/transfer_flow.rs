//! Blind transfers in the call layer: the platform's REFER on leg B drives a
//! [`TransferAttempt`] (src/transfer/attempt.rs), and this file turns its actions into SIP and
//! media commands, and feeds it what arrives. The REFER puts the answered call in
//! `CallPhase::Transferring` (`Call::begin_transfer`); the transfer is read through
//! `Call::transfer`/`transfer_mut` (or `CallPhase::transfer_mut` where only the phase may be
//! borrowed), and outlives the call's end in `CallPhase::Ended` until its record settles.
//!
//! Decisions:
//! - **REFER handoff.** The REFER goes to the carrier on leg A, in A's dialog (so its From is the
//!   DID the customer dialled). The platform's REFER is answered only when the attempt says so:
//!   never 2xx before the carrier's 2xx (or a decision to transfer locally).
//! - **While an attempt runs, a BYE on one leg does not end the other**: the attempt decides. A
//!   platform BYE right after the 202 leaves leg A up until the carrier releases it.
//! - **NOTIFYs from the carrier are always answered 200**, even on an ended call (a final NOTIFY
//!   overtaken by the carrier's BYE must not draw a 481 storm).
//! - **Local transfer (fallback or `transfer = "local"`)**: a new leg C is INVITEd with a
//!   G.711-only offer on a fresh port, routed as if the platform had dialled the target. When it
//!   answers, C takes leg B's place in the call (B's port is freed, the relay moves the b side to
//!   C's port), and B is kept aside as the "retired" platform leg until the platform (or
//!   handoff, after a grace period) ends it. The customer's leg A is never touched except by a
//!   re-INVITE back to G.711/sendrecv when its codec is not G.711 or it was on hold.
//! - Attended REFERs (Refer-To with `?Replaces=`) are not handled here: they keep the relay path
//!   until `attended.rs` takes them.

use std::net::SocketAddr;

use super::call::{Call, Leg, ReinviteOrigin, call_codecs};
use super::dialog::{Dialog, Side};
use super::effects::{self, ClientPurpose, CoreTimer, Effects, FollowUp, is_sdp};
use super::routing;
use super::transaction::{ClientTxId, ServerTxId};
use super::transfer_state::*;
use super::{EndReason, Event, HookAnswer, MediaCommand, MediaSide, Time};
use crate::config::{CarrierReferPolicy, HookAction, ReferHook, TransferMethod, TrunkRole};
use crate::media::g711::G711Law;
use crate::numbering::E164;
use crate::sdp::{self, Direction, OriginState, RewritePlan};
use crate::sip::{HeaderName, Message, Method, RequestBuilder};
use crate::transfer::dialog_ids::{DialogId, target_dialog_beside_replaces};
use crate::transfer::notify::{self, SIPFRAG_CONTENT_TYPE};
use crate::transfer::{
    ExtensionRoute, HookRecord, PlatformReferTo, TransferAction, TransferAttempt, TransferKind,
    TransferOutcome, TransferReason, TransferRecord, TransferRequest, TransferSettings,
};
use crate::vocab::LegId;
use crate::vocab::StatusCode;

/// How a `refer_hook` answer shapes the attempt it lets start (all empty without a hook).
#[derive(Default)]
struct HookDecision {
    /// The answer's action as a transfer method (`refer` or `local`).
    method: Option<TransferMethod>,
    /// The answer's X- headers, added to the REFER (and a local transfer's INVITE).
    headers: Vec<(String, String)>,
    record: Option<Box<HookRecord>>,
}

/// A `refer_hook` answer, read: `{"action": .., "target": .., "headers": {"X-..": ".."}}`.
struct HookVerdict {
    action: HookAction,
    target: Option<PlatformReferTo>,
    headers: Vec<(String, String)>,
}

/// Reads a hook's 2xx body. A target is a SIP/tel URI or a bare number (read as `tel:`);
/// headers must be `X-` extension headers with single-line values.
fn parse_hook_answer(body: &[u8]) -> Result<HookVerdict, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let action = value
        .get("action")
        .and_then(Value::as_str)
        .ok_or("no \"action\"")?;
    let action = HookAction::parse(action)
        .ok_or_else(|| format!("action {action:?} is not \"refer\", \"local\" or \"reject\""))?;
    let target = match value.get("target") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => {
            let text = text.trim();
            let uri = if text.contains(':') {
                text.to_owned()
            } else {
                format!("tel:{text}")
            };
            Some(PlatformReferTo::parse(&uri).map_err(|e| format!("target {text:?}: {e}"))?)
        }
        Some(_) => return Err("target is not a string".to_owned()),
    };
    let mut headers = Vec::new();
    match value.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let is_token = |b: u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
                if name.len() < 3
                    || !name[..2].eq_ignore_ascii_case("x-")
                    || !name.bytes().all(is_token)
                {
                    return Err(format!("header {name:?} is not an X- header"));
                }
                let Some(text) = value.as_str() else {
                    return Err(format!("header {name}: value is not a string"));
                };
                if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(format!("header {name}: value has a line break"));
                }
                headers.push((name.clone(), text.to_owned()));
            }
        }
        Some(_) => return Err("headers is not an object".to_owned()),
    }
    Ok(HookVerdict {
        action,
        target,
        headers,
    })
}

/// Which dialog a transfer request goes in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum TransferLeg {
    Customer,
    /// Leg B, or the retired platform leg once C took B's place.
    Platform,
    Fallback,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn header_value(message: &Message, names: &[&str]) -> Option<String> {
    message
        .headers()
        .find(|h| names.iter().any(|n| h.name.eq_ignore_ascii_case(n)))
        .map(|h| text(h.value).trim().to_string())
}

/// An Event header value of the refer package (`refer`, `refer;id=7`).
fn is_refer_event(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|package| package.trim().eq_ignore_ascii_case("refer"))
}

/// The `id` parameter of an Event header value (`refer;id=7` -> 7).
fn event_id(value: &str) -> Option<u32> {
    value.split(';').skip(1).find_map(|param| {
        let (name, id) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("id")
            .then(|| id.trim().trim_matches('"').parse().ok())?
    })
}

/// Why a carrier's REFER that its trunk relays to the platform is answered by handoff instead
/// (the same rules a platform's REFER meets): no Refer-To or more than one (400, RFC 3515
/// section 2.4.2), one that does not parse or whose `?headers` would inject (400), a `method=`
/// other than INVITE (403, section 2.4.3). `None`: relay it.
fn relayed_refer_to_refusal(request: &Message, value: &str) -> Option<(StatusCode, &'static str)> {
    if value.trim().is_empty() {
        return Some((StatusCode::BAD_REQUEST, "Bad Request (no Refer-To)"));
    }
    if refer_to_values(request) > 1 {
        return Some((
            StatusCode::BAD_REQUEST,
            "Bad Request (more than one Refer-To)",
        ));
    }
    match PlatformReferTo::parse(value) {
        Ok(refer_to) if refer_to.method().is_some_and(|m| m != "INVITE") => Some((
            StatusCode::FORBIDDEN,
            "Forbidden (Refer-To method other than INVITE)",
        )),
        Ok(_) => None,
        Err(_) => Some((StatusCode::BAD_REQUEST, "Bad Request (Refer-To)")),
    }
}

/// How many Refer-To values `request` holds: every `Refer-To`/`r` header line, and the values a
/// line lists with commas outside `<...>` and quoted strings (RFC 3261 section 7.3.1).
fn refer_to_values(request: &Message) -> usize {
    request
        .headers()
        .filter(|h| h.name.eq_ignore_ascii_case("Refer-To") || h.name.eq_ignore_ascii_case("r"))
        .map(|h| {
            let (mut values, mut angle, mut quoted, mut escaped) = (1, false, false, false);
            for &byte in h.value {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' if quoted => escaped = true,
                    b'"' if !angle => quoted = !quoted,
                    b'<' if !quoted => angle = true,
                    b'>' if !quoted => angle = false,
                    b',' if !quoted && !angle => values += 1,
                    _ => {}
                }
            }
            values
        })
        .sum()
}

/// The request's own `X-` headers a transfer carries on: not the `X-Conversation-ID` handoff
/// sets itself, not one a trunk header of the same name sets (the operator's value wins).
fn platform_x_headers(
    request: &Message,
    trunk_headers: &[(String, String)],
) -> Vec<(String, String)> {
    request
        .headers()
        .filter_map(|h| {
            let name = h.name;
            let lower = name.to_ascii_lowercase();
            let own = name.eq_ignore_ascii_case(crate::transfer::refer_to::CONVERSATION_HEADER);
            let shadowed = trunk_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name));
            (lower.starts_with("x-") && !own && !shadowed)
                .then(|| (name.to_owned(), text(h.value).trim().to_owned()))
        })
        .collect()
}

/// The status of a message/sipfrag body (`SIP/2.0 200 OK`); the parser only yields 100..=699.
fn sipfrag_status(body: &[u8]) -> Option<StatusCode> {
    Some(crate::sip::parse_sipfrag(body).ok()?.code)
}

/// The user part of the first SIP URI in a header value (`"x" <sip:+1555@h>;tag=..`).
fn uri_user(value: &str) -> Option<String> {
    let start = value.find("sip:").map(|i| i + 4)?;
    let rest = &value[start..];
    let end = rest.find('@')?;
    let user = &rest[..end];
    (!user.is_empty() && !user.contains(['<', '>', ';', ' '])).then(|| user.to_string())
}

fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

/// An in-dialog request on `dialog` (its CSeq advances).
/// `trunk`: the leg's trunk, whose `headers` a re-INVITE carries (a REFER gets them from the
/// attempt's settings, with the hook's).
fn build_in_dialog(
    dialog: &mut Dialog,
    via: &str,
    contact: &str,
    method: Method,
    extra: &[(String, String)],
    body: Option<(&str, &[u8])>,
    trunk: Option<&crate::config::Trunk>,
) -> Option<Vec<u8>> {
    let cseq = dialog.next_cseq();
    let mut builder = RequestBuilder::new(method, &dialog.remote_target)
        .header("Via", via)
        .header("Max-Forwards", "70");
    for route in &dialog.route_set {
        builder = builder.header("Route", route);
    }
    builder = builder
        .header("From", &dialog.local_party)
        .header("To", &dialog.remote_party)
        .header("Call-ID", &dialog.call_id)
        .header("CSeq", format!("{cseq} {}", method.as_str()));
    if method != Method::Bye {
        builder = builder.header("Contact", contact);
    }
    let trunk = trunk.filter(|_| method == Method::Invite);
    builder = effects::with_own_headers(builder, method, trunk, extra);
    if let Some((content_type, bytes)) = body {
        builder = builder.body(content_type, bytes);
    }
    builder.build().ok()
}

/// ACK for a 2xx with CSeq `cseq` on `leg`: the kept one for a retransmitted 2xx (`true`), or a
/// new one (`false`) the caller keeps with [`Call::keep_ack`].
fn build_ack(leg: &Leg, via: &str, cseq: u32) -> (Vec<u8>, bool) {
    if let Some(kept) = &leg.last_ack
        && let (acked, bytes) = &**kept
        && *acked == cseq
    {
        return (bytes.clone(), true);
    }
    let dialog = &leg.dialog;
    let mut builder = RequestBuilder::new(Method::Ack, &dialog.remote_target)
        .header("Via", via)
        .header("Max-Forwards", "70");
    for route in &dialog.route_set {
        builder = builder.header("Route", route);
    }
    let bytes = builder
        .header("From", &dialog.local_party)
        .header("To", &dialog.remote_party)
        .header("Call-ID", &dialog.call_id)
        .header("CSeq", format!("{cseq} ACK"))
        .build()
        .unwrap_or_default();
    (bytes, false)
}

/// What a peer's SDP says about its media.
struct PeerMedia {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    direction: Direction,
    /// The law of its first audio codec (`None`: not G.711).
    law: Option<G711Law>,
}

fn peer_media(body: &[u8], advertise: std::net::IpAddr) -> Option<PeerMedia> {
    let plan = RewritePlan {
        advertise,
        audio_ports: vec![2],
        codecs: Vec::new(),
        rtcp_mux: false,
        origin: OriginState::new(1, 1),
        username: String::new(),
    };
    let rewritten = sdp::rewrite(body, &plan).ok()?;
    let law = rewritten
        .first_audio_codec()
        .and_then(|c| G711Law::from_name(&c.name));
    Some(PeerMedia {
        rtp: rewritten.remote_rtp,
        rtcp: rewritten.remote_rtcp,
        direction: rewritten.direction,
        law,
    })
}

/// The relay's name for a leg's position.
pub(super) fn media_side(side: Side) -> MediaSide {
    match side {
        Side::A => MediaSide::A,
        Side::B => MediaSide::B,
    }
}

/// `(a, b)` from values for the carrier's and the platform's positions.
fn by_position<T>(carrier: Side, for_carrier: T, for_platform: T) -> (T, T) {
    match carrier {
        Side::A => (for_carrier, for_platform),
        Side::B => (for_platform, for_carrier),
    }
}

fn law_of(codec: Option<&str>) -> Option<G711Law> {
    codec.and_then(G711Law::from_name)
}

impl Call {
    // ------------------------------------------------------------ requests in

    /// A request in one of the call's dialogs, as the transfer sees it (see [`TransferVerdict`]).
    pub(super) fn transfer_takes_request(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        side: Side,
        method: Method,
        request: &Message,
    ) -> TransferVerdict {
        let active = self.transfer().is_some_and(|t| t.is_active());
        let from_carrier = self.transfer().map(|t| t.carrier == side);
        match (method, side) {
            (Method::Bye, _) if active && !self.is_ended() => {
                fx.reply(now, tx, request, StatusCode::OK, "OK", &[]);
                self.transfer_bye(fx, now, side);
                TransferVerdict::Answered
            }
            (Method::Notify, _)
                if from_carrier == Some(true)
                    && header_value(request, &["Event", "o"])
                        .is_some_and(|e| is_refer_event(&e)) =>
            {
                // RFC 3515 section 2.4.6: a NOTIFY names its REFER by `id=<CSeq>` (it may be
                // left out for the first REFER of a dialog). One for an older REFER (a late
                // NOTIFY of REFER #1 while REFER #2 runs) matches no subscription: 481 (RFC
                // 6665 section 4.1.3), and it drives nothing.
                let id = header_value(request, &["Event", "o"]).and_then(|e| event_id(&e));
                let ours = self.transfer().and_then(|t| t.carrier_refer);
                let matches = match (ours, id) {
                    (Some((cseq, _)), Some(id)) => id == cseq,
                    (Some((_, first)), None) => first,
                    (None, _) => false,
                };
                if !matches {
                    let status = StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST;
                    fx.reply(now, tx, request, status, status.reason_phrase(), &[]);
                    return TransferVerdict::Answered;
                }
                fx.reply(now, tx, request, StatusCode::OK, "OK", &[]);
                let terminated = header_value(request, &["Subscription-State"]).is_some_and(|v| {
                    v.split(';')
                        .next()
                        .is_some_and(|state| state.trim().eq_ignore_ascii_case("terminated"))
                });
                if active && let Some(status) = sipfrag_status(request.body()) {
                    if let Some(transfer) = self.transfer_mut() {
                        transfer.attempt.on_notify(now, status, terminated);
                    }
                    self.drive_transfer(fx, now);
                }
                TransferVerdict::Answered
            }
            // RFC 3515 section 2.4.4: "REFER is the only mechanism that can create a
            // subscription to event refer. If a SUBSCRIBE request for event refer is received
            // for a subscription that does not already exist, it MUST be rejected with a 403."
            // One that refreshes (or ends) the platform's live subscription gets 200 and a
            // NOTIFY of the current state (RFC 6665 section 4.2.1.4).
            // (A carrier whose REFERs are relayed to the platform subscribes to the platform's
            // subscription: its SUBSCRIBE is relayed like its REFER.)
            (Method::Subscribe, _)
                if header_value(request, &["Event", "o"]).is_some_and(|e| is_refer_event(&e))
                    && !self.relays_refers_of(side) =>
            {
                let id = header_value(request, &["Event", "o"]).and_then(|e| event_id(&e));
                let requested =
                    header_value(request, &["Expires"]).and_then(|v| v.parse::<u32>().ok());
                let live = self.transfer().is_some_and(|t| {
                    t.platform_side() == side
                        && !t.swapped()
                        && t.attempt.platform_subscribed()
                        && match id {
                            Some(id) => id == t.platform_refer_cseq,
                            None => !t.platform_event_id,
                        }
                });
                if !live {
                    let reason = "Forbidden (no such refer subscription)";
                    fx.reply(now, tx, request, StatusCode::FORBIDDEN, reason, &[]);
                    return TransferVerdict::Answered;
                }
                let ours = self
                    .transfer()
                    .map_or(0, |t| t.attempt.subscription_expires_s());
                let expires = requested.map_or(ours, |r| r.min(ours));
                let extra = [("Expires", expires.to_string())];
                fx.reply(now, tx, request, StatusCode::OK, "OK", &extra);
                if let Some(transfer) = self.transfer_mut() {
                    transfer.attempt.on_platform_subscribe(expires);
                }
                self.drive_transfer(fx, now);
                TransferVerdict::Answered
            }
            (Method::Refer, _) => {
                if self.is_ended() || !self.is_answered() {
                    return TransferVerdict::NotTransfer;
                }
                // Each REFER of this dialog counts once (RFC 3515 section 2.4.6): one held for
                // another shard's answer comes through here again with its CSeq, and one sent
                // outside the dialog (RFC 5589 section 6.1) is the first of its own dialog.
                let cseq = request.cseq().map_or(0, |c| c.seq);
                let in_this_dialog = request.to().ok().and_then(|to| to.tag()).is_some();
                let leg = self.leg_mut(side);
                if in_this_dialog && leg.last_refer_cseq != Some(cseq) {
                    leg.last_refer_cseq = Some(cseq);
                    leg.refers_received = leg.refers_received.saturating_add(1);
                }
                // Roles, not positions: a platform leg asks, the carrier leg bridged to it is
                // transferred. Anything else is refused here (see `refer_by_role`).
                let (asker, bridged) = (self.leg(side).role, self.leg(side.other()).role);
                if !(asker == TrunkRole::Platform && bridged == TrunkRole::Carrier) {
                    return self.refer_not_from_platform(fx, now, tx, side, request);
                }
                if active && self.transfer().is_some_and(|t| t.carrier == side) {
                    fx.reply(
                        now,
                        tx,
                        request,
                        StatusCode::REQUEST_PENDING,
                        "Request Pending",
                        &[],
                    );
                    return TransferVerdict::Answered;
                }
                let Some(value) = header_value(request, &["Refer-To", "r"]) else {
                    fx.reply(
                        now,
                        tx,
                        request,
                        StatusCode::BAD_REQUEST,
                        "Bad Request (no Refer-To)",
                        &[],
                    );
                    return TransferVerdict::Answered;
                };
                // RFC 3515 section 2.4.1: "A REFER request MUST contain exactly one Refer-To
                // header field value." Section 2.4.2: "An agent responding to a REFER method
                // MUST return a 400 (Bad Request) if the request contained zero or more than
                // one Refer-To header field values."
                if refer_to_values(request) > 1 {
                    fx.reply(
                        now,
                        tx,
                        request,
                        StatusCode::BAD_REQUEST,
                        "Bad Request (more than one Refer-To)",
                        &[],
                    );
                    return TransferVerdict::Answered;
                }
                match PlatformReferTo::parse(&value) {
                    // RFC 3515 section 2.4.3: "if the URI is a SIP URI indicating INVITE (using
                    // a method=INVITE URI parameter for example), the UA would issue a new
                    // INVITE"; handoff refers INVITE only, and section 2.4.2 lets it decline by
                    // policy ("the UA MAY decline the request"): a `method=BYE` (or SUBSCRIBE,
                    // RFC 3515 section 2.1's example) Refer-To never becomes a request.
                    Ok(refer_to) if refer_to.method().is_some_and(|m| m != "INVITE") => {
                        let reason = "Forbidden (Refer-To method other than INVITE)";
                        fx.reply(now, tx, request, StatusCode::FORBIDDEN, reason, &[]);
                        TransferVerdict::Answered
                    }
                    Ok(refer_to) => TransferVerdict::PlatformRefer(refer_to),
                    Err(error) => {
                        let reason = format!("Bad Request (Refer-To: {error})");
                        fx.reply(now, tx, request, StatusCode::BAD_REQUEST, &reason, &[]);
                        TransferVerdict::Answered
                    }
                }
            }
            _ => TransferVerdict::NotTransfer,
        }
    }

    /// REFERs from the leg at `side` are relayed to the platform bridged to it (a carrier leg
    /// whose trunk says `carrier_refer = "relay"`), and so is the subscription they create.
    fn relays_refers_of(&self, side: Side) -> bool {
        let (asker, bridged) = (self.leg(side), self.leg(side.other()));
        asker.role == TrunkRole::Carrier
            && bridged.role == TrunkRole::Platform
            && self
                .config
                .trunks
                .get(asker.trunk)
                .is_some_and(|t| t.carrier_refer == CarrierReferPolicy::Relay)
    }

    /// The platform's REFER, checked by [`Call::transfer_takes_request`] (and, when attended,
    /// translated by attended.rs): starts the transfer unless it is out of order or one runs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept_platform_refer(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        side: Side,
        request: &Message,
        refer_to: PlatformReferTo,
        translated: TranslatedDialogs,
    ) {
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        // An out-of-dialog REFER has its own CSeq space (the dialog it creates), not the leg's.
        let in_dialog = translated.subscription.is_none();
        if in_dialog && !self.leg_mut(side).dialog.accept_remote_cseq(cseq) {
            let reason = "Server Internal Error (CSeq out of order)";
            fx.reply(
                now,
                tx,
                request,
                StatusCode::SERVER_INTERNAL_ERROR,
                reason,
                &[],
            );
            return;
        }
        if self.transfer().is_some_and(|t| t.is_active()) || self.refer_hook.is_some() {
            fx.reply(
                now,
                tx,
                request,
                StatusCode::REQUEST_PENDING,
                "Request Pending",
                &[],
            );
            return;
        }
        self.start_transfer(fx, now, tx, side.other(), request, refer_to, translated);
    }

    /// A REFER from a leg that is not a platform leg bridged to a carrier leg. A carrier's REFER
    /// follows its trunk's `carrier_refer` (reject: 403 here; relay: the B2BUA relays it with
    /// [`Call::carrier_refer_to`]'s Refer-To); between legs of one role it gets 403. Either way
    /// the attempt is on record.
    fn refer_not_from_platform(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        side: Side,
        request: &Message,
    ) -> TransferVerdict {
        let (asker, bridged) = (self.leg(side), self.leg(side.other()));
        let trunk = self.config.trunks.get(asker.trunk);
        let relay = asker.role == TrunkRole::Carrier
            && bridged.role == TrunkRole::Platform
            && trunk.is_some_and(|t| t.carrier_refer == CarrierReferPolicy::Relay);
        let target = header_value(request, &["Refer-To", "r"]).unwrap_or_default();
        // A REFER to relay is held to the rules of one from the platform (RFC 3515 2.4.1-2.4.3):
        // a Refer-To handoff cannot read, or one that would inject headers, is not passed on.
        let refusal = if relay {
            relayed_refer_to_refusal(request, &target)
        } else {
            None
        };
        let relay = relay && refusal.is_none();
        if !relay {
            // handoff answers it below, on this record (a relayed REFER's answer is the
            // platform's, relayed as is).
            fx.refer_audited.insert(tx);
        }
        let ladder_opened = self.open_ladder(fx, now, tx, request);
        let mut record = TransferRecord {
            record_type: "transfer",
            ts: fx.wall_clock.rfc3339_at(now),
            conversation: self.conversation.clone(),
            trunk: trunk.map(|t| t.name.clone()).unwrap_or_default(),
            source: fx.txn.server_peer(tx),
            kind: TransferKind::CarrierInitiated,
            method: TransferMethod::Refer,
            target,
            target_e164: None,
            outcome: if relay {
                TransferOutcome::Relayed
            } else if refusal.is_some() {
                TransferOutcome::Refused
            } else {
                TransferOutcome::Failed
            },
            refer_status: (!relay && refusal.is_none()).then_some(StatusCode::FORBIDDEN),
            notify_status: None,
            fallback_status: None,
            reason: match (relay, asker.role == bridged.role) {
                _ if refusal.is_some() => TransferReason::RequestRefused,
                (true, _) => TransferReason::RelayedToPlatform,
                (false, true) => TransferReason::ReferBetweenSameRoleTrunks,
                (false, false) => TransferReason::CarrierReferRejected,
            },
            duration_ms: 0,
            diagnostics: None,
            diagnostics_truncated: false,
            hook: None,
            jurisdiction_from: None,
            jurisdiction_to: None,
            ended_by: None,
            carrier_subscription_ended: false,
            linked_conversation: self.linked_conversation.clone(),
            requester_trunk: trunk.map(|t| t.name.clone()),
            request: None,
            answer_status: refusal.map(|(status, _)| status),
            ringback_skipped: false,
        };
        let verdict = if relay {
            TransferVerdict::NotTransfer
        } else if let Some((status, reason)) = refusal {
            fx.reply(now, tx, request, status, reason, &[]);
            TransferVerdict::Answered
        } else {
            let reason = "Forbidden (REFER not accepted from this trunk)";
            fx.reply(now, tx, request, StatusCode::FORBIDDEN, reason, &[]);
            TransferVerdict::Answered
        };
        // The REFER and handoff's 403 (a relayed REFER's fate is the platform's).
        if ladder_opened && let Some(ladder) = fx.ladders.close(self.id.seq) {
            record.diagnostics = Some(ladder.entries);
            record.diagnostics_truncated = ladder.truncated;
        }
        fx.event(Event::Transfer(Box::new(record)));
        verdict
    }

    /// The Refer-To a carrier's relayed REFER carries to the platform leg bridged to it: the
    /// same target at that leg's trunk `refer_domain`. `None` when the REFER is not one to relay.
    pub(super) fn carrier_refer_to(
        &self,
        side: Side,
        request: &Message,
    ) -> Option<(String, String)> {
        let (asker, bridged) = (self.leg(side), self.leg(side.other()));
        if asker.role != TrunkRole::Carrier || bridged.role != TrunkRole::Platform {
            return None;
        }
        let value = header_value(request, &["Refer-To", "r"])?;
        let trunk = self.config.trunks.get(bridged.trunk)?;
        let refer_to = PlatformReferTo::parse(&value).ok()?;
        let rewritten = crate::transfer::refer_to::carrier_refer_to(&refer_to, trunk, None).ok()?;
        Some((value, format!("<{}>", rewritten.uri)))
    }

    /// A request on leg `leg` of this call, a leg outside the bridge. The retired platform leg's
    /// BYE (after a local transfer) is answered here, and the leg leaves the dialog index; `false`
    /// for anything else.
    pub(super) fn retired_leg_request(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        leg: LegId,
        request: &Message,
    ) -> bool {
        let retired = self.position_of(leg).is_none()
            && self.transfer().and_then(|t| t.retired_platform) == Some(leg);
        if !retired || request.method() != Some(Method::Bye) {
            return false;
        }
        fx.reply(now, tx, request, StatusCode::OK, "OK", &[]);
        if let Some(retired) = self.leg_by_id_mut(leg) {
            retired.gone = true;
            fx.dialogs.remove(&retired.dialog.local_tag);
        }
        if let Some(transfer) = self.transfer_mut() {
            transfer.platform_gone = true;
            transfer.attempt.on_transferor_bye(now);
        }
        self.drive_transfer(fx, now);
        true
    }

    /// `translated`: what an attended REFER names, already translated for the carrier (see
    /// attended.rs); empty for a blind REFER. When the platform trunk has a `refer_hook`, the
    /// hook is asked first and the REFER waits (see [`Call::on_hook_answer`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_transfer(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        carrier_side: Side,
        request: &Message,
        refer_to: PlatformReferTo,
        translated: TranslatedDialogs,
    ) {
        // This REFER's record is the attempt's (or the hook's refusal): `Effects::respond`
        // writes no refusal record for it.
        fx.refer_audited.insert(tx);
        let platform_trunk = self.config.trunks.get(self.leg(carrier_side.other()).trunk);
        if let Some(hook) = platform_trunk.and_then(|t| t.refer_hook.clone()) {
            self.ask_refer_hook(
                fx,
                now,
                tx,
                carrier_side,
                request,
                refer_to,
                translated,
                &hook,
            );
            return;
        }
        self.begin_attempt(
            fx,
            now,
            tx,
            carrier_side,
            request,
            refer_to,
            translated,
            HookDecision::default(),
        );
    }

    /// Holds the platform's REFER (its server transaction open, nothing to the carrier) and
    /// asks the platform trunk's `refer_hook` (`Output::ReferHook`), with a deadline of its
    /// `timeout_ms` so a lost answer never holds it longer.
    #[allow(clippy::too_many_arguments)]
    fn ask_refer_hook(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        carrier_side: Side,
        request: &Message,
        refer_to: PlatformReferTo,
        translated: TranslatedDialogs,
        hook: &ReferHook,
    ) {
        let (customer, platform) = (self.leg(carrier_side), self.leg(carrier_side.other()));
        let trunk_name = |index: usize| {
            self.config
                .trunks
                .get(index)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        };
        let country = self
            .config
            .trunks
            .get(customer.trunk)
            .map(|t| t.country_code.clone())
            .unwrap_or_default();
        let transferee_uri =
            crate::numbering::e164_from_uri(&customer.dialog.remote_party, &country)
                .ok()
                .map(|n| n.to_string());
        let transferee = transferee_uri
            .or_else(|| uri_user(&customer.dialog.remote_party))
            .unwrap_or_else(|| customer.dialog.remote_party.clone());
        let body = serde_json::json!({
            "conversation": self.conversation,
            "transferor": header_value(request, &["Referred-By", "b"])
                .unwrap_or_else(|| platform.dialog.remote_party.clone()),
            "transferee": transferee,
            "refer_target": refer_to.target(),
            "refer_target_e164": refer_to.e164(&country).ok().map(|n| n.to_string()),
            "kind": if refer_to.is_attended() { "attended" } else { "blind" },
            "trunk": trunk_name(platform.trunk),
            "carrier": trunk_name(customer.trunk),
            "replaces": refer_to.replaces_escaped(),
        })
        .to_string();
        fx.hook_requests += 1;
        let request_id = fx.hook_requests;
        fx.set_timer(
            now.plus_millis(hook.timeout_ms),
            CoreTimer::ReferHook { call: self.id.seq },
        );
        fx.outputs.push_back(super::Output::ReferHook {
            call: self.id,
            request_id,
            url: hook.url.clone(),
            body,
            timeout: std::time::Duration::from_millis(hook.timeout_ms),
        });
        self.refer_hook = Some(Box::new(PendingHook {
            request_id,
            url: hook.url.clone(),
            on_error: hook.on_error,
            started: now,
            tx,
            carrier_side,
            request: request.as_bytes().to_vec(),
            refer_to,
            translated,
        }));
    }

    /// What came of the `refer_hook` call `request_id` (`None`: its deadline passed first).
    /// The answer's action, or the trunk's `on_error` when the call failed, decides the held
    /// REFER: `refer` and `local` start the transfer (with the answer's target and X- headers),
    /// `reject` answers 403 and leaves the call as it was. Each outcome is on the record.
    pub(super) fn on_hook_answer(
        &mut self,
        fx: &mut Effects,
        now: Time,
        request_id: u64,
        answer: Option<HookAnswer>,
    ) {
        if self.refer_hook.as_ref().map(|h| h.request_id) != Some(request_id) {
            return;
        }
        let Some(pending) = self.refer_hook.take() else {
            return;
        };
        let pending = *pending;
        let (status, decided) = match answer {
            None => (None, Err("timeout".to_owned())),
            Some(HookAnswer::Failed(error)) => (None, Err(format!("connection: {error}"))),
            Some(HookAnswer::Response { status, .. }) if !(200..300).contains(&status) => {
                (Some(status), Err(format!("status {status}")))
            }
            Some(HookAnswer::Response { status, body }) => (
                Some(status),
                parse_hook_answer(&body).map_err(|e| format!("bad answer: {e}")),
            ),
        };
        let (decision, error) = match decided {
            Ok(decision) => (decision, None),
            Err(error) => (
                HookVerdict {
                    action: pending.on_error,
                    target: None,
                    headers: Vec::new(),
                },
                Some(error),
            ),
        };
        let record = HookRecord {
            url: pending.url,
            status,
            action: decision.action.as_str(),
            error,
            duration_ms: now.millis_since(pending.started),
        };
        let Ok(request) = Message::parse_framing(&pending.request) else {
            return;
        };
        if self.is_ended() || !self.is_answered() {
            fx.reply(
                now,
                pending.tx,
                &request,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                "Call/Transaction Does Not Exist (call ended)",
                &[],
            );
            return;
        }
        match decision.action {
            HookAction::Reject => self.hook_rejected(
                fx,
                now,
                pending.tx,
                pending.carrier_side,
                &request,
                &pending.refer_to,
                record,
            ),
            action => {
                let method = if action == HookAction::Local {
                    TransferMethod::Local
                } else {
                    TransferMethod::Refer
                };
                let refer_to = decision.target.unwrap_or(pending.refer_to);
                self.begin_attempt(
                    fx,
                    now,
                    pending.tx,
                    pending.carrier_side,
                    &request,
                    refer_to,
                    pending.translated,
                    HookDecision {
                        method: Some(method),
                        headers: decision.headers,
                        record: Some(Box::new(record)),
                    },
                );
            }
        }
    }

    /// The hook refused the REFER: 403 to the platform, nothing to the carrier, the call stays
    /// bridged as it was; a `transfer` record says so.
    #[allow(clippy::too_many_arguments)]
    fn hook_rejected(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        carrier_side: Side,
        request: &Message,
        refer_to: &PlatformReferTo,
        hook: HookRecord,
    ) {
        let reason = "Forbidden (transfer refused by the REFER hook)";
        fx.reply(now, tx, request, StatusCode::FORBIDDEN, reason, &[]);
        let carrier = self.config.trunks.get(self.leg(carrier_side).trunk);
        let record = TransferRecord {
            record_type: "transfer",
            ts: fx.wall_clock.rfc3339_at(now),
            conversation: self.conversation.clone(),
            trunk: carrier.map(|t| t.name.clone()).unwrap_or_default(),
            source: fx.txn.server_peer(tx),
            kind: if refer_to.is_attended() {
                TransferKind::Attended
            } else {
                TransferKind::Blind
            },
            method: carrier.map_or(TransferMethod::Refer, |t| t.transfer),
            target: refer_to.target().to_owned(),
            target_e164: carrier
                .and_then(|t| refer_to.e164(&t.country_code).ok())
                .map(|n| n.to_string()),
            outcome: TransferOutcome::Denied,
            refer_status: None,
            notify_status: None,
            fallback_status: None,
            reason: TransferReason::HookRejected,
            duration_ms: hook.duration_ms,
            diagnostics: None,
            diagnostics_truncated: false,
            hook: Some(Box::new(hook)),
            jurisdiction_from: None,
            jurisdiction_to: None,
            ended_by: None,
            carrier_subscription_ended: false,
            linked_conversation: self.linked_conversation.clone(),
            requester_trunk: Some(self.trunk_name(carrier_side.other())),
            request: None,
            answer_status: None,
            ringback_skipped: false,
        };
        fx.metrics.record_transfer(&record);
        fx.event(Event::Transfer(Box::new(record)));
    }

    /// Starts the transfer attempt for a platform REFER (decided by the hook, when there is
    /// one: `hook` says how).
    #[allow(clippy::too_many_arguments)]
    fn begin_attempt(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        carrier_side: Side,
        request: &Message,
        refer_to: PlatformReferTo,
        translated: TranslatedDialogs,
        hook: HookDecision,
    ) {
        let identity = effects::contact(&self.config);
        let wall_clock = fx.wall_clock;
        let Some(carrier) = self.config.trunks.get(self.leg(carrier_side).trunk) else {
            return;
        };
        let mut settings = TransferSettings::for_call(carrier, &self.config.sbc);
        let platform = self.leg(carrier_side.other());
        if let Some(trunk) = self.config.trunks.get(platform.trunk) {
            settings.accept_status = trunk.refer_response;
        }
        // NOTIFYs in an out-of-dialog REFER's own dialog: the first REFER there, no id.
        let platform_event_id = translated.subscription.is_none() && platform.refers_received > 1;
        let platform_refer_cseq = request.cseq().map_or(0, |c| c.seq);
        if let Some(method) = hook.method {
            settings.method = method;
        }
        settings.headers.extend(hook.headers);
        // The platform's own X- headers (CTI data) go on the carrier REFER and the local INVITE.
        let x_headers = platform_x_headers(request, &settings.headers);
        settings.headers.extend(x_headers.iter().cloned());
        // Leg C's INVITE: handoff negotiates extensions itself (a Require beside a Replaces
        // belongs to the carrier's INVITE, RFC 5589 section 7.5, not to a blind fallback).
        let mut carried: Vec<(String, String)> = refer_to
            .carried_headers()
            .into_iter()
            .filter(|(name, _)| {
                !["require", "proxy-require"].contains(&name.to_ascii_lowercase().as_str())
            })
            .collect();
        carried.extend(x_headers);
        let extension = match refer_to.e164(&carrier.country_code) {
            Ok(_) => ExtensionRoute::NoRoute,
            Err(_) => self.extension_route(carrier_side, &refer_to),
        };
        let no_subscription =
            header_value(request, &["Refer-Sub"]).is_some_and(|v| v.eq_ignore_ascii_case("false"));
        // Target-Dialog toward the carrier only where it helps: beside a Replaces naming another
        // dialog, and then written by handoff for the customer's leg (never the platform's value,
        // whose identifiers the carrier must not see).
        let customer_dialog = &self.leg(carrier_side).dialog;
        let target_dialog = translated.replaces.as_deref().and_then(|replaces| {
            let ours = DialogId::new(
                &customer_dialog.call_id,
                &customer_dialog.local_tag,
                customer_dialog.remote_tag.clone()?,
            );
            target_dialog_beside_replaces(&ours, replaces)
        });
        let transfer_request = TransferRequest {
            conversation: self.conversation.clone(),
            refer_to,
            translated_replaces: translated.replaces,
            referred_by: header_value(request, &["Referred-By", "b"]),
            // RFC 3325: carried to the carrier only within the trust domain.
            p_asserted_identity: header_value(request, &["P-Asserted-Identity"])
                .filter(|_| self.identity_trusted()),
            handoff_identity: identity,
            notify_platform: !no_subscription,
            wall_clock,
            source: fx.txn.server_peer(tx),
            extension,
        };
        let customer_law = law_of(self.audio_codec.as_deref()).unwrap_or(G711Law::Ulaw);
        let attempt = TransferAttempt::start(now, transfer_request, settings);
        self.begin_transfer(Box::new(CallTransfer {
            attempt,
            carrier: carrier_side,
            refer: tx,
            refer_request: request.as_bytes().to_vec(),
            no_subscription,
            platform_refer_cseq,
            platform_event_id,
            carrier_refer: None,
            carrier_left: None,
            customer_law,
            ringback_codec: self.g711,
            ringback_skipped: false,
            requester_trunk: self.trunk_name(carrier_side.other()),
            fallback: None,
            retired_platform: None,
            platform_gone: false,
            early_media: false,
            release_customer: false,
            outcome: None,
            bridged_law: None,
            target_dialog,
            subscription: translated.subscription,
            join: None,
            jurisdiction: None,
            hook: hook.record,
            carried,
        }));
        self.open_ladder(fx, now, tx, request);
        self.drive_transfer(fx, now);
    }

    /// What the route table makes of a transfer target that is not a number, routed from the
    /// platform leg's trunk as handoff's own INVITE would be (see `start_fallback`). A trunk with
    /// a destination policy only takes E.164 numbers it allows: a non-number could be anything
    /// to it (`sip:1900555l234@x`, `0019005551234`), so it is denied there.
    fn extension_route(&self, carrier_side: Side, refer_to: &PlatformReferTo) -> ExtensionRoute {
        let platform = self.leg(carrier_side.other()).trunk;
        let user = refer_to.user();
        match routing::route_transfer_target(
            &self.config,
            platform,
            user.as_deref(),
            refer_to.host(),
        ) {
            Err(_) => ExtensionRoute::NoRoute,
            Ok(route) => match self.config.trunks.get(route.to_trunk) {
                Some(trunk)
                    if trunk.transfer_targets.allow.is_empty()
                        && trunk.transfer_targets.deny.is_empty() =>
                {
                    ExtensionRoute::Routed
                }
                Some(_) => ExtensionRoute::Denied,
                None => ExtensionRoute::NoRoute,
            },
        }
    }

    /// Starts the transfer's SIP ladder (`ladders.rs`): every leg of the call is watched, and
    /// the request that began it is its first entry. False when another attempt's ladder is
    /// open on the call (it goes on; this request is on it already).
    fn open_ladder(&self, fx: &mut Effects, now: Time, tx: ServerTxId, request: &Message) -> bool {
        let local = SocketAddr::new(self.config.sbc.advertise, self.config.sbc.listen.port());
        let trunk_name = |leg: &super::leg::Leg| {
            self.config
                .trunks
                .get(leg.trunk)
                .map_or("", |t| t.name.as_str())
        };
        let legs: Vec<(&str, &str)> = self
            .legs
            .iter()
            .filter(|leg| !leg.gone)
            .map(|leg| (leg.dialog.call_id.as_str(), trunk_name(leg)))
            .collect();
        let opened = fx
            .ladders
            .open(now, self.id.seq, local, self.config.sbc.audit_bodies, legs);
        if opened && let Some(source) = fx.txn.server_peer(tx) {
            fx.ladders
                .tap(crate::transfer::Direction::In, source, request.as_bytes());
        }
        opened
    }

    /// A BYE (already answered 200) on leg `side` while the call's transfer is active.
    fn transfer_bye(&mut self, fx: &mut Effects, now: Time, side: Side) {
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        let swapped = transfer.swapped();
        let carrier = transfer.carrier;
        let from_carrier = side == carrier;
        let joining = transfer.join.is_some();
        if from_carrier {
            transfer.attempt.on_bye_from_carrier(now);
        } else if !swapped {
            transfer.platform_gone = true;
            transfer.attempt.on_transferor_bye(now);
        }
        // Else leg C (in the platform's place) hung up: the call ends as any call would.
        self.drive_transfer(fx, now);
        if self.is_ended() {
            return;
        }
        let positional = EndReason::bye_from(side);
        // The carrier's BYE overtook its final NOTIFY, perhaps: the call ends with the
        // attempt's outcome (`drive_transfer`), within late_notify_grace_ms.
        if from_carrier
            && let Some(transfer) = self.transfer_mut()
            && transfer.attempt.awaiting_late_notify()
        {
            transfer.carrier_left = Some(positional);
            return;
        }
        if from_carrier {
            // Leg C in the platform's place, or a local join's platform leg still there: it
            // goes with the customer.
            let platform_left = self
                .transfer_mut()
                .is_some_and(|t| joining && !std::mem::replace(&mut t.platform_gone, true));
            if swapped || platform_left {
                self.send_bye(fx, now, carrier.other());
            }
            let handed_off = self
                .transfer()
                .is_some_and(|t| t.outcome == Some(TransferOutcome::HandedOff));
            let reason = if handed_off {
                EndReason::HandedOff
            } else {
                positional
            };
            self.end(fx, now, reason, None);
        } else if swapped {
            self.send_bye(fx, now, carrier);
            self.end(fx, now, positional, None);
        }
    }

    // ----------------------------------------------------------- responses in

    pub(super) fn on_transfer_response(
        &mut self,
        fx: &mut Effects,
        now: Time,
        what: TransferTx,
        status: StatusCode,
        response: &Message,
    ) {
        match what {
            TransferTx::Refer => {
                if status.is_final() {
                    if let Some(transfer) = self.transfer_mut() {
                        transfer.attempt.on_refer_response(now, status);
                    }
                    self.drive_transfer(fx, now);
                }
            }
            TransferTx::FallbackInvite => self.on_fallback_response(fx, now, status, response),
            TransferTx::CustomerReinvite => {
                if status.is_provisional() {
                    return;
                }
                self.reinvite_pending = false;
                if status.is_success() {
                    self.own_reinvite_succeeded();
                    self.on_customer_reinvite_answer(fx, now, response);
                } else if let Some(carrier) = self.transfer().map(|t| t.carrier) {
                    // Glare (491) or a transient 500: retried after the RFC's delay (glare.rs).
                    self.own_reinvite_failed(
                        fx,
                        now,
                        carrier,
                        ReinviteOrigin::Customer,
                        status,
                        Some(response),
                    );
                }
            }
            TransferTx::PlatformNotify | TransferTx::LegBye => {}
        }
    }

    /// A transfer transaction got no final response.
    pub(super) fn on_transfer_timeout(&mut self, fx: &mut Effects, now: Time, what: TransferTx) {
        match what {
            TransferTx::Refer => {
                if let Some(transfer) = self.transfer_mut() {
                    transfer
                        .attempt
                        .on_refer_response(now, StatusCode::REQUEST_TIMEOUT);
                }
                self.drive_transfer(fx, now);
            }
            TransferTx::FallbackInvite => {
                self.fallback_failed(fx, now, StatusCode::REQUEST_TIMEOUT)
            }
            TransferTx::CustomerReinvite => {
                self.reinvite_pending = false;
                if let Some(carrier) = self.transfer().map(|t| t.carrier) {
                    self.own_reinvite_failed(
                        fx,
                        now,
                        carrier,
                        ReinviteOrigin::Customer,
                        StatusCode::REQUEST_TIMEOUT,
                        None,
                    );
                }
            }
            TransferTx::PlatformNotify | TransferTx::LegBye => {}
        }
    }

    /// A retransmitted 2xx to one of the transfer's INVITEs: ACK it again.
    pub(super) fn reack_transfer(
        &mut self,
        fx: &mut Effects,
        now: Time,
        what: TransferTx,
        response: &Message,
    ) {
        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
        match what {
            TransferTx::CustomerReinvite => {
                if let Some(carrier) = self.transfer_mut().map(|t| t.carrier) {
                    self.send_ack(fx, now, carrier, cseq, None);
                }
            }
            TransferTx::FallbackInvite => {
                let branch = fx.ids.branch();
                let via = effects::via(&self.config, &branch);
                let Some(platform) = self.transfer().map(|t| t.platform_side()) else {
                    return;
                };
                // Leg C until it is bridged, then the leg at the platform's position (C too).
                let leg_c = self
                    .transfer()
                    .and_then(|t| t.fallback.as_ref())
                    .map(|f| f.leg);
                let id = leg_c
                    .filter(|id| self.leg_by_id(*id).is_some())
                    .unwrap_or_else(|| self.leg_id(platform));
                let Some(leg) = self.leg_by_id(id) else {
                    return;
                };
                let (to, (ack, kept)) = (leg.dialog.peer, build_ack(leg, &via, cseq));
                fx.transmit(to, ack.clone());
                if !kept {
                    self.keep_ack(fx, now, id, cseq, ack);
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_transfer_timer(&mut self, fx: &mut Effects, now: Time) {
        if let Some(transfer) = self.transfer_mut() {
            transfer.attempt.on_timer(now);
        }
        self.drive_transfer(fx, now);
    }

    /// The call ended (by the transfer, or another path: drain, ACK timeout...): leg C goes too,
    /// and an attempt still running learns that both parties are gone (its record is written).
    /// After a local transfer the retired platform leg keeps its grace timer.
    pub(super) fn transfer_ended(&mut self, fx: &mut Effects, now: Time) {
        self.abandon_fallback(fx, now);
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        if transfer.is_active() && !transfer.swapped() {
            transfer.platform_gone = true;
            transfer.attempt.on_transferor_bye(now);
            transfer.attempt.on_bye_from_carrier(now);
            self.drive_transfer(fx, now);
        }
    }

    /// Give up leg C: CANCEL its INVITE and free its port (a late 2xx is ACKed and BYEd). If the
    /// call goes on (the carrier took the transfer over), the relay leaves leg C's early media.
    fn abandon_fallback(&mut self, fx: &mut Effects, now: Time) {
        let call = &mut *self;
        let Some(transfer) = call.transfer_mut() else {
            return;
        };
        let Some(fallback) = transfer.fallback.as_mut() else {
            return;
        };
        if fallback.abandoned {
            return;
        }
        fallback.abandoned = true;
        let (client, leg_c) = (fallback.client, fallback.leg);
        let restore = std::mem::take(&mut transfer.early_media);
        let port = self
            .leg_by_id_mut(leg_c)
            .and_then(|leg| leg.media_port.take());
        fx.txn.cancel(now, client);
        if let Some(port) = port {
            let _ = fx.pool.release(port);
        }
        if restore && !self.is_ended() {
            let law = law_of(self.audio_codec.as_deref());
            let (id, a, b) = {
                let (a, b) = self.media_pair();
                (self.id, a, b)
            };
            fx.media(MediaCommand::Update { call: id, a, b });
            fx.media(MediaCommand::SetLaws {
                call: id,
                a: law,
                b: law,
            });
        }
    }

    // ---------------------------------------------------------- the actions

    /// Perform every action the attempt asked for.
    pub(super) fn drive_transfer(&mut self, fx: &mut Effects, now: Time) {
        while let Some(action) = self.transfer_mut().and_then(|t| t.attempt.poll_action()) {
            self.perform(fx, now, action);
        }
        // A local join releases the customer at once; a REFER's attempt once it has its outcome.
        let release = self.transfer_mut().is_some_and(|t| {
            std::mem::take(&mut t.release_customer) && (t.outcome.is_some() || t.join.is_some())
        });
        if let Some(transfer) = self.transfer()
            && transfer.join.is_some()
            && !transfer.is_active()
        {
            fx.follow_up(FollowUp::TransferSettled { call: self.id.seq });
        }
        // The carrier left before its final word: end the call once the attempt decided.
        if let Some(transfer) = self.transfer_mut()
            && transfer.outcome.is_some()
            && let Some(positional) = transfer.carrier_left.take()
            && !self.is_ended()
        {
            let handed_off = self
                .transfer()
                .is_some_and(|t| t.outcome == Some(TransferOutcome::HandedOff));
            let reason = if handed_off {
                EndReason::HandedOff
            } else {
                positional
            };
            self.end(fx, now, reason, None);
            return;
        }
        if release && !self.is_ended() {
            let handed_off = self
                .transfer_mut()
                .is_some_and(|t| t.outcome == Some(TransferOutcome::HandedOff));
            let reason = if handed_off {
                EndReason::HandedOff
            } else {
                EndReason::TransferFailed
            };
            self.end(fx, now, reason, None);
        }
    }

    fn perform(&mut self, fx: &mut Effects, now: Time, action: TransferAction) {
        match action {
            TransferAction::SendRefer { refer_to, headers } => {
                let mut extra = vec![("Refer-To".to_string(), refer_to)];
                extra.extend(headers);
                if let Some(target_dialog) =
                    self.transfer_mut().and_then(|t| t.target_dialog.clone())
                {
                    extra.push(("Target-Dialog".to_string(), target_dialog));
                }
                let Some(carrier) = self.transfer().map(|t| t.carrier) else {
                    return;
                };
                let leg = self.leg_mut(carrier);
                leg.refers_sent = leg.refers_sent.saturating_add(1);
                let first = leg.refers_sent == 1;
                let sent = self.transfer_request(
                    fx,
                    now,
                    TransferLeg::Customer,
                    Method::Refer,
                    &extra,
                    None,
                    TransferTx::Refer,
                );
                let cseq = self.leg(carrier).dialog.local_cseq;
                if let Some(transfer) = self.transfer_mut() {
                    transfer.carrier_refer = Some((cseq, first));
                }
                if sent.is_none()
                    && let Some(transfer) = self.transfer_mut()
                {
                    transfer
                        .attempt
                        .on_refer_response(now, StatusCode::SERVICE_UNAVAILABLE);
                }
            }
            TransferAction::AnswerPlatform { status } => self.answer_platform(fx, now, status),
            TransferAction::RelayNotify {
                status,
                subscription_ends,
            }
            | TransferAction::NotifyPlatform {
                status,
                subscription_ends,
            } => {
                let Some(transfer) = self.transfer() else {
                    return;
                };
                // RFC 3515 section 2.4.6: from the second REFER of the dialog on, the id.
                let event = match transfer.platform_event_id {
                    true => notify::refer_event_with_id(transfer.platform_refer_cseq),
                    false => notify::REFER_EVENT.to_string(),
                };
                let expires = transfer.attempt.subscription_expires_s();
                let extra = vec![
                    ("Event".to_string(), event),
                    (
                        "Subscription-State".to_string(),
                        notify::subscription_state(subscription_ends, expires),
                    ),
                ];
                let body = notify::sipfrag_body(status);
                self.transfer_request(
                    fx,
                    now,
                    TransferLeg::Platform,
                    Method::Notify,
                    &extra,
                    Some((SIPFRAG_CONTENT_TYPE, body.as_bytes())),
                    TransferTx::PlatformNotify,
                );
            }
            TransferAction::RefusePlatform { status, reason } => {
                self.answer_platform_with(fx, now, status, reason)
            }
            TransferAction::StartFallbackInvite {
                target,
                target_e164,
            } => {
                if let Err(status) = self.start_fallback(fx, now, &target, target_e164.as_ref())
                    && let Some(transfer) = self.transfer_mut()
                {
                    transfer.attempt.on_fallback_response(now, status, false);
                }
            }
            TransferAction::RelayFallbackEarlyMedia => {
                let Some(carrier) = self.transfer().map(|t| t.carrier) else {
                    return;
                };
                let customer_media = self.leg(carrier).media(&self.config);
                let Some(transfer) = self.phase.transfer_mut() else {
                    return;
                };
                let Some(fallback) = transfer.fallback.as_ref() else {
                    return;
                };
                transfer.early_media = true;
                let Some(leg_c_media) = self
                    .legs
                    .get(usize::from(fallback.leg.0))
                    .map(|l| l.media(&self.config))
                else {
                    return;
                };
                let (a, b) = by_position(carrier, customer_media, leg_c_media);
                let (law_a, law_b) =
                    by_position(carrier, Some(transfer.customer_law), fallback.law);
                let id = self.id;
                fx.media(MediaCommand::Update { call: id, a, b });
                fx.media(MediaCommand::SetLaws {
                    call: id,
                    a: law_a,
                    b: law_b,
                });
            }
            TransferAction::CancelFallbackInvite => self.abandon_fallback(fx, now),
            TransferAction::StartLocalJoin => {
                // An attended REFER failed with on_refer_failure = "local": attended.rs joins
                // the two calls, and takes the attempt with it.
                fx.follow_up(FollowUp::StartLocalJoin { call: self.id.seq });
            }
            TransferAction::StartRingback => {
                let Some(carrier) = self.transfer().map(|t| t.carrier) else {
                    return;
                };
                let tone = self
                    .config
                    .trunks
                    .get(self.leg(carrier).trunk)
                    .map(|t| t.ringback_tone)
                    .unwrap_or(crate::config::RingbackTone::Us);
                // RFC 3264 section 5.1: media only in a format the leg negotiated.
                let Some((law, payload_type)) = self.transfer().and_then(|t| t.ringback_codec)
                else {
                    let trunk = self.trunk_name(carrier);
                    fx.metrics.ringback_skipped(&trunk);
                    if let Some(transfer) = self.transfer_mut() {
                        transfer.ringback_skipped = true;
                    }
                    return;
                };
                let id = self.id;
                fx.media(MediaCommand::StartRingback {
                    call: id,
                    toward: media_side(carrier),
                    tone,
                    law,
                    payload_type,
                });
            }
            TransferAction::StopRingback => {
                fx.media(MediaCommand::StopRingback { call: self.id });
            }
            TransferAction::BridgeFallback => self.bridge_fallback(fx, now),
            TransferAction::TearDownPlatformLeg => self.tear_down_platform(fx, now),
            // Attended only (attended.rs).
            TransferAction::TearDownReplacedPlatformLeg => {}
            TransferAction::ReleaseCustomerLeg => {
                if let Some(carrier) = self.transfer_mut().map(|t| t.carrier) {
                    self.send_bye(fx, now, carrier);
                }
                // A local join's platform leg is still there: it goes too.
                if let Some(transfer) = self.transfer_mut()
                    && transfer.join.is_some()
                    && !std::mem::replace(&mut transfer.platform_gone, true)
                {
                    let platform = transfer.platform_side();
                    self.send_bye(fx, now, platform);
                }
                if let Some(transfer) = self.transfer_mut() {
                    transfer.release_customer = true;
                }
            }
            TransferAction::ArmTimer { at } => {
                fx.set_timer(
                    at,
                    CoreTimer::Transfer {
                        call: self.id.seq,
                        at,
                    },
                );
            }
            TransferAction::Finished(mut record) => {
                // The ladder goes with a record the carrier did not take over.
                if let Some(ladder) = fx.ladders.close(self.id.seq)
                    && record.outcome != TransferOutcome::HandedOff
                {
                    record.diagnostics = Some(ladder.entries);
                    record.diagnostics_truncated = ladder.truncated;
                }
                if let Some((from, to)) = self.transfer().and_then(|t| t.jurisdiction.clone()) {
                    record.jurisdiction_from = Some(from);
                    record.jurisdiction_to = Some(to);
                }
                record.linked_conversation = self.linked_conversation.clone();
                if let Some(transfer) = self.transfer_mut() {
                    transfer.outcome = Some(record.outcome);
                    record.hook = transfer.hook.clone();
                    record.ringback_skipped = transfer.ringback_skipped;
                    record.requester_trunk = Some(transfer.requester_trunk.clone());
                    if transfer.subscription.is_some() {
                        record.request =
                            Some(crate::transfer::TransferRequestKind::OutOfDialogRefer);
                    }
                }
                fx.metrics.record_transfer(&record);
                fx.event(Event::Transfer(record));
            }
        }
    }

    fn answer_platform(&mut self, fx: &mut Effects, now: Time, status: StatusCode) {
        self.answer_platform_with(fx, now, status, notify::reason_phrase(status));
    }

    fn answer_platform_with(
        &mut self,
        fx: &mut Effects,
        now: Time,
        status: StatusCode,
        reason: &str,
    ) {
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        let (tx, bytes) = (transfer.refer, transfer.refer_request.clone());
        let mut extra = Vec::new();
        if transfer.no_subscription && status.is_success() {
            extra.push(("Refer-Sub", "false".to_string()));
        }
        // A 2xx to a REFER carries handoff's Contact (RFC 3261 section 12.1.1: a 2xx that
        // creates a dialog usage does; seen missing with baresip and linphone, issue 10 item
        // 11), in dialog or out of it; an out-of-dialog REFER's response also carries the tag
        // of the dialog it creates.
        let tag = transfer.subscription.as_ref().map(|d| d.local_tag.clone());
        if status.is_success() {
            extra.push(("Contact", effects::contact(&self.config)));
        }
        let Ok(request) = Message::parse_framing(&bytes) else {
            return;
        };
        fx.reply_tagged(now, tx, &request, status, reason, tag.as_deref(), &extra);
    }

    /// Send `method` in the dialog of `leg`; `None` when that leg is gone or sending failed.
    #[allow(clippy::too_many_arguments)]
    fn transfer_request(
        &mut self,
        fx: &mut Effects,
        now: Time,
        leg: TransferLeg,
        method: Method,
        extra: &[(String, String)],
        body: Option<(&str, &[u8])>,
        what: TransferTx,
    ) -> Option<ClientTxId> {
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let contact = effects::contact(&self.config);
        let config = self.config.clone();
        let carrier = self.transfer()?.carrier;
        // NOTIFYs for an out-of-dialog REFER go in the dialog its 2xx created.
        if leg == TransferLeg::Platform
            && method == Method::Notify
            && let Some(dialog) = self.transfer_mut()?.subscription.as_deref_mut()
        {
            let bytes = build_in_dialog(dialog, &via, &contact, method, extra, body, None)?;
            let peer = dialog.peer;
            return self.send_transfer_request(fx, now, peer, method, &branch, bytes, what);
        }
        let transfer = self.transfer()?;
        let (retired, leg_c) = (
            transfer.retired_platform,
            transfer.fallback.as_ref().map(|f| f.leg),
        );
        let target = match leg {
            TransferLeg::Customer => self.leg_mut(carrier),
            TransferLeg::Platform => match retired {
                Some(retired) => self.leg_by_id_mut(retired)?,
                None => self.leg_mut(carrier.other()),
            },
            TransferLeg::Fallback => self.leg_by_id_mut(leg_c?)?,
        };
        if method == Method::Bye && std::mem::replace(&mut target.gone, true) {
            return None;
        }
        let trunk = config.trunks.get(target.trunk);
        let bytes = build_in_dialog(
            &mut target.dialog,
            &via,
            &contact,
            method,
            extra,
            body,
            trunk,
        )?;
        let peer = target.dialog.peer;
        self.send_transfer_request(fx, now, peer, method, &branch, bytes, what)
    }

    /// Sends a request of the transfer (built by [`Call::transfer_request`]) and tracks its
    /// client transaction as the transfer's.
    #[allow(clippy::too_many_arguments)]
    fn send_transfer_request(
        &mut self,
        fx: &mut Effects,
        now: Time,
        peer: std::net::SocketAddr,
        method: Method,
        branch: &str,
        bytes: Vec<u8>,
        what: TransferTx,
    ) -> Option<ClientTxId> {
        let client = fx.txn.send_request(now, peer, method, branch, bytes).ok()?;
        fx.track_client(
            self,
            client,
            ClientPurpose::Transfer {
                call: self.id.seq,
                what,
            },
        );
        self.outstanding += 1;
        Some(client)
    }

    fn tear_down_platform(&mut self, fx: &mut Effects, now: Time) {
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        let already_gone = std::mem::replace(&mut transfer.platform_gone, true);
        // The retired leg stays indexed until the reap: a platform BYE crossing ours gets 200.
        if transfer.swapped() {
            if !already_gone {
                self.transfer_request(
                    fx,
                    now,
                    TransferLeg::Platform,
                    Method::Bye,
                    &[],
                    None,
                    TransferTx::LegBye,
                );
            }
        } else if !already_gone {
            let platform = transfer.platform_side();
            self.send_bye(fx, now, platform);
        }
    }

    // ------------------------------------------------------- local transfer

    /// INVITE the target as if the platform had called it. `Err(status)` when it cannot be.
    fn start_fallback(
        &mut self,
        fx: &mut Effects,
        now: Time,
        target: &str,
        target_e164: Option<&E164>,
    ) -> Result<(), StatusCode> {
        let call = &*self;
        let carrier = call
            .transfer()
            .ok_or(StatusCode::SERVER_INTERNAL_ERROR)?
            .carrier;
        let config = call.config.clone();
        let platform_trunk = call.leg(carrier.other()).trunk;
        let (user, route) = match target_e164 {
            Some(number) => {
                let user = number.as_str().to_string();
                let route = routing::route_call(&config, platform_trunk, &user);
                (user, route)
            }
            // An extension or SIP URI: routed by domain or extension prefix only, and sent with
            // its user part as the platform wrote it (a token of URI characters).
            None => {
                let refer_to =
                    PlatformReferTo::parse(target).map_err(|_| StatusCode::BAD_REQUEST)?;
                let user = refer_to.user().ok_or(StatusCode::NOT_FOUND)?;
                if !user.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'*')
                }) {
                    return Err(StatusCode::NOT_FOUND);
                }
                let route = routing::route_transfer_target(
                    &config,
                    platform_trunk,
                    Some(&user),
                    refer_to.host(),
                );
                (user, route)
            }
        };
        let route = route.map_err(|_| StatusCode::NOT_FOUND)?;
        let trunk = config
            .trunks
            .get(route.to_trunk)
            .ok_or(StatusCode::NOT_FOUND)?;
        // The target trunk's destination policy holds for handoff's own INVITE too; a trunk with
        // a policy takes E.164 numbers only.
        let allowed = match target_e164 {
            Some(number) => trunk.transfer_targets.allows(number.as_str()),
            None => {
                trunk.transfer_targets.allow.is_empty() && trunk.transfer_targets.deny.is_empty()
            }
        };
        if !allowed {
            return Err(StatusCode::FORBIDDEN);
        }
        let carried = call
            .transfer()
            .map(|t| t.carried.clone())
            .unwrap_or_default();
        let conversation = call.conversation.clone();
        let customer =
            uri_user(&call.leg(carrier).dialog.remote_party).unwrap_or_else(|| "anonymous".into());
        let port = fx.pool.allocate().ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
        let advertise = config.sbc.advertise;
        let tag = fx.ids.tag();
        let call_id = fx.ids.call_id(&self.config.sbc.identity);
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let contact = effects::contact(&self.config);
        let plan = RewritePlan {
            advertise,
            audio_ports: vec![port],
            codecs: trunk.codecs.clone(),
            rtcp_mux: false,
            origin: OriginState::new(fx.rng.next_u64() >> 2, 1),
            username: self.config.sbc.identity.clone(),
        };
        let offer = sdp::g711_offer(&plan, Direction::SendRecv);
        let peer = trunk.peer;
        let from = format!(
            "<sip:{customer}@{}>;tag={tag}",
            host(SocketAddr::new(advertise, 0))
        );
        let to = format!("<sip:{user}@{}>", host(peer));
        let uri = format!("sip:{user}@{peer}");
        let mut builder = RequestBuilder::new(Method::Invite, &uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &from)
            .header("To", &to)
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &contact)
            .header("Allow", super::ALLOW)
            .header("Supported", super::SUPPORTED);
        for (name, value) in &trunk.headers {
            builder = builder.header(name, value);
        }
        // MiFID II: the recorder learns the new leg's jurisdiction when it differs.
        let customer_trunk = config.trunks.get(call.leg(carrier).trunk);
        let jurisdiction = match (
            customer_trunk.and_then(|t| t.jurisdiction.as_ref()),
            trunk.jurisdiction.as_ref(),
        ) {
            (Some(from), Some(to)) if from != to => Some((from.clone(), to.clone())),
            _ => None,
        };
        if let Some((_, to)) = &jurisdiction {
            builder = builder.header("X-Recording-Jurisdiction", to);
        }
        // The platform's CTI data (Refer-To URI headers, the REFER's X- headers), and the
        // conversation label when the target trunk links conversations.
        for (name, value) in &carried {
            if !trunk.headers.keys().any(|n| n.eq_ignore_ascii_case(name)) {
                builder = builder.header(name, value);
            }
        }
        if trunk.conversation_header {
            builder = builder.header(
                crate::transfer::refer_to::CONVERSATION_HEADER,
                &conversation,
            );
        }
        let bytes = builder.body("application/sdp", &offer.bytes).build();
        let sent = bytes.ok().and_then(|bytes| {
            fx.txn
                .send_request(now, peer, Method::Invite, &branch, bytes)
                .ok()
        });
        let Some(client) = sent else {
            let _ = fx.pool.release(port);
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        };
        let leg = Leg {
            dialog: Dialog {
                call_id,
                local_tag: tag,
                remote_tag: None,
                local_party: from,
                remote_party: to,
                local_cseq: 1,
                remote_cseq: None,
                remote_target: uri,
                route_set: Vec::new(),
                peer,
            },
            trunk: route.to_trunk,
            role: trunk.role,
            bound: trunk.sources.clone(),
            media_port: Some(port),
            remote_rtp: None,
            remote_rtcp: None,
            rtcp_mux: false,
            origin: offer.origin,
            pending_2xx: None,
            last_ack: None,
            direction: Direction::SendRecv,
            gone: false,
            refers_received: 0,
            last_refer_cseq: None,
            refers_sent: 0,
        };
        fx.track_client(
            self,
            client,
            ClientPurpose::Transfer {
                call: self.id.seq,
                what: TransferTx::FallbackInvite,
            },
        );
        self.outstanding += 1;
        // Leg C is a leg of the call from its INVITE on; it joins the bridge when it answers.
        fx.ladders
            .watch(self.id.seq, &leg.dialog.call_id, &trunk.name);
        fx.call_ids.insert(leg.dialog.call_id.clone(), self.id.seq);
        let leg = self.add_leg(leg);
        if let Some(transfer) = self.transfer_mut() {
            transfer.jurisdiction = jurisdiction;
            transfer.fallback = Some(FallbackLeg {
                leg,
                client,
                law: None,
                abandoned: false,
            });
        }
        Ok(())
    }

    fn on_fallback_response(
        &mut self,
        fx: &mut Effects,
        now: Time,
        status: StatusCode,
        response: &Message,
    ) {
        if status == StatusCode::TRYING {
            return;
        }
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let advertise = self.config.sbc.advertise;
        let Some(fallback) = self.phase.transfer_mut().and_then(|t| t.fallback.as_mut()) else {
            return;
        };
        let Some(leg) = self.legs.get_mut(usize::from(fallback.leg.0)) else {
            return;
        };
        if let Ok(to) = response.to()
            && let Some(tag) = to.tag()
        {
            let value = response
                .header(HeaderName::To)
                .map(text)
                .unwrap_or_default();
            if status.is_success() {
                leg.dialog.remote_tag = None;
            }
            leg.dialog.set_remote_tag(tag, &value);
        }
        let with_sdp = is_sdp(response);
        if with_sdp
            && let Some(PeerMedia {
                rtp,
                rtcp,
                direction,
                law,
            }) = peer_media(response.body(), advertise)
        {
            leg.remote_rtp = rtp;
            leg.remote_rtcp = rtcp;
            leg.direction = direction;
            fallback.law = law.or(fallback.law);
        }
        if status.is_success() {
            if let Some(contact) = response.contacts().next().and_then(Result::ok) {
                leg.dialog.set_remote_target(contact.uri.as_str());
            }
            let mut routes: Vec<String> = response
                .header_values(HeaderName::RecordRoute)
                .map(text)
                .collect();
            routes.reverse();
            leg.dialog.route_set = routes;
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(1);
            let (ack, kept) = build_ack(leg, &via, cseq);
            let to = leg.dialog.peer;
            let (abandoned, id) = (fallback.abandoned, fallback.leg);
            fx.transmit(to, ack.clone());
            if !kept {
                self.keep_ack(fx, now, id, cseq, ack);
            }
            if abandoned {
                // Answered after handoff gave it up (customer left, carrier took over): hang up.
                self.transfer_request(
                    fx,
                    now,
                    TransferLeg::Fallback,
                    Method::Bye,
                    &[],
                    None,
                    TransferTx::LegBye,
                );
                return;
            }
        } else if status.is_failure() {
            self.fallback_failed(fx, now, status);
            return;
        }
        if self.fallback_abandoned() {
            return;
        }
        if let Some(transfer) = self.transfer_mut() {
            transfer.attempt.on_fallback_response(now, status, with_sdp);
        }
        self.drive_transfer(fx, now);
    }

    /// Leg C was given up (see `abandon_fallback`).
    fn fallback_abandoned(&self) -> bool {
        self.transfer()
            .and_then(|t| t.fallback.as_ref())
            .is_some_and(|f| f.abandoned)
    }

    /// Leg C failed (or timed out): free it, let A and B's media flow again, tell the attempt.
    fn fallback_failed(&mut self, fx: &mut Effects, now: Time, status: StatusCode) {
        let Some(transfer) = self.phase.transfer_mut() else {
            return;
        };
        let Some(fallback) = transfer.fallback.take() else {
            return;
        };
        // The failed leg C stays in the call's legs, without its port.
        if let Some(port) = self
            .legs
            .get_mut(usize::from(fallback.leg.0))
            .and_then(|leg| leg.media_port.take())
        {
            let _ = fx.pool.release(port);
        }
        if fallback.abandoned {
            return;
        }
        let restore = std::mem::take(&mut transfer.early_media);
        let law_a = law_of(self.audio_codec.as_deref());
        let (id, a, b) = {
            let (a, b) = self.media_pair();
            (self.id, a, b)
        };
        if restore && !self.is_ended() {
            fx.media(MediaCommand::Update { call: id, a, b });
            fx.media(MediaCommand::SetLaws {
                call: id,
                a: law_a,
                b: law_a,
            });
        }
        if let Some(transfer) = self.transfer_mut() {
            transfer.attempt.on_fallback_response(now, status, false);
        }
        self.drive_transfer(fx, now);
    }

    /// Leg C answered: it takes leg B's place; B is retired until the platform leaves.
    fn bridge_fallback(&mut self, fx: &mut Effects, now: Time) {
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        let Some(fallback) = transfer.fallback.take() else {
            return;
        };
        let (carrier, platform) = (transfer.carrier, transfer.platform_side());
        let keep_retired = !transfer.platform_gone;
        transfer.early_media = false;
        transfer.bridged_law = fallback.law;
        // Leg C takes the platform's position in the bridge; the platform leg is retired (it
        // stays a leg of the call, awaiting its BYE).
        let old_platform = self.rebridge(platform, fallback.leg);
        if let Some(transfer) = self.transfer_mut() {
            transfer.retired_platform = Some(old_platform);
        }
        let customer_direction = self.leg(carrier).direction;
        let new_tag = self.leg(platform).dialog.local_tag.clone();
        let Some(old_b) = self.leg_by_id_mut(old_platform) else {
            return;
        };
        let old_port = old_b.media_port.take();
        old_b.pending_2xx = None;
        let old_tag = old_b.dialog.local_tag.clone();
        let on_hold =
            old_b.direction != Direction::SendRecv || customer_direction != Direction::SendRecv;
        let old_trunk = old_b.trunk;
        let law_customer = law_of(self.audio_codec.as_deref());
        let law_c = fallback.law;
        let trunks = &self.config.trunks;
        let a_codecs = trunks
            .get(self.leg(carrier).trunk)
            .map(|t| t.codecs.clone());
        let c_codecs = trunks
            .get(self.leg(platform).trunk)
            .map(|t| t.codecs.clone());
        self.codecs = call_codecs(&a_codecs.unwrap_or_default(), &c_codecs.unwrap_or_default())
            .unwrap_or_else(|| vec!["PCMU".to_string(), "PCMA".to_string()]);
        let (id, (a, b)) = (self.id, self.media_pair());
        // The platform's session ends (now or at its BYE, it no longer carries media); the
        // target's begins.
        let (old_trunk, new_trunk) = (
            trunks.get(old_trunk).map(|t| t.name.clone()),
            trunks.get(self.leg(platform).trunk).map(|t| t.name.clone()),
        );
        fx.metrics
            .session_closed(old_trunk.as_deref().unwrap_or_default());
        fx.metrics
            .session_opened(new_trunk.as_deref().unwrap_or_default());
        // The old platform leg keeps its index entry only while the platform may still BYE it.
        if !keep_retired {
            fx.dialogs.remove(&old_tag);
        }
        fx.dialogs.insert(new_tag, (self.id.seq, fallback.leg));
        if let Some(port) = old_port {
            let _ = fx.pool.release(port);
        }
        fx.media(MediaCommand::Update { call: id, a, b });
        let (law_a, law_b) = by_position(carrier, law_customer, law_c);
        fx.media(MediaCommand::SetLaws {
            call: id,
            a: law_a,
            b: law_b,
        });
        if law_customer.is_none() || on_hold {
            self.reinvite_customer(fx, now);
        }
    }

    /// Re-INVITE the customer's leg with a G.711-only sendrecv offer.
    pub(super) fn reinvite_customer(&mut self, fx: &mut Effects, now: Time) {
        let Some(carrier) = self.transfer().map(|t| t.carrier) else {
            return;
        };
        let advertise = self.config.sbc.advertise;
        let advertise_identity = self.config.sbc.identity.clone();
        let codecs = self
            .config
            .trunks
            .get(self.leg(carrier).trunk)
            .map(|t| t.codecs.clone())
            .unwrap_or_default();
        let customer = self.leg_mut(carrier);
        let plan = RewritePlan {
            advertise,
            audio_ports: vec![customer.media_port.unwrap_or(0)],
            codecs,
            rtcp_mux: customer.rtcp_mux,
            origin: customer.origin,
            username: advertise_identity,
        };
        let offer = sdp::g711_offer(&plan, Direction::SendRecv);
        customer.origin = offer.origin;
        self.reinvite_pending = true;
        let sent = self.transfer_request(
            fx,
            now,
            TransferLeg::Customer,
            Method::Invite,
            &[],
            Some(("application/sdp", &offer.bytes)),
            TransferTx::CustomerReinvite,
        );
        if sent.is_none() {
            self.reinvite_pending = false;
        }
    }

    fn on_customer_reinvite_answer(&mut self, fx: &mut Effects, now: Time, response: &Message) {
        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(carrier) = self.transfer_mut().map(|t| t.carrier) else {
            return;
        };
        if let Some(contact) = response.contacts().next().and_then(Result::ok) {
            self.leg_mut(carrier)
                .dialog
                .set_remote_target(contact.uri.as_str());
        }
        self.send_ack(fx, now, carrier, cseq, None);
        if self.is_ended() || !is_sdp(response) {
            return;
        }
        let Some(PeerMedia {
            rtp,
            rtcp,
            direction,
            law,
        }) = peer_media(response.body(), self.config.sbc.advertise)
        else {
            return;
        };
        let customer = self.leg_mut(carrier);
        customer.remote_rtp = rtp;
        customer.remote_rtcp = rtcp;
        customer.direction = direction;
        if let Some(law) = law {
            self.audio_codec = Some(law_name(law).to_string());
            if let Some(transfer) = self.transfer_mut() {
                transfer.customer_law = law;
            }
        }
        let bridged_law = self.transfer().and_then(|t| t.bridged_law);
        let (id, a, b) = {
            let (a, b) = self.media_pair();
            (self.id, a, b)
        };
        fx.media(MediaCommand::Update { call: id, a, b });
        if law.is_some() {
            let (law_a, law_b) = by_position(carrier, law, bridged_law);
            fx.media(MediaCommand::SetLaws {
                call: id,
                a: law_a,
                b: law_b,
            });
        }
    }
}

fn law_name(law: G711Law) -> &'static str {
    match law {
        G711Law::Ulaw => "PCMU",
        G711Law::Alaw => "PCMA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_reads_the_status_line_only() {
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Some(StatusCode::OK));
        assert_eq!(
            sipfrag_status(b"\r\nSIP/2.0 486 Busy Here\r\n"),
            Some(StatusCode::BUSY_HERE)
        );
        assert_eq!(sipfrag_status(b"SIP/2.0 99 Low\r\n"), None);
        assert_eq!(sipfrag_status(b"INVITE sip:x SIP/2.0\r\n"), None);
        assert_eq!(sipfrag_status(b"SIP/2.0 abc\r\n"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
    }

    #[test]
    fn uri_user_takes_the_user_of_the_first_sip_uri() {
        assert_eq!(
            uri_user("\"Ann\" <sip:+15551234567@10.0.0.1>;tag=x").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(uri_user("<sip:10.0.0.1>;tag=x"), None);
        assert_eq!(uri_user("<tel:+1555>"), None);
    }
}
