//! How the shard routes its inputs: a datagram is parsed and checked once (size, source, who may
//! speak for a dialog), given to the transaction layer, and then handed to the call it belongs
//! to ([`ShardCore::with_call`]), or refused. New calls, Replaces and the attended transfer's
//! held requests enter here; what a call does with its input is the call's (b2bua.rs,
//! transfer_flow.rs).

use std::net::SocketAddr;
use std::sync::Arc;

use super::ShardCore;
use crate::config::{Config, UnknownSourcePolicy};
use crate::core::attended_state::{AttendedStep, DialogRewrite, DialogRewrites, Resume};
use crate::core::b2bua::{ALLOW, Refusal, SUPPORTED, text};
use crate::core::call::{Call, CallPhase};
use crate::core::dialog::Side;
use crate::core::effects::{ClientPurpose, CoreTimer, ServerPurpose, TransferTx, is_sdp};
use crate::core::flood::Admission;
use crate::core::timers::shrink_if_sparse;
use crate::core::transaction::{
    ClientAction, ClientTxId, ServerAction, ServerTxId, TransactionTimeout, TxRef,
};
use crate::core::transfer_state::{TransferVerdict, TranslatedDialogs};
use crate::core::{EndReason, Event, Time};
use crate::metrics::DropReason;
use crate::sip::{self, Message, Method};
use crate::vocab::StatusCode;

/// Option tags handoff supports in `Require` (it is the UAS of every leg).
const SUPPORTED_TAGS: [&str; 2] = ["replaces", "tdialog"];

/// What RFC 3261 section 8.2.2 and 8.2.3 make a UAS refuse before looking at a new request's
/// meaning: a Request-URI scheme it does not know (416), a `Require` option tag it does not
/// support (420, listing them in Unsupported), and for INVITE a body that is not SDP (415) or an
/// Accept without SDP (406). `Proxy-Require` is for proxies: handoff, a UAS, ignores it.
fn refuse_new_request(method: Method, request: &Message) -> Option<Refusal> {
    if let Some(uri) = request.request_uri()
        && let sip::Scheme::Other(scheme) = uri.scheme()
    {
        return Some(Refusal::new(
            StatusCode::UNSUPPORTED_URI_SCHEME,
            format!("Unsupported URI Scheme ({scheme})"),
        ));
    }
    let unsupported: Vec<&str> = request
        .require()
        .filter_map(Result::ok)
        .filter(|t| !SUPPORTED_TAGS.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    if !unsupported.is_empty() {
        let mut refusal = Refusal::new(StatusCode::BAD_EXTENSION, "Bad Extension");
        refusal.extra.push(("Unsupported", unsupported.join(", ")));
        return Some(refusal);
    }
    if method != Method::Invite {
        return None;
    }
    if !request.body().is_empty() && !is_sdp(request) {
        let mut refusal =
            Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type");
        refusal
            .extra
            .push(("Accept", "application/sdp".to_string()));
        return Some(refusal);
    }
    let accepts: Vec<String> = request
        .headers()
        .filter(|h| h.name.eq_ignore_ascii_case("accept"))
        .flat_map(|h| {
            text(h.value)
                .split(',')
                .map(|t| {
                    t.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    let takes_sdp = |t: &String| matches!(t.as_str(), "application/sdp" | "application/*" | "*/*");
    if !accepts.is_empty() && !accepts.iter().any(takes_sdp) {
        let mut refusal = Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable (handoff answers with application/sdp)",
        );
        refusal
            .extra
            .push(("Accept", "application/sdp".to_string()));
        return Some(refusal);
    }
    None
}

/// Whom a request names, and whether it may speak for it ([`ShardCore::dialog_speaker`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Speaker {
    /// No dialog of ours: the trunk rules decide.
    NoDialog,
    /// A leg's bound peer, with the leg's remote tag.
    Leg,
    /// Names a leg but is not its peer.
    Stranger,
}

/// A 400 for a request that failed to parse, with the generic reason phrase (the parse error
/// goes to the log with the `RequestRejected` event, never to the peer). The headers a response
/// needs (Via, From, To, Call-ID, CSeq) are salvaged from the raw lines into a minimal request
/// that the parser can frame. `None` when they cannot be found (without Via there is nowhere to
/// answer), for ACK, and for responses.
fn bad_request(payload: &[u8]) -> Option<Vec<u8>> {
    salvaged_response(payload, StatusCode::BAD_REQUEST)
}

/// A response with the generic phrase of `status`, built from the few headers of `payload` that
/// can be salvaged (Via, From, To, Call-ID, CSeq) when the whole request cannot be parsed or is
/// not to be parsed; `None` for responses, ACKs and datagrams without a usable Via.
fn salvaged_response(payload: &[u8], status: StatusCode) -> Option<Vec<u8>> {
    if payload.starts_with(b"SIP/") || payload.starts_with(b"ACK ") {
        return None;
    }
    let head_end = memchr::memmem::find(payload, b"\r\n\r\n").unwrap_or(payload.len());
    let mut salvaged: Vec<u8> = Vec::new();
    let mut method = "OPTIONS".to_string();
    for line in payload[..head_end].split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon])
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq"
        ) {
            continue;
        }
        if name == "cseq" {
            let value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
            if let Some(token) = value.split_whitespace().nth(1)
                && token.bytes().all(|b| b.is_ascii_alphabetic())
            {
                method = token.to_string();
            }
        }
        salvaged.extend_from_slice(line);
        salvaged.extend_from_slice(b"\r\n");
    }
    if method == "ACK" {
        return None;
    }
    let mut minimal = format!("{method} sip:invalid SIP/2.0\r\n").into_bytes();
    minimal.extend_from_slice(&salvaged);
    minimal.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let framed = Message::parse_framing(&minimal).ok()?;
    framed.top_via().ok()?;
    sip::response_to(&framed, status, status.reason_phrase())
        .build()
        .ok()
}

