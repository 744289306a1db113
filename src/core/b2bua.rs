//! The B2BUA: how a call turns requests and responses on one leg into requests and responses on
//! the other (`impl Call`, over the shard's effects sink; the shard's dispatch hands it its
//! inputs).
//!
//! Decisions documented here:
//! - **Topology hiding.** The B-side INVITE is an edit of A's INVITE with Via, Route,
//!   Record-Route, Contact, Call-ID, From, To, CSeq, Max-Forwards, User-Agent, Proxy-Require and
//!   credentials (Authorization, Proxy-Authorization) replaced or removed; every other message handoff sends (responses, in-dialog requests, ACKs) is built
//!   fresh from the leg's own dialog, copying only the headers in [`passes_through`]. SDP is
//!   rewritten per leg ([`crate::sdp::rewrite`]) onto handoff's media ports.
//! - **Reliable provisionals (100rel/PRACK) are negotiated away**: `100rel` is stripped from
//!   Supported on the way out, and a request with `Require: 100rel` gets 420 with
//!   `Unsupported: 100rel`. Provisionals are relayed unreliably.
//! - **Session timers (RFC 4028) are refused the same way**: `timer` is stripped from Supported,
//!   Session-Expires and Min-SE are not relayed, `Require: timer` gets 420. Calls end by BYE (or
//!   the drain); an endpoint wanting refreshes can still send re-INVITE/UPDATE, which are relayed.
//! - **BYE** is answered 200 at once on the leg it came from and a BYE is sent on the other leg:
//!   the call ends once, whatever the other leg does. If both sides BYE at once (glare) both get
//!   200, one CallEnded is emitted, and the ended call keeps its dialogs for 64*T1 so late or
//!   crossing requests still find them (no 481 storm).
//! - **2xx to INVITE**: handoff ACKs the far side's 2xx itself, and retransmits its own 2xx
//!   (T1 doubling up to T2) until the ACK; after 64*T1 without ACK it BYEs both legs.
//! - **Requests are sent to the trunk's peer address** (trunks are identified by ip:port); the
//!   Request-URI is the remote target and the route set is carried in Route headers.
//! - **Late offer** (INVITE without SDP): the offer in the far side's 2xx is relayed, and handoff's
//!   ACK to that side waits for the ACK carrying the answer, which it then relays.
//! - **Forking on leg B**: the first 2xx makes the dialog; a 2xx from another fork is ACKed and
//!   BYEd at once.

use std::net::SocketAddr;
use std::sync::Arc;

use super::attended_state::DialogRewrites;
use super::call::{Call, CallPhase, InitialInvite, Leg, Pending2xx, call_codecs};
use super::dialog::{Dialog, Side};
use super::effects::{
    self, ClientPurpose, CoreTimer, Effects, FollowUp, ServerPurpose, TransferTx, is_sdp,
    reason_phrase,
};
use super::routing;
use super::transaction::ServerTxId;
use super::{CallEnd, CallRef, EndReason, Event, MediaCommand, Output, Time};
use crate::config::Config;
use crate::sdp::{self, OriginState, RewritePlan, SdpError};
use crate::sip::{self, HeaderName, Message, Method, RequestBuilder};
use crate::vocab::LegId;
use crate::vocab::StatusCode;

pub use super::effects::{ALLOW, SUPPORTED};
use super::effects::{own_capabilities, with_own_headers};

/// Headers copied from a message on one leg onto the message handoff sends on the other leg.
/// RFC 3325 identity headers: they cross only between trunks of handoff's trust domain.
pub fn is_identity_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("p-asserted-identity")
        || name.eq_ignore_ascii_case("p-preferred-identity")
}