impl ShardCore {
    /// A call keeps the config it started with; everything else uses the current one.
    pub(in crate::core) fn config_of(&self, seq: Option<u64>) -> &crate::config::Config {
        seq.and_then(|seq| self.calls.get(&seq))
            .map(|call| &*call.config)
            .unwrap_or(&self.fx.config)
    }

    pub(super) fn reject(
        &mut self,
        now: Time,
        tx: ServerTxId,
        from: SocketAddr,
        request: &Message,
        refusal: Refusal,
    ) {
        self.fx.stats.requests_rejected += 1;
        self.fx.metrics.request_rejected(refusal.status);
        let extra: Vec<(&str, String)> =
            refusal.extra.iter().map(|(n, v)| (*n, v.clone())).collect();
        // The peer gets the generic phrase; the detail goes to the log with the event.
        self.fx.reply(
            now,
            tx,
            request,
            refusal.status,
            refusal.status.reason_phrase(),
            &extra,
        );
        self.fx.event(Event::RequestRejected {
            from,
            status: refusal.status,
            reason: refusal.reason,
        });
    }

    // ------------------------------------------------------------------ input

    pub(in crate::core) fn process_datagram(
        &mut self,
        now: Time,
        from: SocketAddr,
        payload: &[u8],
    ) {
        // RFC 5626 section 4.4.1: a datagram of CRLFs only ("\r\n\r\n") is a keep-alive
        // ping, not a message (and RFC 3261 section 7.5 lets CRLFs precede a start line). It is
        // ignored silently: no 400, no rejection event, no error count (issue 10 item 11).
        if is_keepalive(payload) {
            self.fx.stats.keepalives_received += 1;
            return;
        }
        self.fx
            .ladders
            .tap(crate::transfer::Direction::In, from, payload);
        // Strangers (no trunk's source) get what `sbc.unknown_source` says even for datagrams
        // that are too large or do not parse: no 400 naming a parse error, no 513.
        let trunk = self.fx.config.trunk_by_source(from);
        let stranger =
            trunk.is_none() && self.fx.config.sbc.unknown_source == UnknownSourcePolicy::Drop;
        // Flood limits, before anything is parsed (a dropped stranger keeps no state at all).
        if !stranger {
            match self.flood.admit(now, from.ip(), trunk, &self.fx.config) {
                Admission::Admitted => {}
                Admission::Dropped => {
                    self.fx.dropped(from, DropReason::RateLimited);
                    return;
                }
                Admission::Banned { ban_s } => {
                    let trunk = trunk
                        .and_then(|t| self.fx.config.trunks.get(t))
                        .map(|t| t.name.clone());
                    self.fx.event(Event::SourceBanned { from, trunk, ban_s });
                    self.fx.dropped(from, DropReason::RateLimited);
                    return;
                }
            }
        }
        if payload.len() > self.fx.config.sbc.max_message_bytes {
            if stranger || payload.starts_with(b"SIP/") {
                self.fx.dropped(from, crate::metrics::DropReason::TooLarge);
            } else {
                self.fx.stats.requests_rejected += 1;
                if let Some(response) = salvaged_response(payload, StatusCode::MESSAGE_TOO_LARGE) {
                    self.fx.transmit(from, response);
                }
                self.fx.event(Event::RequestRejected {
                    from,
                    status: StatusCode::MESSAGE_TOO_LARGE,
                    reason: format!("{} bytes", payload.len()),
                });
            }
            return;
        }
        match Message::parse(payload) {
            Ok(message) if message.is_request() => self.on_request(now, from, trunk, &message),
            Ok(message) => self.on_response(now, from, &message),
            Err(_) if stranger => {
                self.fx.stats.rejected_unknown_source += 1;
                self.fx
                    .dropped(from, crate::metrics::DropReason::UnknownSource);
            }
            Err(error) => self.on_unparseable(from, payload, &error.to_string()),
        }
    }

    fn on_unparseable(&mut self, from: SocketAddr, payload: &[u8], error: &str) {
        if payload.starts_with(b"SIP/") {
            self.fx.stats.malformed_responses_dropped += 1;
            self.fx.event(Event::MalformedResponseDropped {
                from,
                error: error.to_string(),
            });
            return;
        }
        self.fx.stats.rejected_malformed += 1;
        self.fx.stats.requests_rejected += 1;
        // ACKs are never answered; anything else gets a 400 naming the parse error, when we can
        // still find the headers a response needs.
        if let Some(response) = bad_request(payload) {
            self.fx.transmit(from, response);
        }
        self.fx.event(Event::RequestRejected {
            from,
            status: StatusCode::BAD_REQUEST,
            reason: error.to_string(),
        });
    }

    /// Who a request speaks for: a leg of ours (named by the To tag we minted and the Call-ID),
    /// and whether it may.
    fn dialog_speaker(&self, from: SocketAddr, request: &Message) -> Speaker {
        let Some(to_tag) = request
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string))
        else {
            return Speaker::NoDialog;
        };
        let call_id = request.call_id().ok();
        // A bridged leg, or a retired platform leg still awaiting its BYE.
        let leg = self
            .fx
            .dialogs
            .get(to_tag.as_str())
            .and_then(|(seq, leg)| self.calls.get(seq)?.leg_by_id(*leg));
        let Some(leg) = leg.filter(|leg| call_id == Some(leg.dialog.call_id.as_str())) else {
            return Speaker::NoDialog;
        };
        let from_tag = request
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_string));
        if leg.is_spoken_for_by(from, from_tag.as_deref()) {
            Speaker::Leg
        } else {
            Speaker::Stranger
        }
    }

    /// `trunk`: the trunk whose sources hold `from` (looked up once per datagram).
    fn on_request(&mut self, now: Time, from: SocketAddr, trunk: Option<usize>, request: &Message) {
        // A request naming one of our dialogs speaks for that leg only if it comes from the leg's
        // bound peer with the leg's remote tag; the live config's trunks do not matter (a reload
        // never re-binds a leg). Anyone else is dropped unanswered: no 481 to a stranger.
        match self.dialog_speaker(from, request) {
            Speaker::Leg => {}
            Speaker::Stranger => {
                self.fx
                    .dropped(from, crate::metrics::DropReason::InDialogFromWrongPeer);
                return;
            }
            Speaker::NoDialog if trunk.is_none() => {
                // A retransmission of a request this shard took from this very address (its
                // trunk moved away by a reload since, its call forgotten) is still answered
                // as the transaction says: its BYE gets the 200 again.
                if self.fx.txn.on_retransmission(now, from, request) {
                    return;
                }
                // No transaction, no state: a stranger's request is dropped, or answered once
                // and forgotten (a retransmission gets the same 403 again, nothing more).
                self.fx.stats.rejected_unknown_source += 1;
                self.fx
                    .dropped(from, crate::metrics::DropReason::UnknownSource);
                if self.fx.config.sbc.unknown_source == UnknownSourcePolicy::Reject
                    && request.method() != Some(Method::Ack)
                {
                    let tag = crate::core::ids::derived_tag(self.fx.shard, request.as_bytes());
                    if let Ok(bytes) = sip::response_to(request, StatusCode::FORBIDDEN, "Forbidden")
                        .to_tag(&tag)
                        .build()
                    {
                        self.fx.transmit(from, bytes);
                    }
                }
                return;
            }
            Speaker::NoDialog => {}
        }
        match self.fx.txn.on_request(now, from, request) {
            ServerAction::New(tx) => self.on_new_request(now, from, trunk, tx, request),
            ServerAction::AckWithoutTransaction => self.on_ack(now, request),
            ServerAction::Cancel { invite } => self.on_cancel(now, invite),
            ServerAction::WrongSource => {
                self.fx
                    .dropped(from, crate::metrics::DropReason::InDialogFromWrongPeer);
            }
            ServerAction::Unusable(fault) => {
                self.fx.stats.rejected_malformed += 1;
                self.fx.stats.requests_rejected += 1;
                if let Some(response) = bad_request(request.as_bytes()) {
                    self.fx.transmit(from, response);
                }
                self.fx.event(Event::RequestRejected {
                    from,
                    status: StatusCode::BAD_REQUEST,
                    reason: fault.to_string(),
                });
            }
            _ => {}
        }
    }

    fn on_new_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        trunk: Option<usize>,
        tx: ServerTxId,
        request: &Message,
    ) {
        let Some(method) = request.method() else {
            return;
        };
        let to_tag = request
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string));
        // RFC 3891 section 3: Replaces on anything but an initial INVITE is a 400.
        if (method != Method::Invite || to_tag.is_some())
            && request
                .headers()
                .any(|h| h.name.eq_ignore_ascii_case("replaces"))
        {
            self.fx.reply(
                now,
                tx,
                request,
                StatusCode::BAD_REQUEST,
                "Bad Request (Replaces is only allowed on INVITE)",
                &[],
            );
            return;
        }
        if to_tag.is_none()
            && let Some(refusal) = refuse_new_request(method, request)
        {
            self.reject(now, tx, from, request, refusal);
            return;
        }
        match (method, to_tag) {
            (_, Some(tag)) => self.on_in_dialog_request(now, from, tx, request, &tag),
            (Method::Invite, None) => match trunk {
                Some(trunk) => {
                    self.on_initial_invite(now, from, (trunk, self.fx.config.clone()), tx, request)
                }
                // Only a leg's own peer gets here without a trunk, and never without a To tag.
                None => self
                    .fx
                    .reply(now, tx, request, StatusCode::FORBIDDEN, "Forbidden", &[]),
            },
            (Method::Options, None) => {
                self.fx.stats.options_answered += 1;
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                    ("Accept", "application/sdp".to_string()),
                ];
                self.fx
                    .reply(now, tx, request, StatusCode::OK, "OK", &extra);
            }
            // RFC 5589 section 6.1, RFC 7647 section 4: a REFER outside any dialog naming one
            // of ours in Target-Dialog (out_of_dialog.rs).
            (Method::Refer, None) => self.on_out_of_dialog_refer(now, from, tx, request),
            (
                Method::Bye | Method::Info | Method::Update | Method::Notify | Method::Prack,
                None,
            ) => {
                self.fx.reply(
                    now,
                    tx,
                    request,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST.reason_phrase(),
                    &[],
                );
            }
            (_, None) => {
                self.fx.reply(
                    now,
                    tx,
                    request,
                    StatusCode::METHOD_NOT_ALLOWED,
                    StatusCode::METHOD_NOT_ALLOWED.reason_phrase(),
                    &[("Allow", ALLOW.to_string())],
                );
            }
        }
    }

    // ------------------------------------------------------------ new calls

    /// `source`: the trunk the INVITE came from, as an index into the configuration it arrived
    /// under (held INVITEs resume with that snapshot, whatever reloads happened meanwhile).
    pub(in crate::core) fn on_initial_invite(
        &mut self,
        now: Time,
        from: SocketAddr,
        source: (usize, Arc<Config>),
        tx: ServerTxId,
        request: &Message,
    ) {
        let (trunk, config) = source;
        // INVITE with Replaces names one of our dialogs: handoff is its UAS (RFC 3891 section 3).
        let replaces: Vec<String> = request
            .headers()
            .filter(|h| h.name.eq_ignore_ascii_case("replaces"))
            .map(|h| text(h.value))
            .collect();
        if !replaces.is_empty() {
            // Audit (issue 10): every INVITE with Replaces is on record, taken or refused.
            let named = replaces.join(", ");
            match self.replace_leg(now, from, tx, request, &replaces) {
                Ok(seq) => self.audit_replaces(now, from, &named, Some(seq), None),
                Err(refusal) => {
                    let status = refusal.status;
                    self.reject(now, tx, from, request, refusal);
                    self.audit_replaces(now, from, &named, None, Some(status));
                }
            }
            return;
        }
        // Replaces / Target-Dialog naming a bridged dialog: translated (maybe held, see attended.rs).
        let Some(rewrites) = self.dialog_rewrites(
            now,
            from,
            tx,
            request,
            Resume::InitialInvite {
                trunk,
                config: config.clone(),
            },
        ) else {
            return;
        };
        match self.start_call(now, from, (trunk, config), tx, request, &rewrites) {
            Ok(()) => {}
            Err(refusal) => self.reject(now, tx, from, request, refusal),
        }
    }

    fn start_call(
        &mut self,
        now: Time,
        from: SocketAddr,
        source: (usize, Arc<Config>),
        tx: ServerTxId,
        request: &Message,
        rewrites: &DialogRewrites,
    ) -> Result<(), Refusal> {
        if self.fx.draining.is_some() {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable (draining)",
            ));
        }
        let seq = self.next_call;
        let call = Call::set_up(&mut self.fx, seq, now, from, source, tx, request, rewrites)?;
        self.next_call += 1;
        self.calls.insert(seq, Box::new(call));
        Ok(())
    }

    // ------------------------------------------------------------ Replaces

    /// An INVITE with Replaces (RFC 3891 section 3): the named leg of ours is replaced by the new
    /// dialog, bridged in its place, and gets BYE; nothing is routed. The to-tag names our local
    /// tag, the from-tag the remote one. Only the named leg's own peer may replace it.
    fn replace_leg(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        values: &[String],
    ) -> Result<u64, Refusal> {
        if values.len() > 1 {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Bad Request (more than one Replaces)",
            ));
        }
        let replaces = crate::transfer::Replaces::parse(&values[0]).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("Bad Request (Replaces: {e})"),
            )
        })?;
        let no_dialog = || {
            Refusal::new(
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                "Call/Transaction Does Not Exist (Replaces names no dialog)",
            )
        };
        let (seq, side) = self
            .fx
            .dialog_position(&self.calls, replaces.to_tag.as_str())
            .ok_or_else(no_dialog)?;
        let call = self.calls.get_mut(&seq).ok_or_else(no_dialog)?;
        call.take_over_leg(&mut self.fx, now, from, tx, request, side, &replaces)?;
        Ok(seq)
    }

    // ------------------------------------------------------------ SDP per leg

    // ------------------------------------------------------ in-dialog requests

    pub(in crate::core) fn on_in_dialog_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        to_tag: &str,
    ) {
        let found = self
            .fx
            .dialog_position(&self.calls, to_tag)
            .filter(|(seq, side)| {
                self.calls.get(seq).is_some_and(|call| {
                    request.call_id().ok() == Some(call.leg(*side).dialog.call_id.as_str())
                })
            });
        let Some((seq, side)) = found else {
            // A leg outside the bridge: the retired platform leg's BYE is the call's to answer.
            let answered = self
                .fx
                .dialogs
                .get(to_tag)
                .copied()
                .is_some_and(|(seq, leg)| {
                    self.calls.get_mut(&seq).is_some_and(|call| {
                        call.retired_leg_request(&mut self.fx, now, tx, leg, request)
                    })
                });
            if !answered {
                self.fx.reply(
                    now,
                    tx,
                    request,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST.reason_phrase(),
                    &[],
                );
            }
            return;
        };
        let Some(method) = request.method() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        if method == Method::Bye {
            // Answered 200 whoever takes it below: the leg's dialog is over.
            call.leg_mut(side).gone = true;
        }
        match call.transfer_takes_request(&mut self.fx, now, tx, side, method, request) {
            TransferVerdict::NotTransfer => {}
            TransferVerdict::Answered => {
                self.run_follow_ups(now);
                return;
            }
            TransferVerdict::PlatformRefer(refer_to) => {
                // attended.rs translates the Replaces for the carrier (holding the REFER while
                // another shard answers), or takes the whole REFER to join the calls locally.
                let translated = if refer_to.is_attended() {
                    let resume = Resume::InDialog {
                        to_tag: to_tag.to_string(),
                    };
                    match self.attended_refer(now, tx, seq, side, request, resume, None) {
                        Some(dialogs) => dialogs,
                        None => return,
                    }
                } else {
                    TranslatedDialogs::default()
                };
                if let Some(call) = self.calls.get_mut(&seq) {
                    call.accept_platform_refer(
                        &mut self.fx,
                        now,
                        tx,
                        side,
                        request,
                        refer_to,
                        translated,
                    );
                }
                self.run_follow_ups(now);
                return;
            }
        }
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        if method == Method::Bye {
            self.fx.reply(now, tx, request, StatusCode::OK, "OK", &[]);
            if self
                .attended
                .on_bye_in_join(&mut self.calls, &mut self.fx, now, seq, side)
            {
                return;
            }
            self.with_call(now, seq, |call, fx| call.on_bye(fx, now, side));
            return;
        }
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        if call.is_ended() {
            self.fx.reply(
                now,
                tx,
                request,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST.reason_phrase(),
                &[],
            );
            return;
        }
        if !call.leg_mut(side).dialog.accept_remote_cseq(cseq) {
            self.fx.reply(
                now,
                tx,
                request,
                StatusCode::SERVER_INTERNAL_ERROR,
                "Server Internal Error (CSeq out of order)",
                &[],
            );
            return;
        }
        for token in request.require().filter_map(Result::ok) {
            if token.eq_ignore_ascii_case("100rel") || token.eq_ignore_ascii_case("timer") {
                self.fx.reply(
                    now,
                    tx,
                    request,
                    StatusCode::BAD_EXTENSION,
                    "Bad Extension",
                    &[("Unsupported", token.to_string())],
                );
                return;
            }
        }
        // A leg joined by a local attended transfer has no peer leg here to relay to.
        if self
            .attended
            .answered_while_joined(&mut self.fx, now, tx, seq, side, method, request)
        {
            return;
        }
        // Dialog identifiers naming a bridged dialog: translated (maybe held, see attended.rs).
        let resume = Resume::InDialog {
            to_tag: to_tag.to_string(),
        };
        let Some(mut rewrites) = self.dialog_rewrites(now, from, tx, request, resume) else {
            return;
        };
        // A carrier's REFER relayed by policy names the target in the platform trunk's domain.
        if method == Method::Refer
            && let Some((original, rewritten)) = self
                .calls
                .get(&seq)
                .and_then(|call| call.carrier_refer_to(side, request))
        {
            for name in ["Refer-To", "r"] {
                rewrites.0.push(DialogRewrite {
                    name: name.to_string(),
                    original: original.clone(),
                    rewritten: rewritten.clone(),
                });
            }
        }
        self.with_call(now, seq, |call, fx| {
            call.relay_request(fx, now, tx, side, method, request, &rewrites)
        });
    }

    /// handoff's ACK for a 2xx to its INVITE with CSeq `cseq` on leg `side`.
    pub(in crate::core) fn send_ack(&mut self, now: Time, seq: u64, side: Side, cseq: u32) {
        self.send_ack_with_body(now, seq, side, cseq, None);
    }

    /// As `send_ack`, with the SDP answer of a late offer.
    pub(in crate::core) fn send_ack_with_body(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        cseq: u32,
        body: Option<Vec<u8>>,
    ) {
        if let Some(call) = self.calls.get_mut(&seq) {
            call.send_ack(&mut self.fx, now, side, cseq, body);
        }
    }

    fn on_ack(&mut self, now: Time, ack: &Message) {
        let Some(tag) = ack.to().ok().and_then(|to| to.tag().map(str::to_string)) else {
            return;
        };
        let Some((seq, side)) = self.fx.dialog_position(&self.calls, &tag) else {
            return;
        };
        self.with_call(now, seq, |call, fx| call.on_ack(fx, now, side, ack));
    }

    fn on_cancel(&mut self, now: Time, invite: ServerTxId) {
        let request = self.fx.txn.server_request(invite).map(<[u8]>::to_vec);
        let Some(request) = request else { return };
        let Ok(message) = Message::parse_framing(&request) else {
            return;
        };
        match self.fx.server_txs.get(&invite).copied() {
            Some(ServerPurpose::InitialInvite { call: seq }) => {
                let Some(call) = self.calls.get(&seq) else {
                    return;
                };
                if !matches!(call.phase, CallPhase::Setup) {
                    return;
                }
                let tag = call.leg(Side::A).dialog.local_tag.clone();
                let client = call.invite.client;
                self.fx.respond_with_tag(
                    now,
                    invite,
                    &message,
                    StatusCode::REQUEST_TERMINATED,
                    StatusCode::REQUEST_TERMINATED.reason_phrase(),
                    &tag,
                );
                if let Some(client) = client {
                    self.fx.txn.cancel(now, client);
                }
                self.end_call(
                    now,
                    seq,
                    EndReason::Cancelled,
                    Some(StatusCode::REQUEST_TERMINATED),
                );
            }
            Some(ServerPurpose::Relayed { client, .. }) => {
                // A CANCELled re-INVITE: 487 here, CANCEL on the other leg (whose final, if it
                // still comes, finds this transaction answered and goes nowhere).
                self.fx.reply(
                    now,
                    invite,
                    &message,
                    StatusCode::REQUEST_TERMINATED,
                    StatusCode::REQUEST_TERMINATED.reason_phrase(),
                    &[],
                );
                self.fx.txn.cancel(now, client);
            }
            None => self.fx.reply(
                now,
                invite,
                &message,
                StatusCode::REQUEST_TERMINATED,
                StatusCode::REQUEST_TERMINATED.reason_phrase(),
                &[],
            ),
        }
    }

    // ------------------------------------------------------------- responses

    fn on_response(&mut self, now: Time, from: SocketAddr, response: &Message) {
        match self.fx.txn.on_response(now, from, response) {
            ClientAction::Provisional { tx, status } => {
                if let Some(purpose) = self.fx.client_txs.get(&tx).copied() {
                    self.on_provisional(now, purpose, status, response);
                }
            }
            ClientAction::Final { tx, status } => {
                // A trunk's 401/407 answered with credentials (auth.rs): the new request
                // stands for this one's purpose, which hears nothing of the challenge.
                if self.answer_challenge(now, tx, status, response) {
                    return;
                }
                self.fx.auth_retries.remove(&tx);
                if let Some(purpose) = self.fx.client_txs.remove(&tx) {
                    if let Some(call) = self.calls.get_mut(&purpose.call()) {
                        call.outstanding = call.outstanding.saturating_sub(1);
                    }
                    // Keep the INVITE's entry: its 2xx may be retransmitted.
                    if matches!(
                        purpose,
                        ClientPurpose::InitialInvite { .. }
                            | ClientPurpose::Relayed {
                                is_invite: true,
                                ..
                            }
                            | ClientPurpose::Transfer {
                                what: TransferTx::FallbackInvite | TransferTx::CustomerReinvite,
                                ..
                            }
                            | ClientPurpose::Attended {
                                step: AttendedStep::Reinvite { .. },
                                ..
                            }
                    ) && status.is_success()
                    {
                        self.track_client(tx, purpose);
                    }
                    self.on_final(now, purpose, status, response);
                }
            }
            ClientAction::SuccessRetransmitted { tx, .. } => {
                if let Some(purpose) = self.fx.client_txs.get(&tx).copied() {
                    self.reack(now, purpose, response);
                }
            }
            ClientAction::Stray => self.on_stray_response(now, response),
            ClientAction::WrongSource => {
                self.fx
                    .dropped(from, crate::metrics::DropReason::ResponseFromWrongSource);
            }
            ClientAction::Absorbed => {}
        }
    }

    fn reack(&mut self, now: Time, purpose: ClientPurpose, response: &Message) {
        let side = match purpose {
            ClientPurpose::InitialInvite { .. } => Side::B,
            ClientPurpose::Relayed { to, .. } => to,
            ClientPurpose::Transfer { call, what } => {
                self.with_call(now, call, |call, fx| {
                    call.reack_transfer(fx, now, what, response)
                });
                return;
            }
            ClientPurpose::Attended {
                step: AttendedStep::Reinvite { side, .. },
                ..
            } => side,
            ClientPurpose::Bye { .. } => return,
        };
        self.with_call(now, purpose.call(), |call, fx| {
            call.reack(fx, now, side, response)
        });
    }

    /// A 2xx to an INVITE whose transaction is gone: re-ACK it if it is one of our dialogs.
    fn on_stray_response(&mut self, now: Time, response: &Message) {
        let is_invite_2xx = response.status().is_some_and(|s| s.is_success())
            && response.cseq().is_ok_and(|c| c.method == Method::Invite);
        if !is_invite_2xx {
            return;
        }
        let Some(tag) = response
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_string))
        else {
            return;
        };
        if let Some((seq, side)) = self.fx.dialog_position(&self.calls, &tag) {
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
            let acked = self
                .calls
                .get(&seq)
                .and_then(|c| c.leg(side).last_ack.as_ref())
                .is_some_and(|kept| kept.0 == cseq);
            if acked {
                self.send_ack(now, seq, side, cseq);
            }
        }
    }

    fn on_provisional(
        &mut self,
        now: Time,
        purpose: ClientPurpose,
        status: StatusCode,
        response: &Message,
    ) {
        if status == StatusCode::TRYING {
            return;
        }
        match purpose {
            ClientPurpose::InitialInvite { call } => self.with_call(now, call, |call, fx| {
                call.on_setup_provisional(fx, now, status, response)
            }),
            ClientPurpose::Relayed {
                call, to, server, ..
            } => self.with_call(now, call, |call, fx| {
                call.relay_response(fx, now, to.other(), server, status, response)
            }),
            ClientPurpose::Bye { .. } | ClientPurpose::Attended { .. } => {}
            ClientPurpose::Transfer { call, what } => self.with_call(now, call, |call, fx| {
                call.on_transfer_response(fx, now, what, status, response)
            }),
        }
    }

    fn on_final(
        &mut self,
        now: Time,
        purpose: ClientPurpose,
        status: StatusCode,
        response: &Message,
    ) {
        match purpose {
            ClientPurpose::InitialInvite { call } => self.with_call(now, call, |call, fx| {
                call.on_setup_final(fx, now, status, response)
            }),
            ClientPurpose::Relayed {
                call,
                to,
                server,
                is_invite,
            } => self.with_call(now, call, |call, fx| {
                call.on_relayed_final(fx, now, to, server, is_invite, status, response)
            }),
            ClientPurpose::Bye { .. } => {}
            ClientPurpose::Transfer { call, what } => self.with_call(now, call, |call, fx| {
                call.on_transfer_response(fx, now, what, status, response)
            }),
            ClientPurpose::Attended { call, step } => self.attended.on_attended_final(
                &mut self.calls,
                &mut self.fx,
                now,
                call,
                step,
                status,
                Some(response),
            ),
        }
    }

    // ------------------------------------------------------------------ timers

    pub(in crate::core) fn on_transaction_timeout(
        &mut self,
        now: Time,
        timeout: TransactionTimeout,
    ) {
        let TxRef::Client(client) = timeout.tx else {
            return;
        };
        self.fx.auth_retries.remove(&client);
        let Some(purpose) = self.fx.client_txs.remove(&client) else {
            return;
        };
        shrink_if_sparse(&mut self.fx.client_txs);
        if let Some(call) = self.calls.get_mut(&purpose.call()) {
            call.outstanding = call.outstanding.saturating_sub(1);
        }
        match purpose {
            ClientPurpose::InitialInvite { call: seq } => {
                let Some(call) = self.calls.get_mut(&seq) else {
                    return;
                };
                call.invite.client_done = true;
                if call.is_ended() {
                    return;
                }
                let (server, tag) = (
                    call.invite.server,
                    call.leg(Side::A).dialog.local_tag.clone(),
                );
                let request = self.fx.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    self.fx.respond_with_tag(
                        now,
                        server,
                        &message,
                        StatusCode::REQUEST_TIMEOUT,
                        StatusCode::REQUEST_TIMEOUT.reason_phrase(),
                        &tag,
                    );
                }
                self.end_call(
                    now,
                    seq,
                    EndReason::Timeout,
                    Some(StatusCode::REQUEST_TIMEOUT),
                );
            }
            ClientPurpose::Relayed {
                call: seq,
                server,
                is_invite,
                ..
            } => {
                if is_invite && let Some(call) = self.calls.get_mut(&seq) {
                    call.reinvite_pending = false;
                }
                let request = self.fx.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    self.fx.reply(
                        now,
                        server,
                        &message,
                        StatusCode::REQUEST_TIMEOUT,
                        StatusCode::REQUEST_TIMEOUT.reason_phrase(),
                        &[],
                    );
                }
            }
            ClientPurpose::Bye { .. } => {}
            ClientPurpose::Transfer { call, what } => self.with_call(now, call, |call, fx| {
                call.on_transfer_timeout(fx, now, what)
            }),
            ClientPurpose::Attended { call, step } => self.attended.on_attended_final(
                &mut self.calls,
                &mut self.fx,
                now,
                call,
                step,
                StatusCode::REQUEST_TIMEOUT,
                None,
            ),
        }
    }

    pub(in crate::core) fn on_core_timer(&mut self, now: Time, timer: CoreTimer) {
        match timer {
            CoreTimer::Retransmit2xx { call: seq, side } => {
                self.with_call(now, seq, |call, fx| call.retransmit_2xx(fx, now, side))
            }
            CoreTimer::Reap { call: seq } => self.reap(now, seq),
            CoreTimer::Transfer { call: seq, .. } => {
                self.with_call(now, seq, |call, fx| call.on_transfer_timer(fx, now))
            }
            CoreTimer::DialogQueryTimeout { hold } => self.on_dialog_query_timeout(now, hold),
            CoreTimer::MediaCheck { call: seq } => {
                self.with_call(now, seq, |call, fx| call.on_media_check(fx))
            }
            CoreTimer::MaxDuration { call: seq } => {
                self.with_call(now, seq, |call, fx| call.on_max_duration(fx, now))
            }
            CoreTimer::ReinviteRetry { call: seq } => self.retry_reinvite(now, seq),
            CoreTimer::ForgetAck { call: seq, leg } => {
                if let Some(call) = self.calls.get_mut(&seq)
                    && let Some(kept) = call.leg_by_id_mut(leg)
                {
                    kept.last_ack = None;
                    // The call's set-up is over: its long-lived parts move out of the pages
                    // they share with the set-up's freed messages (see `Call::rehome`).
                    if let Some(call) = self.calls.remove(&seq) {
                        let call = call.rehome();
                        self.fx.rehome_indexes(&call);
                        self.fx.timers.rehome_group(seq);
                        self.calls.insert(seq, call);
                    }
                }
            }
            CoreTimer::ReferHook { call: seq } => self.with_call(now, seq, |call, fx| {
                let pending = call.refer_hook.as_ref().map(|h| h.request_id);
                if let Some(request_id) = pending {
                    call.on_hook_answer(fx, now, request_id, None)
                }
            }),
            CoreTimer::DrainDeadline => {
                let live: Vec<u64> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| !c.is_ended())
                    .map(|(seq, _)| *seq)
                    .collect();
                for seq in live {
                    self.hang_up(now, seq, EndReason::Drain, StatusCode::SERVICE_UNAVAILABLE);
                }
            }
        }
    }

    /// End call `seq` from handoff's side (see [`Call::hang_up`]).
    pub(in crate::core) fn hang_up(
        &mut self,
        now: Time,
        seq: u64,
        reason: EndReason,
        early_status: StatusCode,
    ) {
        self.with_call(now, seq, |call, fx| {
            call.hang_up(fx, now, reason, early_status)
        });
    }

    /// The call is over for everyone (see [`Call::end`]); what it leaves for the shard (a joined
    /// call on another shard) is done at once.
    pub(in crate::core) fn end_call(
        &mut self,
        now: Time,
        seq: u64,
        reason: EndReason,
        setup_status: Option<StatusCode>,
    ) {
        if let Some(call) = self.calls.get_mut(&seq) {
            call.end(&mut self.fx, now, reason, setup_status);
        }
        self.run_follow_ups(now);
    }

    /// Forget an ended call, unless some of its transactions are still running.
    pub(in crate::core) fn reap(&mut self, now: Time, seq: u64) {
        let Some(call) = self.calls.get(&seq) else {
            return;
        };
        if call.outstanding > 0 {
            let linger = 64 * self.config_of(Some(seq)).sbc.timers.t1_ms;
            self.fx
                .set_timer(now.plus_millis(linger), CoreTimer::Reap { call: seq });
            return;
        }
        let Some(call) = self.calls.remove(&seq) else {
            return;
        };
        self.fx.timers.cancel_group(seq);
        self.fx.ladders.close(seq);
        // Every leg the call had: bridged, retired, replaced.
        for leg in &call.legs {
            if self
                .fx
                .dialogs
                .get(&leg.dialog.local_tag)
                .is_some_and(|(owner, _)| *owner == seq)
            {
                self.fx.dialogs.remove(&leg.dialog.local_tag);
            }
            if self.fx.call_ids.get(&leg.dialog.call_id) == Some(&seq) {
                self.fx.call_ids.remove(&leg.dialog.call_id);
            }
        }
        for tx in &call.client_txs {
            self.fx.client_txs.remove(tx);
            self.fx.auth_retries.remove(tx);
        }
        for tx in &call.server_txs {
            self.fx.server_txs.remove(tx);
        }
        shrink_if_sparse(&mut self.fx.client_txs);
        shrink_if_sparse(&mut self.fx.server_txs);
    }

    /// Remember what a client transaction is for (and which call to forget it with).
    pub(in crate::core) fn track_client(&mut self, tx: ClientTxId, purpose: ClientPurpose) {
        match self.calls.get_mut(&purpose.call()) {
            Some(call) => self.fx.track_client(call, tx, purpose),
            None => {
                self.fx.client_txs.insert(tx, purpose);
            }
        }
    }
}

/// A CRLF keep-alive (RFC 5626 section 4.4.1): one or more CRLFs and nothing else.
pub(in crate::core) fn is_keepalive(payload: &[u8]) -> bool {
    !payload.is_empty() && payload.iter().all(|&b| b == b'\r' || b == b'\n')
}