pub fn passes_through(name: &str) -> bool {
    const PASSING: [&str; 25] = [
        "p-asserted-identity",
        "p-preferred-identity",
        "privacy",
        "referred-by",
        "b",
        "replaces",
        "target-dialog",
        "refer-to",
        "r",
        "refer-sub",
        "event",
        "o",
        "subscription-state",
        "accept",
        "allow-events",
        "u",
        "reason",
        "retry-after",
        "unsupported",
        "expires",
        "min-expires",
        "subject",
        "s",
        "priority",
        "date",
    ];
    let bytes = name.as_bytes();
    (bytes.len() > 2 && bytes[..2].eq_ignore_ascii_case(b"x-"))
        || PASSING.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// A request in `dialog` up to its CSeq: request line to the remote target, Via, Max-Forwards,
/// the route set, From, To, Call-ID and CSeq `cseq`.
fn in_dialog_request(method: Method, dialog: &Dialog, via: &str, cseq: u32) -> RequestBuilder {
    let mut builder = RequestBuilder::new(method, &dialog.remote_target)
        .header("Via", via)
        .header("Max-Forwards", "70");
    for route in &dialog.route_set {
        builder = builder.header("Route", route);
    }
    builder
        .header("From", &dialog.local_party)
        .header("To", &dialog.remote_party)
        .header("Call-ID", &dialog.call_id)
        .header("CSeq", format!("{cseq} {}", method.as_str()))
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn content_type(message: &Message) -> String {
    message
        .header(HeaderName::ContentType)
        .map(text)
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// The first G.711 codec (PCMU or PCMA at 8000 Hz) of a codec list, with its payload type
/// number as the SDP wrote it (a static 0/8, or a dynamic number bound by `a=rtpmap`).
pub(super) fn first_g711(
    codecs: &[crate::sdp::Codec],
) -> Option<(crate::media::g711::G711Law, u8)> {
    codecs.iter().find_map(|c| {
        let law = crate::media::g711::G711Law::from_name(&c.name)?;
        (c.clock_rate == 8000).then_some((law, c.payload_type))
    })
}

/// The G.711 law of a codec name (`None`: not G.711, or unknown).
pub(super) fn law_of_codec(codec: Option<&str>) -> Option<crate::media::g711::G711Law> {
    codec.and_then(crate::media::g711::G711Law::from_name)
}

/// The dialog handoff holds as the UAS of an INVITE from `from` (RFC 3261 section 12.1.1): our
/// tag `local_tag`, the caller's `remote_tag`, its Contact as the remote target, its
/// Record-Route as the route set.
pub(super) fn uas_dialog(
    request: &Message,
    from: SocketAddr,
    call_id: String,
    local_tag: &str,
    remote_tag: String,
    cseq: u32,
) -> Dialog {
    Dialog {
        call_id,
        local_tag: local_tag.to_string(),
        remote_tag: Some(remote_tag),
        local_party: format!(
            "{};tag={local_tag}",
            request.header(HeaderName::To).map(text).unwrap_or_default()
        ),
        remote_party: request
            .header(HeaderName::From)
            .map(text)
            .unwrap_or_default(),
        local_cseq: 0,
        remote_cseq: Some(cseq),
        remote_target: first_contact_uri(request).unwrap_or_else(|| format!("sip:{from}")),
        route_set: record_routes(request),
        peer: from,
    }
}

pub(super) fn first_contact_uri(message: &Message) -> Option<String> {
    message
        .contacts()
        .next()
        .and_then(Result::ok)
        .map(|c| c.uri.as_str().to_string())
}

pub(super) fn record_routes(message: &Message) -> Vec<String> {
    message
        .header_values(HeaderName::RecordRoute)
        .map(text)
        .collect()
}

/// Why the A side of a new call is refused before a call exists.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) reason: String,
    pub(super) extra: Vec<(&'static str, String)>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }
}

/// The call's own signalling primitives: each takes the call and the shard's effects sink.
impl Call {
    /// A new call from `request` (an INVITE from `source`), routed and its INVITE sent on leg
    /// B; the shard keeps it as call `seq`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn set_up(
        fx: &mut Effects,
        seq: u64,
        now: Time,
        from: SocketAddr,
        source: (usize, Arc<Config>),
        tx: ServerTxId,
        request: &Message,
        rewrites: &DialogRewrites,
    ) -> Result<Call, Refusal> {
        for token in request.require().filter_map(Result::ok) {
            if token.eq_ignore_ascii_case("100rel") || token.eq_ignore_ascii_case("timer") {
                let mut refusal = Refusal::new(StatusCode::BAD_EXTENSION, "Bad Extension");
                refusal.extra.push(("Unsupported", token.to_string()));
                return Err(refusal);
            }
        }
        let (trunk, config) = source;
        let user = request
            .request_uri()
            .and_then(|uri| uri.user().map(str::to_string))
            .unwrap_or_default();
        let route = routing::route_call(&config, trunk, &user)
            .map_err(|e| Refusal::new(e.status().0, format!("{} ({e})", e.status().1)))?;
        let (a_trunk, b_trunk) = (
            &config.trunks[route.from_trunk],
            &config.trunks[route.to_trunk],
        );
        let codecs = call_codecs(&a_trunk.codecs, &b_trunk.codecs).ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_ACCEPTABLE_HERE,
                "Not Acceptable Here (trunks share no codec)",
            )
        })?;
        let from_party = request
            .from()
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("Bad Request ({e})")))?;
        let remote_tag = from_party
            .tag()
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "Bad Request (From has no tag)"))?
            .to_string();
        let call_id = request
            .call_id()
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("Bad Request ({e})")))?
            .to_string();
        let cseq = request
            .cseq()
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("Bad Request ({e})")))?
            .seq;
        let max_forwards = request.max_forwards().ok().flatten().unwrap_or(70);

        // Per-trunk max_calls / max_cps (admission.rs): 503 + Retry-After, counted.
        if let Err(limited) = fx.admission.admit(
            now,
            &config,
            [route.from_trunk, route.to_trunk],
            &fx.metrics.trunk_sessions_in_use,
            usize::from(fx.shard.0),
            usize::from(fx.shard_count),
        ) {
            fx.metrics.trunk_limited(&limited.trunk, limited.limit);
            let mut refusal = Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Service Unavailable (trunk {} {})",
                    limited.trunk, limited.limit
                ),
            );
            refusal
                .extra
                .push(("Retry-After", limited.retry_after_s.to_string()));
            return Err(refusal);
        }
        // Media: two ports, then the offer rewritten for leg B.
        let a_port = fx.pool.allocate();
        let b_port = fx.pool.allocate();
        let (Some(a_port), Some(b_port)) = (a_port, b_port) else {
            for port in [a_port, b_port].into_iter().flatten() {
                let _ = fx.pool.release(port);
            }
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable (no media ports)",
            ));
        };
        let mut b_origin = OriginState::new(fx.rng.next_u64() >> 2, 1);
        let a_origin = OriginState::new(fx.rng.next_u64() >> 2, 1);
        let mut a_media = (None, None, false);
        let mut offer_b = None;
        if is_sdp(request) {
            let plan = RewritePlan {
                advertise: config.sbc.advertise,
                audio_ports: vec![b_port],
                codecs: codecs.clone(),
                rtcp_mux: true,
                origin: b_origin,
                username: config.sbc.identity.clone(),
            };
            match sdp::rewrite(request.body(), &plan)
                .and_then(|r| r.vetted(&a_trunk.media_sources()))
            {
                Ok(rewritten) => {
                    b_origin = rewritten.origin;
                    a_media = (
                        rewritten.remote_rtp,
                        rewritten.remote_rtcp,
                        rewritten.rtcp_mux,
                    );
                    offer_b = Some(rewritten.bytes);
                }
                Err(error) => {
                    let _ = fx.pool.release(a_port);
                    let _ = fx.pool.release(b_port);
                    return Err(match error {
                        SdpError::NoCommonCodec => Refusal::new(
                            StatusCode::NOT_ACCEPTABLE_HERE,
                            "Not Acceptable Here (no common codec)",
                        ),
                        other => Refusal::new(
                            StatusCode::NOT_ACCEPTABLE_HERE,
                            format!("Not Acceptable Here ({other})"),
                        ),
                    });
                }
            }
        }

        let call_ref = CallRef {
            shard: fx.shard,
            seq,
        };
        let a_tag = fx.ids.tag();
        let b_tag = fx.ids.tag();
        let b_call_id = fx.ids.call_id(&config.sbc.identity);
        let branch = fx.ids.branch();
        let conversation = format!("conv-{}", fx.ids.tag());
        // "One conversation across the network": the carrier copied handoff's Refer-To header
        // into its INVITE (RFC 3261 section 19.1.1). Only a trunk's INVITE gets here, and only a
        // value shaped like a minted id is kept, as a label: it joins and touches no call.
        let linked_conversation = request
            .header_by_name(crate::transfer::refer_to::CONVERSATION_HEADER)
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(str::trim)
            .filter(|value| crate::transfer::refer_to::is_conversation_id(value))
            .map(str::to_owned);
        let peer = b_trunk.peer;
        let advertise = config.sbc.advertise;
        let host = |addr: SocketAddr| match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let caller_user = from_party.uri.user().unwrap_or("anonymous").to_string();
        let display = from_party
            .display_name
            .map(|d| format!("\"{}\" ", text(d).trim_matches('"')))
            .unwrap_or_default();
        let b_from = format!(
            "{display}<sip:{caller_user}@{}>;tag={b_tag}",
            host(SocketAddr::new(advertise, 0))
        );
        let b_to = format!("<sip:{user}@{}>", host(peer));
        let b_uri = format!("sip:{user}@{peer}");

        // Leg B's INVITE: an edit of A's, with everything naming A's side replaced.
        let mut edit = sip::MessageEdit::new(request);
        let uri_ok = edit.set_request_uri(&b_uri).is_ok();
        for name in [
            HeaderName::Via,
            HeaderName::Route,
            HeaderName::RecordRoute,
            HeaderName::Contact,
            HeaderName::CallId,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CSeq,
            HeaderName::MaxForwards,
            HeaderName::Supported,
            HeaderName::SessionExpires,
            HeaderName::MinSE,
            HeaderName::UserAgent,
            HeaderName::Warning,
            HeaderName::ProxyRequire,
        ] {
            edit.remove_header(name);
        }
        // Credentials and hop-by-hop routing meant for handoff never travel to the other carrier.
        for name in ["Authorization", "Proxy-Authorization", "Path"] {
            edit.remove_header_named(name);
        }
        // handoff's own Allow and Supported, never the caller's (added below); the trunk's
        // `headers` replace any the caller sent under the same name.
        edit.remove_header_named("Allow");
        for name in b_trunk.headers.keys() {
            edit.remove_header_named(name);
        }
        // RFC 3325: an identity asserted by an untrusted trunk is not asserted onward, and an
        // untrusted trunk is told no identity.
        if !(a_trunk.trust_identity && b_trunk.trust_identity) {
            for name in ["P-Asserted-Identity", "P-Preferred-Identity"] {
                edit.remove_header_named(name);
            }
        }
        for rewrite in &rewrites.0 {
            edit.remove_header_named(&rewrite.name);
        }
        let via = effects::via(&config, &branch);
        let contact = effects::contact(&config);
        let max_forwards = max_forwards.saturating_sub(1).to_string();
        let edited = uri_ok
            && edit.prepend_header("Via", via.as_bytes()).is_ok()
            && edit
                .add_header("Max-Forwards", max_forwards.as_bytes())
                .is_ok()
            && edit.add_header("From", b_from.as_bytes()).is_ok()
            && edit.add_header("To", b_to.as_bytes()).is_ok()
            && edit.add_header("Call-ID", b_call_id.as_bytes()).is_ok()
            && edit.add_header("CSeq", b"1 INVITE").is_ok()
            && edit.add_header("Contact", contact.as_bytes()).is_ok()
            && own_capabilities(Method::Invite)
                .iter()
                .all(|(name, value)| edit.add_header(name, value.as_bytes()).is_ok())
            && b_trunk
                .headers
                .iter()
                .all(|(name, value)| edit.add_header(name, value.as_bytes()).is_ok())
            && rewrites.0.iter().all(|rewrite| {
                edit.add_header(&rewrite.name, rewrite.rewritten.as_bytes())
                    .is_ok()
            })
            && offer_b
                .as_ref()
                .is_none_or(|offer| edit.set_body(Some("application/sdp"), offer).is_ok());
        if !edited {
            let _ = fx.pool.release(a_port);
            let _ = fx.pool.release(b_port);
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Bad Request (caller values unusable on leg B)",
            ));
        }
        let invite_b = edit.serialize();

        let client = match fx
            .txn
            .send_request(now, peer, Method::Invite, &branch, invite_b)
        {
            Ok(client) => client,
            Err(error) => {
                let _ = fx.pool.release(a_port);
                let _ = fx.pool.release(b_port);
                return Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Service Unavailable ({error})"),
                ));
            }
        };

        let a_leg = Leg {
            dialog: uas_dialog(request, from, call_id, &a_tag, remote_tag, cseq),
            trunk: route.from_trunk,
            role: a_trunk.role,
            bound: a_trunk.sources.clone(),
            media_port: Some(a_port),
            remote_rtp: a_media.0,
            remote_rtcp: a_media.1,
            rtcp_mux: a_media.2,
            origin: a_origin,
            pending_2xx: None,
            last_ack: None,
            direction: sdp::Direction::SendRecv,
            gone: false,
            refers_received: 0,
            last_refer_cseq: None,
            refers_sent: 0,
        };
        let b_leg = Leg {
            dialog: Dialog {
                call_id: b_call_id,
                local_tag: b_tag.clone(),
                remote_tag: None,
                local_party: b_from,
                remote_party: b_to,
                local_cseq: 1,
                remote_cseq: None,
                remote_target: b_uri,
                route_set: Vec::new(),
                peer,
            },
            trunk: route.to_trunk,
            role: b_trunk.role,
            bound: b_trunk.sources.clone(),
            media_port: Some(b_port),
            remote_rtp: None,
            remote_rtcp: None,
            rtcp_mux: false,
            origin: b_origin,
            pending_2xx: None,
            last_ack: None,
            direction: sdp::Direction::SendRecv,
            gone: false,
            refers_received: 0,
            last_refer_cseq: None,
            refers_sent: 0,
        };
        let (legs, bridge) = Call::legs_for_setup(a_leg, b_leg);
        let call = Call {
            id: call_ref,
            config: config.clone(),
            conversation: conversation.clone(),
            linked_conversation: linked_conversation.clone(),
            calling: request
                .from()
                .ok()
                .and_then(|from| from.uri.user().map(str::to_owned))
                .unwrap_or_default(),
            called: user.clone(),
            phase: CallPhase::Setup,
            started: now,
            answered: None,
            legs,
            bridge,
            invite: InitialInvite {
                server: tx,
                client: Some(client),
                client_done: false,
            },
            codecs,
            reinvite_pending: false,
            deferred_ack: None,
            client_txs: Vec::new(),
            server_txs: Vec::new(),
            outstanding: 1,
            audio_codec: None,
            g711: None,
            liveness: Default::default(),
            refer_hook: None,
            reinvite_retry: None,
            reinvite_retries: 0,
            attended_reinvite: None,
            reinvite_failed: None,
        };
        let (a_media_leg, b_media_leg) = call.media_pair();
        let mut call = call;
        fx.dialogs.insert(a_tag, (seq, bridge[Side::A.index()]));
        fx.dialogs.insert(b_tag, (seq, bridge[Side::B.index()]));
        for leg in &call.legs {
            fx.call_ids.insert(leg.dialog.call_id.clone(), seq);
        }
        fx.track_server(&mut call, tx, ServerPurpose::InitialInvite { call: seq });
        fx.track_client(
            &mut call,
            client,
            ClientPurpose::InitialInvite { call: seq },
        );
        fx.stats.calls_started += 1;
        fx.stats.calls_active += 1;
        fx.outputs.push_back(Output::Media(MediaCommand::Open {
            call: call_ref,
            a: a_media_leg,
            b: b_media_leg,
        }));
        fx.metrics.session_opened(&a_trunk.name);
        fx.metrics.session_opened(&b_trunk.name);
        fx.event(Event::CallStarted {
            call: call_ref,
            conversation,
            linked_conversation,
            from_trunk: a_trunk.name.clone(),
            to_trunk: b_trunk.name.clone(),
        });
        Ok(call)
    }

    /// A provisional response to our INVITE on leg B: B's early dialog, relayed to A.
    pub(super) fn on_setup_provisional(
        &mut self,
        fx: &mut Effects,
        now: Time,
        status: StatusCode,
        response: &Message,
    ) {
        if let Ok(to) = response.to()
            && let Some(tag) = to.tag()
        {
            let value = response
                .header(HeaderName::To)
                .map(text)
                .unwrap_or_default();
            self.leg_mut(Side::B).dialog.set_remote_tag(tag, &value);
        }
        if self.is_ended() {
            return;
        }
        let server = self.invite.server;
        self.relay_response(fx, now, Side::A, server, status, response);
    }
    /// The final response to our INVITE on leg B: answered (ACK, relay the 2xx to A) or refused
    /// (relay it, the call ends).
    pub(super) fn on_setup_final(
        &mut self,
        fx: &mut Effects,
        now: Time,
        status: StatusCode,
        response: &Message,
    ) {
        let success = status.is_success();
        let call = &mut *self;
        call.invite.client_done = true;
        if success {
            let to_value = response
                .header(HeaderName::To)
                .map(text)
                .unwrap_or_default();
            if let Some(tag) = response.to().ok().and_then(|t| t.tag().map(str::to_string)) {
                call.leg_mut(Side::B).dialog.remote_tag = None;
                call.leg_mut(Side::B).dialog.set_remote_tag(&tag, &to_value);
            }
            if let Some(target) = first_contact_uri(response) {
                call.leg_mut(Side::B).dialog.set_remote_target(&target);
            }
            let mut routes = record_routes(response);
            routes.reverse();
            call.leg_mut(Side::B).dialog.route_set = routes;
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(1);
            let (server, ended) = (call.invite.server, call.is_ended());
            if ended {
                self.send_ack(fx, now, Side::B, cseq, None);
            } else {
                self.ack_or_defer(fx, now, Side::B, cseq, server, response);
            }
            if self.is_ended() {
                // Answered after CANCEL/timeout/drain: ACK it and hang up.
                self.send_bye(fx, now, Side::B);
                return;
            }
            self.enter_up();
            self.answered = Some(now);
            let (id, server) = (self.id, self.invite.server);
            fx.stats.calls_answered += 1;
            fx.metrics.call_setup(
                &self.trunk_name(Side::A),
                &self.trunk_name(Side::B),
                Some(status),
            );
            self.relay_response(fx, now, Side::A, server, status, response);
            fx.event(Event::CallAnswered { call: id });
            self.arm_liveness(fx, now);
        } else {
            if call.is_ended() {
                return;
            }
            let server = call.invite.server;
            self.relay_response(fx, now, Side::A, server, status, response);
            self.end(fx, now, EndReason::Rejected, Some(status));
        }
    }
    /// The final response to a request relayed to leg `to`: relayed back to `server`; a
    /// re-INVITE's 2xx is ACKed (now, or with the answer of a late offer).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_relayed_final(
        &mut self,
        fx: &mut Effects,
        now: Time,
        to: Side,
        server: ServerTxId,
        is_invite: bool,
        status: StatusCode,
        response: &Message,
    ) {
        let success = status.is_success();
        if is_invite {
            {
                self.reinvite_pending = false;
            }
            if success {
                if let Some(target) = first_contact_uri(response) {
                    self.leg_mut(to).dialog.set_remote_target(&target);
                }
                let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
                self.ack_or_defer(fx, now, to, cseq, server, response);
            }
        }
        self.relay_response(fx, now, to.other(), server, status, response);
    }

    /// The ACK of our 2xx on leg `side`: its retransmissions stop; a late offer's answer in it
    /// goes on in our ACK on the other leg.
    pub(super) fn on_ack(&mut self, fx: &mut Effects, now: Time, side: Side, ack: &Message) {
        let seq = self.id.seq;
        let cseq = ack.cseq().map(|c| c.seq).unwrap_or(0);
        let leg = self.leg_mut(side);
        if leg.pending_2xx.as_ref().is_none_or(|p| p.cseq != cseq) {
            return;
        }
        leg.pending_2xx = None;
        fx.timers
            .cancel(CoreTimer::Retransmit2xx { call: seq, side });
        if let Some((ack_side, ack_cseq)) = self.deferred_ack
            && ack_side == side.other()
        {
            self.deferred_ack = None;
            let body = if is_sdp(ack) {
                self.rewrite_sdp(fx, side, ack.body()).ok()
            } else {
                None
            };
            self.send_ack(fx, now, ack_side, ack_cseq, body);
        }
    }
    /// A retransmitted 2xx to our INVITE on leg `side`: the same ACK again, or, from another
    /// fork (another To tag), ACK and BYE for that dialog.
    pub(super) fn reack(&mut self, fx: &mut Effects, now: Time, side: Side, response: &Message) {
        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
        let tag = response
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string));
        if tag.is_some() && tag != self.leg(side).dialog.remote_tag {
            self.reject_fork(fx, now, side, cseq, response);
            return;
        }
        if self.deferred_ack != Some((side, cseq)) {
            self.send_ack(fx, now, side, cseq, None);
        }
    }

    /// An in-dialog request from leg `side` that nothing else took: relayed to the other leg
    /// of the bridge, its SDP rewritten, its dialog identifiers translated by `rewrites`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn relay_request(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        side: Side,
        method: Method,
        request: &Message,
        rewrites: &DialogRewrites,
    ) {
        let is_invite = method == Method::Invite;
        if is_invite {
            if self.reinvite_pending || !self.is_answered() {
                fx.reply(
                    now,
                    tx,
                    request,
                    StatusCode::REQUEST_PENDING,
                    StatusCode::REQUEST_PENDING.reason_phrase(),
                    &[],
                );
                return;
            }
            self.reinvite_pending = true;
        }
        if matches!(method, Method::Invite | Method::Update)
            && let Some(target) = first_contact_uri(request)
        {
            self.leg_mut(side).dialog.set_remote_target(&target);
        }
        let body = if is_sdp(request) {
            match self.rewrite_sdp(fx, side, request.body()) {
                Ok(bytes) => Some(("application/sdp".to_string(), bytes)),
                Err(error) => {
                    let reason = format!("Not Acceptable Here ({error})");
                    self.refuse_relay(
                        fx,
                        now,
                        tx,
                        request,
                        is_invite,
                        StatusCode::NOT_ACCEPTABLE_HERE,
                        &reason,
                    );
                    return;
                }
            }
        } else if !request.body().is_empty() {
            Some((content_type(request), request.body().to_vec()))
        } else {
            None
        };
        let identity_ok = self.identity_trusted();
        let extra: Vec<(String, String)> = request
            .headers()
            .filter(|h| passes_through(h.name) && (identity_ok || !is_identity_header(h.name)))
            .map(|h| {
                let value = text(h.value);
                let value = rewrites.apply(h.name, &value).into_owned();
                (h.name.to_string(), value)
            })
            .collect();
        let to = side.other();
        let Some((branch, bytes, peer)) = self.build_request(fx, to, method.as_str(), &extra, body)
        else {
            return;
        };
        match fx.txn.send_request(now, peer, method, &branch, bytes) {
            Ok(client) => {
                fx.track_client(
                    self,
                    client,
                    ClientPurpose::Relayed {
                        call: self.id.seq,
                        to,
                        server: tx,
                        is_invite,
                    },
                );
                fx.track_server(
                    self,
                    tx,
                    ServerPurpose::Relayed {
                        call: self.id.seq,
                        from: side,
                        client,
                    },
                );
                {
                    self.outstanding += 1;
                }
            }
            Err(error) => {
                let reason = format!("Service Unavailable ({error})");
                self.refuse_relay(
                    fx,
                    now,
                    tx,
                    request,
                    is_invite,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &reason,
                );
            }
        }
    }
    /// A BYE (answered 200 already) from leg `side` that no transfer took: the call ends, and
    /// the other leg gets BYE, or CANCEL while it is still ringing.
    pub(super) fn on_bye(&mut self, fx: &mut Effects, now: Time, side: Side) {
        match self.phase {
            // A BYE in the early dialog: the INVITE is abandoned (CANCEL toward B).
            CallPhase::Setup => self.hang_up(
                fx,
                now,
                EndReason::bye_from(side),
                StatusCode::REQUEST_TERMINATED,
            ),
            CallPhase::Up | CallPhase::Transferring(_) => {
                self.send_bye(fx, now, side.other());
                self.end(fx, now, EndReason::bye_from(side), None);
            }
            CallPhase::Ended { .. } => {}
        }
    }

    /// The Replaces' checks and answer once the named leg is found (see the shard's
    /// `replace_leg`): leg `side` of this call is the named one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_over_leg(
        &mut self,
        fx: &mut Effects,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        side: Side,
        replaces: &crate::transfer::Replaces,
    ) -> Result<(), Refusal> {
        let no_dialog = || {
            Refusal::new(
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                "Call/Transaction Does Not Exist (Replaces names no dialog)",
            )
        };
        let call = &*self;
        let named = call.leg(side);
        if named.dialog.call_id != replaces.call_id
            || named.dialog.remote_tag.as_deref() != Some(replaces.from_tag.as_str())
        {
            return Err(no_dialog());
        }
        if call.is_ended() {
            return Err(Refusal::new(
                StatusCode::DECLINE,
                "Decline (the replaced dialog has ended)",
            ));
        }
        if !named.bound.contains(from) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "Forbidden (Replaces names another trunk's dialog)",
            ));
        }
        if !call.is_answered() {
            // Replacing an early dialog (RFC 3891: accept, then CANCEL it) is not supported.
            return Err(no_dialog());
        }
        if replaces.early_only {
            return Err(Refusal::new(
                StatusCode::BUSY_HERE,
                "Busy Here (early-only, and the dialog is confirmed)",
            ));
        }
        if call.transfer().is_some_and(|t| t.is_active()) || call.reinvite_pending {
            return Err(Refusal::new(StatusCode::REQUEST_PENDING, "Request Pending"));
        }
        // The new dialog must take the call's G.711 law, or the other one (the relay transcodes).
        let call_law = self
            .audio_codec
            .as_deref()
            .and_then(crate::media::g711::G711Law::from_name)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "Not Acceptable Here (replacement needs a G.711 call)",
                )
            })?;
        let advertise = call.config.sbc.advertise;
        let port = named.media_port.unwrap_or(0);
        let offers = |law: crate::media::g711::G711Law| {
            let plan = RewritePlan {
                advertise,
                audio_ports: vec![port],
                codecs: vec![law.name().to_string()],
                rtcp_mux: false,
                origin: OriginState::new(1, 1),
                username: call.config.sbc.identity.clone(),
            };
            sdp::rewrite(request.body(), &plan).ok()
        };
        let other_law = match call_law {
            crate::media::g711::G711Law::Ulaw => crate::media::g711::G711Law::Alaw,
            crate::media::g711::G711Law::Alaw => crate::media::g711::G711Law::Ulaw,
        };
        let (law, offer) = match (offers(call_law), offers(other_law)) {
            (Some(offer), _) => (call_law, offer),
            (None, Some(offer)) => (other_law, offer),
            (None, None) => {
                return Err(Refusal::new(
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "Not Acceptable Here (no G.711 in the offer)",
                ));
            }
        };
        let remote_tag = request
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_string))
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "Bad Request (no From tag)"))?;
        let call_id = request
            .call_id()
            .map(str::to_string)
            .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "Bad Request (no Call-ID)"))?;
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        let tag = fx.ids.tag();
        let origin = OriginState::new(fx.rng.next_u64() >> 2, 1);
        let answer = sdp::g711_offer(
            &RewritePlan {
                advertise,
                audio_ports: vec![port],
                codecs: vec![law.name().to_string()],
                rtcp_mux: false,
                origin,
                username: call.config.sbc.identity.clone(),
            },
            sdp::answer_direction(offer.direction),
        );
        let contact = effects::contact(&self.config);
        let named = self.leg(side);
        let new_leg = Leg {
            dialog: uas_dialog(request, from, call_id, &tag, remote_tag, cseq),
            trunk: named.trunk,
            role: named.role,
            bound: named.bound.clone(),
            media_port: named.media_port,
            remote_rtp: offer.remote_rtp,
            remote_rtcp: offer.remote_rtcp,
            rtcp_mux: false,
            origin: answer.origin,
            pending_2xx: None,
            last_ack: None,
            direction: offer.direction,
            gone: false,
            refers_received: 0,
            last_refer_cseq: None,
            refers_sent: 0,
        };
        // The new leg takes the named leg's place in the bridge; the named leg is retired.
        fx.call_ids
            .insert(new_leg.dialog.call_id.clone(), self.id.seq);
        let new_id = self.add_leg(new_leg);
        let replaced_id = self.rebridge(side, new_id);
        let replaced_tag = match self.leg_by_id_mut(replaced_id) {
            Some(replaced) => {
                replaced.media_port = None;
                replaced.pending_2xx = None;
                replaced.dialog.local_tag.clone()
            }
            None => String::new(),
        };
        let other_law = law_of_codec(self.audio_codec.as_deref());
        let (law_a, law_b) = match side {
            Side::A => (Some(law), other_law),
            Side::B => (other_law, Some(law)),
        };
        let (id, a, b) = {
            let (a, b) = self.media_pair();
            (self.id, a, b)
        };
        fx.dialogs.remove(replaced_tag.as_str());
        fx.dialogs.insert(tag.clone(), (self.id.seq, new_id));
        // The 200 with our answer, retransmitted until the ACK like any 2xx of ours.
        let mut builder = sip::response_to(request, StatusCode::OK, "OK")
            .to_tag(&tag)
            .header("Contact", &contact)
            .header("Allow", ALLOW)
            .header("Supported", SUPPORTED);
        builder = builder.body("application/sdp", &answer.bytes);
        let bytes = builder.build().map_err(|_| {
            Refusal::new(
                StatusCode::SERVER_INTERNAL_ERROR,
                "Server Internal Error (cannot build the 200)",
            )
        })?;
        self.start_2xx_retransmission(fx, now, side, cseq, from, bytes.clone());
        let _ = fx.txn.respond(now, tx, StatusCode::OK, bytes);
        fx.outputs
            .push_back(Output::Media(MediaCommand::Update { call: id, a, b }));
        fx.outputs.push_back(Output::Media(MediaCommand::SetLaws {
            call: id,
            a: law_a,
            b: law_b,
        }));
        // The replaced dialog is shut down with BYE (RFC 3891 section 3).
        self.bye_replaced_leg(fx, now, replaced_id);
        Ok(())
    }

    /// BYE a leg that a Replaces took out of its call. Its answer needs nothing from us.
    pub(super) fn bye_replaced_leg(&mut self, fx: &mut Effects, now: Time, replaced: LegId) {
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let Some(leg) = self.leg_by_id_mut(replaced) else {
            return;
        };
        if std::mem::replace(&mut leg.gone, true) {
            return;
        }
        let cseq = leg.dialog.next_cseq();
        let peer = leg.dialog.peer;
        let Ok(bytes) = in_dialog_request(Method::Bye, &leg.dialog, &via, cseq).build() else {
            return;
        };
        if let Ok(client) = fx.txn.send_request(now, peer, Method::Bye, &branch, bytes) {
            fx.track_client(
                self,
                client,
                ClientPurpose::Transfer {
                    call: self.id.seq,
                    what: TransferTx::LegBye,
                },
            );
            {
                self.outstanding += 1;
            }
        }
    }
    /// Rewrite an SDP body that came from `from` for the other leg; learns `from`'s media
    /// addresses. Returns the body for the other leg.
    pub(super) fn rewrite_sdp(
        &mut self,
        fx: &mut Effects,
        from: Side,
        body: &[u8],
    ) -> Result<Vec<u8>, SdpError> {
        let to = from.other();
        let plan = RewritePlan {
            advertise: self.config.sbc.advertise,
            audio_ports: vec![self.leg(to).media_port.unwrap_or(0)],
            codecs: self.codecs.clone(),
            rtcp_mux: true,
            origin: self.leg(to).origin,
            username: self.config.sbc.identity.clone(),
        };
        let rewritten = sdp::rewrite(body, &plan)?.vetted(&self.media_sources(from))?;
        self.leg_mut(to).origin = rewritten.origin;
        self.audio_codec = rewritten.first_audio_codec().map(|c| c.name.clone());
        self.g711 = first_g711(&rewritten.codecs);
        let sender = self.leg_mut(from);
        sender.direction = rewritten.direction;
        sender.remote_rtp = rewritten.remote_rtp;
        sender.remote_rtcp = rewritten.remote_rtcp;
        sender.rtcp_mux = rewritten.rtcp_mux;
        if !self.is_ended() {
            let command = MediaCommand::Update {
                call: self.id,
                a: self.leg(Side::A).media(&self.config),
                b: self.leg(Side::B).media(&self.config),
            };
            fx.outputs.push_back(Output::Media(command));
        }
        Ok(rewritten.bytes)
    }
    /// A request that cannot be relayed is answered `status` here; a re-INVITE refused so is
    /// no longer pending.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refuse_relay(
        &mut self,
        fx: &mut Effects,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        is_invite: bool,
        status: StatusCode,
        reason: &str,
    ) {
        if is_invite {
            self.reinvite_pending = false;
        }
        fx.reply(now, tx, request, status, reason, &[]);
    }
    /// ACK the far side's 2xx now, or, for a late offer, once the answer arrives in the ACK
    /// from the side that sent the INVITE.
    pub(super) fn ack_or_defer(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        cseq: u32,
        server: ServerTxId,
        response: &Message,
    ) {
        if is_sdp(response) && fx.request_lacks_sdp(server) {
            {
                self.deferred_ack = Some((side, cseq));
            }
        } else {
            self.send_ack(fx, now, side, cseq, None);
        }
    }
    /// A 2xx from a second fork of leg `side`'s INVITE (another To tag): the call has its
    /// dialog already, so this one is ACKed and hung up at once (RFC 3261 13.2.2.4).
    pub(super) fn reject_fork(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        cseq: u32,
        response: &Message,
    ) {
        let dialog = &self.leg(side).dialog;
        let target = first_contact_uri(response).unwrap_or_else(|| dialog.remote_target.clone());
        let to = response
            .header(HeaderName::To)
            .map(text)
            .unwrap_or_default();
        let (from, call_id, peer) = (
            dialog.local_party.clone(),
            dialog.call_id.clone(),
            dialog.peer,
        );
        for (method, number) in [(Method::Ack, cseq), (Method::Bye, cseq.wrapping_add(1))] {
            let branch = fx.ids.branch();
            let built = RequestBuilder::new(method, &target)
                .header("Via", effects::via(&self.config, &branch))
                .header("Max-Forwards", "70")
                .header("From", &from)
                .header("To", &to)
                .header("Call-ID", &call_id)
                .header("CSeq", format!("{number} {}", method.as_str()))
                .build();
            let Ok(bytes) = built else {
                return;
            };
            if method == Method::Ack {
                fx.transmit(peer, bytes);
            } else if let Ok(client) = fx.txn.send_request(now, peer, method, &branch, bytes) {
                fx.track_client(self, client, ClientPurpose::Bye { call: self.id.seq });
                {
                    self.outstanding += 1;
                }
            }
        }
    }
    /// Relay `response` (from the far side) as the answer to server transaction `server`, which
    /// came from leg `side`.
    pub(super) fn relay_response(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        server: ServerTxId,
        status: StatusCode,
        response: &Message,
    ) {
        // A trunk's challenge is handoff's to answer (shard/auth.rs), never the other leg's:
        // when it reaches here (no `auth`, or our credentials refused) the other leg is
        // refused with 403, not sent a 401/407 it has no challenge for (RFC 3261 section
        // 20.27/20.44: those carry the challenge, which names the trunk's realm).
        let status = if matches!(status.as_u16(), 401 | 407) {
            StatusCode::FORBIDDEN
        } else {
            status
        };
        // Topology hiding: the far side's own phrase may name its hosts, trunks or numbers;
        // the near side gets the generic one.
        let reason = status.reason_phrase().to_string();
        let contact = effects::contact(&self.config);
        // The response starts from the request the transaction layer keeps, read in place
        // (the builder copies the headers it needs; no copy of the whole request).
        let (mut builder, is_invite, cseq) = {
            let Some(request) = fx.txn.server_request(server) else {
                return;
            };
            let Ok(request) = Message::parse_framing(request) else {
                return;
            };
            let is_invite = request.method() == Some(Method::Invite);
            let mut builder = sip::response_to(&request, status, &reason_phrase(&reason));
            if request.to().ok().and_then(|to| to.tag()).is_none() {
                builder = builder.to_tag(&self.leg(side).dialog.local_tag);
            }
            if (is_invite || request.method() == Some(Method::Update)) && !status.is_failure() {
                builder = builder.header("Contact", &contact);
            }
            let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
            (builder, is_invite, cseq)
        };
        let body = if is_sdp(response) {
            match self.rewrite_sdp(fx, side.other(), response.body()) {
                Ok(bytes) => Some(("application/sdp".to_string(), bytes)),
                // An answer handoff cannot rewrite is not relayed: the far end's media would
                // bypass the relay. The caller gets the status without SDP.
                Err(_) => None,
            }
        } else if !response.body().is_empty() {
            Some((content_type(response), response.body().to_vec()))
        } else {
            None
        };
        let leg = self.leg(side);
        let identity_ok = self.identity_trusted();
        for header in response
            .headers()
            .filter(|h| passes_through(h.name) && (identity_ok || !is_identity_header(h.name)))
        {
            builder = builder.header(header.name, text(header.value));
        }
        if status > StatusCode::TRYING {
            for (name, value) in own_capabilities(Method::Invite) {
                builder = builder.header(name, value);
            }
        }
        if let Some((content_type, bytes)) = &body {
            builder = builder.body(content_type, bytes);
        }
        let Ok(bytes) = builder.build() else { return };
        let to = leg.dialog.peer;
        if is_invite && status.is_success() {
            self.start_2xx_retransmission(fx, now, side, cseq, to, bytes.clone());
        }
        let _ = fx.txn.respond(now, server, status, bytes);
    }
    pub(super) fn start_2xx_retransmission(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        cseq: u32,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) {
        // An ended call answers a late re-INVITE once but keeps no retransmission state.
        if self.is_ended() {
            return;
        }
        let t1 = self.config.sbc.timers.t1_ms;
        fx.set_timer(
            now.plus_millis(t1),
            CoreTimer::Retransmit2xx {
                call: self.id.seq,
                side,
            },
        );
        {
            self.leg_mut(side).pending_2xx = Some(Box::new(Pending2xx {
                cseq,
                bytes,
                to,
                started: now,
                interval_ms: t1,
            }));
        }
    }
    pub(super) fn retransmit_2xx(&mut self, fx: &mut Effects, now: Time, side: Side) {
        let timers = self.config.sbc.timers;
        let Some(pending) = self.leg_mut(side).pending_2xx.take() else {
            return;
        };
        if now.millis_since(pending.started) >= 64 * timers.t1_ms {
            // No ACK in 64*T1: the dialog is dead on that side (RFC 3261 13.3.1.4).
            self.hang_up(
                fx,
                now,
                EndReason::AckTimeout,
                StatusCode::SERVICE_UNAVAILABLE,
            );
            return;
        }
        fx.stats.retransmitted_2xx += 1;
        let interval = (pending.interval_ms * 2).min(timers.t2_ms);
        let (to, bytes) = (pending.to, pending.bytes.clone());
        fx.set_timer(
            now.plus_millis(interval),
            CoreTimer::Retransmit2xx {
                call: self.id.seq,
                side,
            },
        );
        {
            self.leg_mut(side).pending_2xx = Some(Box::new(Pending2xx {
                interval_ms: interval,
                ..*pending
            }));
        }
        fx.transmit(to, bytes);
    }
    /// End a live call from handoff's side: BYE both legs when answered; when still ringing,
    /// `early_status` to A and CANCEL toward B.
    pub(super) fn hang_up(
        &mut self,
        fx: &mut Effects,
        now: Time,
        reason: EndReason,
        early_status: StatusCode,
    ) {
        match self.phase {
            CallPhase::Ended { .. } => {}
            CallPhase::Up | CallPhase::Transferring(_) => {
                self.send_bye(fx, now, Side::A);
                self.send_bye(fx, now, Side::B);
                self.end(fx, now, reason, None);
            }
            CallPhase::Setup => {
                let (server, client, tag) = (
                    self.invite.server,
                    self.invite.client,
                    self.leg(Side::A).dialog.local_tag.clone(),
                );
                let request = fx.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    fx.respond_with_tag(
                        now,
                        server,
                        &message,
                        early_status,
                        early_status.reason_phrase(),
                        &tag,
                    );
                }
                if let Some(client) = client {
                    fx.txn.cancel(now, client);
                }
                self.end(fx, now, reason, Some(early_status));
            }
        }
    }

    /// An in-dialog request on leg `side`: (branch, bytes, destination).
    pub(super) fn build_request(
        &mut self,
        fx: &mut Effects,
        side: Side,
        method: &str,
        extra: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
    ) -> Option<(String, Vec<u8>, SocketAddr)> {
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let contact = effects::contact(&self.config);
        let config = self.config.clone();
        let leg = self.leg_mut(side);
        let trunk = config.trunks.get(leg.trunk);
        let dialog = &mut leg.dialog;
        let cseq = dialog.next_cseq();
        let token = Method::from_token(method);
        let mut builder = in_dialog_request(token, dialog, &via, cseq);
        if matches!(
            method,
            "INVITE" | "UPDATE" | "REFER" | "NOTIFY" | "SUBSCRIBE"
        ) {
            builder = builder.header("Contact", &contact);
        }
        builder = with_own_headers(builder, token, trunk, extra);
        if let Some((content_type, bytes)) = &body {
            builder = builder.body(content_type, bytes);
        }
        let bytes = builder.build().ok()?;
        Some((branch, bytes, dialog.peer))
    }

    /// handoff's own BYE on leg `side` (teardown), a client transaction of the call.
    pub(super) fn send_bye(&mut self, fx: &mut Effects, now: Time, side: Side) {
        if std::mem::replace(&mut self.leg_mut(side).gone, true) {
            return;
        }
        let Some((branch, bytes, peer)) = self.build_request(fx, side, "BYE", &[], None) else {
            return;
        };
        if let Ok(client) = fx.txn.send_request(now, peer, Method::Bye, &branch, bytes) {
            fx.track_client(self, client, ClientPurpose::Bye { call: self.id.seq });
            self.outstanding += 1;
        }
    }

    /// handoff's ACK for a 2xx to its INVITE with CSeq `cseq` on leg `side`, with the SDP answer
    /// of a late offer when there is one. A retransmitted 2xx gets the same ACK again.
    pub(super) fn send_ack(
        &mut self,
        fx: &mut Effects,
        now: Time,
        side: Side,
        cseq: u32,
        body: Option<Vec<u8>>,
    ) {
        let branch = fx.ids.branch();
        let via = effects::via(&self.config, &branch);
        let leg = self.leg_mut(side);
        if let Some(kept) = &leg.last_ack
            && let (acked, bytes) = &**kept
            && *acked == cseq
        {
            let (to, bytes) = (leg.dialog.peer, bytes.clone());
            fx.transmit(to, bytes);
            return;
        }
        let dialog = &leg.dialog;
        let mut builder = in_dialog_request(Method::Ack, dialog, &via, cseq);
        if let Some(body) = &body {
            builder = builder.body("application/sdp", body);
        }
        let Ok(bytes) = builder.build() else {
            return;
        };
        let to = dialog.peer;
        fx.transmit(to, bytes.clone());
        let id = self.leg_id(side);
        self.keep_ack(fx, now, id, cseq, bytes);
    }

    /// Keeps handoff's ACK to a 2xx on leg `id` for re-sending, for 64*T1: a UAS retransmits
    /// its 2xx for 64*T1 at most (RFC 3261 section 13.3.1.4), and the INVITE client
    /// transaction passes retransmissions up for as long (Timer M, RFC 6026 / RFC 3261 section
    /// 17.1.1.2 as updated). A later ACK on the leg (a re-INVITE's) restarts the window.
    pub(super) fn keep_ack(
        &mut self,
        fx: &mut Effects,
        now: Time,
        id: LegId,
        cseq: u32,
        bytes: Vec<u8>,
    ) {
        let window = 64 * self.config.sbc.timers.t1_ms;
        let seq = self.id.seq;
        if let Some(leg) = self.leg_by_id_mut(id) {
            leg.last_ack = Some(Box::new((cseq, bytes)));
            fx.set_timer(
                now.plus_millis(window),
                CoreTimer::ForgetAck { call: seq, leg: id },
            );
        }
    }

    /// The call is over for everyone: release media, emit CallEnded once, keep the dialogs a
    /// while for late messages. A transfer still running learns it; a join with a call on
    /// another shard is left to the shard ([`FollowUp::CallEnded`]).
    pub(super) fn end(
        &mut self,
        fx: &mut Effects,
        now: Time,
        reason: EndReason,
        setup_status: Option<StatusCode>,
    ) {
        if self.is_ended() {
            return;
        }
        let seq = self.id.seq;
        let answered = self.answered;
        let deferred = self.deferred_ack.take();
        self.enter_ended(reason);
        self.reinvite_pending = false;
        let mut ports = Vec::new();
        for side in [Side::A, Side::B] {
            let leg = self.leg_mut(side);
            ports.extend(leg.media_port.take());
            leg.pending_2xx = None;
            fx.timers
                .cancel(CoreTimer::Retransmit2xx { call: seq, side });
        }
        let end = CallEnd {
            call: self.id,
            conversation: self.conversation.clone(),
            linked_conversation: self.linked_conversation.clone(),
            from_trunk: self.trunk_name(Side::A),
            to_trunk: self.trunk_name(Side::B),
            setup_status: setup_status.or(answered.map(|_| StatusCode::OK)),
            end_reason: reason,
            duration_ms: answered.map(|t| now.millis_since(t)).unwrap_or(0),
            media: None,
            calling: self.calling.clone(),
            called: self.called.clone(),
            started: fx.wall_clock.rfc3339_at(self.started),
            answered: answered.map(|at| fx.wall_clock.rfc3339_at(at)),
            legs: self
                .legs
                .iter()
                .map(|leg| super::EndedLeg {
                    trunk: self
                        .config
                        .trunks
                        .get(leg.trunk)
                        .map_or_else(String::new, |t| t.name.clone()),
                    role: leg.role.as_str(),
                    call_id: leg.dialog.call_id.clone(),
                })
                .collect(),
            reinvite_failed: self.reinvite_failed,
        };
        for port in ports {
            let _ = fx.pool.release(port);
        }
        fx.stats.calls_active = fx.stats.calls_active.saturating_sub(1);
        fx.stats.calls_ended += 1;
        fx.metrics.session_closed(&end.from_trunk);
        fx.metrics.session_closed(&end.to_trunk);
        fx.metrics.call_ended(reason.as_str());
        if answered.is_none() {
            // An answered call was counted by its answer.
            fx.metrics
                .call_setup(&end.from_trunk, &end.to_trunk, end.setup_status);
        }
        self.transfer_ended(fx, now);
        fx.follow_up(FollowUp::CallEnded { call: seq });
        fx.media(MediaCommand::Close { call: self.id });
        fx.event(Event::CallEnded(end));
        if let Some((side, cseq)) = deferred {
            // The answer never came: ACK without it so the far end stops retransmitting.
            self.send_ack(fx, now, side, cseq, None);
        }
        fx.set_timer(
            now.plus_millis(self.linger_ms()),
            CoreTimer::Reap { call: seq },
        );
    }

    /// How long the ended call stays before its reap. An unanswered call waits 64*T1: a 2xx
    /// may still race its CANCEL or 408 and must find the call to be ACKed and hung up. An
    /// answered call waits T4 (a late Replaces still finds it ended: 603; a late BYE gets its
    /// 200): once its own BYEs are answered (the reap re-arms while any is outstanding) its
    /// legs' dialogs are over on both sides, and the transaction layer absorbs what is still
    /// retransmitted. At thousands of calls per second, 64*T1 for every call held most of a
    /// shard's memory (perf/results/NOTES.md).
    pub(super) fn linger_ms(&self) -> u64 {
        let timers = &self.config.sbc.timers;
        let whole = 64 * timers.t1_ms;
        // A call that ended while transferring keeps 64*T1: its attempt's record may settle
        // later (e.g. on the carrier's BYE).
        if self.answered.is_some() && self.phase.transfer().is_none() {
            timers.t4_ms.min(whole)
        } else {
            whole
        }
    }
}
