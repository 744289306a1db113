//! The B2BUA: how a shard turns requests and responses on one leg into requests and responses on
//! the other.
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

use super::attended_state::{AttendedStep, DialogRewrite, DialogRewrites, Resume};
use super::call::{Call, CallPhase, InitialInvite, Leg, Pending2xx, call_codecs};
use super::dialog::{Dialog, Side};
use super::routing;
use super::shard::{ClientPurpose, CoreTimer, ServerPurpose, ShardCore, TransferTx};
use super::transaction::{
    ClientAction, ClientTxId, ServerAction, ServerTxId, TransactionTimeout, TxRef,
};
use super::{CallEnd, CallRef, EndReason, Event, MediaCommand, Output, Time, Transmit};
use crate::config::{Config, UnknownSourcePolicy};
use crate::sdp::{self, OriginState, RewritePlan, SdpError};
use crate::sip::{self, HeaderName, Message, Method, RequestBuilder};
use crate::vocab::LegId;

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
            416,
            format!("Unsupported URI Scheme ({scheme})"),
        ));
    }
    let unsupported: Vec<&str> = request
        .require()
        .filter_map(Result::ok)
        .filter(|t| !SUPPORTED_TAGS.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    if !unsupported.is_empty() {
        let mut refusal = Refusal::new(420, "Bad Extension");
        refusal.extra.push(("Unsupported", unsupported.join(", ")));
        return Some(refusal);
    }
    if method != Method::Invite {
        return None;
    }
    if !request.body().is_empty() && !is_sdp(request) {
        let mut refusal = Refusal::new(415, "Unsupported Media Type");
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
        let mut refusal =
            Refusal::new(406, "Not Acceptable (handoff answers with application/sdp)");
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

/// Methods handoff accepts (Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, NOTIFY, MESSAGE, REFER";
/// Extensions handoff supports end to end (Supported).
pub const SUPPORTED: &str = "replaces, tdialog";

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

/// Supported tokens minus the ones handoff negotiates away (100rel, timer).
fn filtered_supported(message: &Message) -> Option<String> {
    let kept: Vec<&str> = message
        .supported()
        .filter_map(Result::ok)
        .filter(|t| !t.eq_ignore_ascii_case("100rel") && !t.eq_ignore_ascii_case("timer"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// A 400 for a request that failed to parse, naming the error in the reason phrase and a
/// Warning. The headers a response needs (Via, From, To, Call-ID, CSeq) are salvaged from the raw
/// lines into a minimal request that the parser can frame. `None` when they cannot be found
/// (without Via there is nowhere to answer), for ACK, and for responses.
fn bad_request(payload: &[u8], error: &str) -> Option<Vec<u8>> {
    salvaged_response(payload, 400, &format!("Bad Request ({error})"), Some(error))
}

/// A response built from the few headers of `payload` that can be salvaged (Via, From, To,
/// Call-ID, CSeq) when the whole request cannot be parsed or is not to be parsed; `None` for
/// responses, ACKs and datagrams without a usable Via.
fn salvaged_response(
    payload: &[u8],
    status: u16,
    reason: &str,
    warning: Option<&str>,
) -> Option<Vec<u8>> {
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
    let reason = reason_phrase(reason);
    let mut builder = sip::response_to(&framed, status, &reason);
    if let Some(warning) = warning {
        builder = builder.header(
            "Warning",
            format!(
                "399 handoff \"{}\"",
                reason_phrase(warning).replace(['"', '\\'], "'")
            ),
        );
    }
    builder.build().ok()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A reason phrase safe to put on a status line: printable, no CR/LF, bounded.
pub fn reason_phrase(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn default_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn is_sdp(message: &Message) -> bool {
    !message.body().is_empty()
        && message
            .header(HeaderName::ContentType)
            .is_some_and(|ct| text(ct).to_ascii_lowercase().contains("application/sdp"))
}

fn content_type(message: &Message) -> String {
    message
        .header(HeaderName::ContentType)
        .map(text)
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// The G.711 law of a codec name (`None`: not G.711, or unknown).
fn law_of_codec(codec: Option<&str>) -> Option<crate::media::g711::G711Law> {
    codec.and_then(crate::media::g711::G711Law::from_name)
}

/// The dialog handoff holds as the UAS of an INVITE from `from` (RFC 3261 section 12.1.1): our
/// tag `local_tag`, the caller's `remote_tag`, its Contact as the remote target, its
/// Record-Route as the route set.
fn uas_dialog(
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

fn first_contact_uri(message: &Message) -> Option<String> {
    message
        .contacts()
        .next()
        .and_then(Result::ok)
        .map(|c| c.uri.as_str().to_string())
}

fn record_routes(message: &Message) -> Vec<String> {
    message
        .header_values(HeaderName::RecordRoute)
        .map(text)
        .collect()
}

/// Why the A side of a new call is refused before a call exists.
struct Refusal {
    status: u16,
    reason: String,
    extra: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }
}

impl ShardCore {
    /// handoff's Contact, from the config of the call (or the current one for a new call).
    pub(super) fn contact(&self, seq: Option<u64>) -> String {
        let config = self.config_of(seq);
        format!(
            "<sip:handoff@{}>",
            SocketAddr::new(config.sbc.advertise, config.sbc.listen.port())
        )
    }

    pub(super) fn via(&self, seq: Option<u64>, branch: &str) -> String {
        let config = self.config_of(seq);
        format!(
            "SIP/2.0/UDP {};branch={branch};rport",
            SocketAddr::new(config.sbc.advertise, config.sbc.listen.port())
        )
    }

    /// A call keeps the config it started with; everything else uses the current one.
    pub(super) fn config_of(&self, seq: Option<u64>) -> &crate::config::Config {
        seq.and_then(|seq| self.calls.get(&seq))
            .map(|call| &*call.config)
            .unwrap_or(&self.config)
    }

    pub(super) fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Counts and reports a datagram dropped unanswered.
    fn dropped(&mut self, from: SocketAddr, reason: crate::metrics::DropReason) {
        self.metrics.dropped(reason);
        self.event(Event::Dropped { from, reason });
    }

    pub(super) fn transmit(&mut self, to: SocketAddr, payload: Vec<u8>) {
        self.outputs
            .push_back(Output::Transmit(Transmit { to, payload }));
    }

    /// Answer a server transaction with a locally generated response.
    pub(super) fn reply(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        let mut builder = sip::response_to(request, status, &reason_phrase(reason));
        let has_to_tag = request.to().ok().and_then(|to| to.tag()).is_some();
        if !has_to_tag && status > 100 {
            let tag = self.ids.tag();
            builder = builder.to_tag(&tag);
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Ok(bytes) = builder.build() {
            let _ = self.txn.respond(now, tx, status, bytes);
        }
    }

    fn reject(
        &mut self,
        now: Time,
        tx: ServerTxId,
        from: SocketAddr,
        request: &Message,
        refusal: Refusal,
    ) {
        self.stats.requests_rejected += 1;
        self.metrics.request_rejected(refusal.status);
        let extra: Vec<(&str, String)> =
            refusal.extra.iter().map(|(n, v)| (*n, v.clone())).collect();
        self.reply(now, tx, request, refusal.status, &refusal.reason, &extra);
        self.event(Event::RequestRejected {
            from,
            status: refusal.status,
            reason: refusal.reason,
        });
    }

    // ------------------------------------------------------------------ input

    pub(super) fn process_datagram(&mut self, now: Time, from: SocketAddr, payload: &[u8]) {
        // Strangers (no trunk's source) get what `sbc.unknown_source` says even for datagrams
        // that are too large or do not parse: no 400 naming a parse error, no 513.
        let trunk = self.config.trunk_by_source(from);
        let stranger =
            trunk.is_none() && self.config.sbc.unknown_source == UnknownSourcePolicy::Drop;
        if payload.len() > self.config.sbc.max_message_bytes {
            if stranger || payload.starts_with(b"SIP/") {
                self.dropped(from, crate::metrics::DropReason::TooLarge);
            } else {
                self.stats.requests_rejected += 1;
                if let Some(response) = salvaged_response(payload, 513, "Message Too Large", None) {
                    self.transmit(from, response);
                }
                self.event(Event::RequestRejected {
                    from,
                    status: 513,
                    reason: format!("{} bytes", payload.len()),
                });
            }
            return;
        }
        match Message::parse(payload) {
            Ok(message) if message.is_request() => self.on_request(now, from, trunk, &message),
            Ok(message) => self.on_response(now, from, &message),
            Err(_) if stranger => {
                self.stats.rejected_unknown_source += 1;
                self.dropped(from, crate::metrics::DropReason::UnknownSource);
            }
            Err(error) => self.on_unparseable(from, payload, &error.to_string()),
        }
    }

    fn on_unparseable(&mut self, from: SocketAddr, payload: &[u8], error: &str) {
        if payload.starts_with(b"SIP/") {
            self.stats.malformed_responses_dropped += 1;
            self.event(Event::MalformedResponseDropped {
                from,
                error: error.to_string(),
            });
            return;
        }
        self.stats.rejected_malformed += 1;
        self.stats.requests_rejected += 1;
        // ACKs are never answered; anything else gets a 400 naming the parse error, when we can
        // still find the headers a response needs.
        if let Some(response) = bad_request(payload, error) {
            self.transmit(from, response);
        }
        self.event(Event::RequestRejected {
            from,
            status: 400,
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
                self.dropped(from, crate::metrics::DropReason::InDialogFromWrongPeer);
                return;
            }
            Speaker::NoDialog if trunk.is_none() => {
                // No transaction, no state: a stranger's request is dropped, or answered once
                // and forgotten (a retransmission gets the same 403 again, nothing more).
                self.stats.rejected_unknown_source += 1;
                self.dropped(from, crate::metrics::DropReason::UnknownSource);
                if self.config.sbc.unknown_source == UnknownSourcePolicy::Reject
                    && request.method() != Some(Method::Ack)
                {
                    let tag = crate::core::ids::derived_tag(self.shard, request.as_bytes());
                    if let Ok(bytes) = sip::response_to(request, 403, "Forbidden")
                        .to_tag(&tag)
                        .build()
                    {
                        self.transmit(from, bytes);
                    }
                }
                return;
            }
            Speaker::NoDialog => {}
        }
        match self.txn.on_request(now, from, request) {
            ServerAction::New(tx) => self.on_new_request(now, from, trunk, tx, request),
            ServerAction::AckWithoutTransaction => self.on_ack(request),
            ServerAction::Cancel { invite } => self.on_cancel(now, invite),
            ServerAction::WrongSource => {
                self.dropped(from, crate::metrics::DropReason::InDialogFromWrongPeer);
            }
            ServerAction::Unusable(fault) => {
                self.stats.rejected_malformed += 1;
                self.stats.requests_rejected += 1;
                if let Some(response) = bad_request(request.as_bytes(), &fault.to_string()) {
                    self.transmit(from, response);
                }
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
            self.reply(
                now,
                tx,
                request,
                400,
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
                    self.on_initial_invite(now, from, (trunk, self.config.clone()), tx, request)
                }
                // Only a leg's own peer gets here without a trunk, and never without a To tag.
                None => self.reply(now, tx, request, 403, "Forbidden", &[]),
            },
            (Method::Options, None) => {
                self.stats.options_answered += 1;
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                    ("Accept", "application/sdp".to_string()),
                ];
                self.reply(now, tx, request, 200, "OK", &extra);
            }
            (
                Method::Bye
                | Method::Info
                | Method::Update
                | Method::Notify
                | Method::Prack
                | Method::Refer,
                None,
            ) => {
                self.reply(now, tx, request, 481, default_reason(481), &[]);
            }
            (_, None) => {
                self.reply(
                    now,
                    tx,
                    request,
                    405,
                    default_reason(405),
                    &[("Allow", ALLOW.to_string())],
                );
            }
        }
    }

    // ------------------------------------------------------------ new calls

    /// `source`: the trunk the INVITE came from, as an index into the configuration it arrived
    /// under (held INVITEs resume with that snapshot, whatever reloads happened meanwhile).
    pub(super) fn on_initial_invite(
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
            match self.replace_leg(now, from, tx, request, &replaces) {
                Ok(()) => {}
                Err(refusal) => self.reject(now, tx, from, request, refusal),
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
        if self.draining.is_some() {
            return Err(Refusal::new(503, "Service Unavailable (draining)"));
        }
        for token in request.require().filter_map(Result::ok) {
            if token.eq_ignore_ascii_case("100rel") || token.eq_ignore_ascii_case("timer") {
                let mut refusal = Refusal::new(420, "Bad Extension");
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
        let codecs = call_codecs(&a_trunk.codecs, &b_trunk.codecs)
            .ok_or_else(|| Refusal::new(488, "Not Acceptable Here (trunks share no codec)"))?;
        let from_party = request
            .from()
            .map_err(|e| Refusal::new(400, format!("Bad Request ({e})")))?;
        let remote_tag = from_party
            .tag()
            .ok_or_else(|| Refusal::new(400, "Bad Request (From has no tag)"))?
            .to_string();
        let call_id = request
            .call_id()
            .map_err(|e| Refusal::new(400, format!("Bad Request ({e})")))?
            .to_string();
        let cseq = request
            .cseq()
            .map_err(|e| Refusal::new(400, format!("Bad Request ({e})")))?
            .seq;
        let max_forwards = request.max_forwards().ok().flatten().unwrap_or(70);

        // Media: two ports, then the offer rewritten for leg B.
        let a_port = self.pool.allocate();
        let b_port = self.pool.allocate();
        let (Some(a_port), Some(b_port)) = (a_port, b_port) else {
            for port in [a_port, b_port].into_iter().flatten() {
                let _ = self.pool.release(port);
            }
            return Err(Refusal::new(503, "Service Unavailable (no media ports)"));
        };
        let mut b_origin = OriginState::new(self.rng.next_u64() >> 2, 1);
        let a_origin = OriginState::new(self.rng.next_u64() >> 2, 1);
        let mut a_media = (None, None, false);
        let mut offer_b = None;
        if is_sdp(request) {
            let plan = RewritePlan {
                advertise: config.sbc.advertise,
                audio_ports: vec![b_port],
                codecs: codecs.clone(),
                rtcp_mux: true,
                origin: b_origin,
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
                    let _ = self.pool.release(a_port);
                    let _ = self.pool.release(b_port);
                    return Err(match error {
                        SdpError::NoCommonCodec => {
                            Refusal::new(488, "Not Acceptable Here (no common codec)")
                        }
                        other => Refusal::new(488, format!("Not Acceptable Here ({other})")),
                    });
                }
            }
        }

        let seq = self.next_call;
        self.next_call += 1;
        let call_ref = CallRef {
            shard: self.shard,
            seq,
        };
        let a_tag = self.ids.tag();
        let b_tag = self.ids.tag();
        let b_call_id = self.ids.call_id();
        let branch = self.ids.branch();
        let conversation = format!("conv-{}", self.ids.tag());
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
        let via = self.via(None, &branch);
        let contact = self.contact(None);
        let max_forwards = max_forwards.saturating_sub(1).to_string();
        let supported = filtered_supported(request);
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
            && supported
                .as_ref()
                .is_none_or(|s| edit.add_header("Supported", s.as_bytes()).is_ok())
            && rewrites.0.iter().all(|rewrite| {
                edit.add_header(&rewrite.name, rewrite.rewritten.as_bytes())
                    .is_ok()
            })
            && offer_b
                .as_ref()
                .is_none_or(|offer| edit.set_body(Some("application/sdp"), offer).is_ok());
        if !edited {
            let _ = self.pool.release(a_port);
            let _ = self.pool.release(b_port);
            return Err(Refusal::new(
                400,
                "Bad Request (caller values unusable on leg B)",
            ));
        }
        let invite_b = edit.serialize();

        let client = match self
            .txn
            .send_request(now, peer, Method::Invite, &branch, invite_b)
        {
            Ok(client) => client,
            Err(error) => {
                let _ = self.pool.release(a_port);
                let _ = self.pool.release(b_port);
                return Err(Refusal::new(503, format!("Service Unavailable ({error})")));
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
        };
        let (legs, bridge) = Call::legs_for_setup(a_leg, b_leg);
        let call = Call {
            id: call_ref,
            config: config.clone(),
            conversation: conversation.clone(),
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
            transfer: None,
        };
        let (a_media_leg, b_media_leg) = call.media_pair();
        self.calls.insert(seq, call);
        self.dialogs.insert(a_tag, (seq, bridge[Side::A.index()]));
        self.dialogs.insert(b_tag, (seq, bridge[Side::B.index()]));
        self.track_server(tx, ServerPurpose::InitialInvite { call: seq });
        self.track_client(client, ClientPurpose::InitialInvite { call: seq });
        self.stats.calls_started += 1;
        self.stats.calls_active += 1;
        self.outputs.push_back(Output::Media(MediaCommand::Open {
            call: call_ref,
            a: a_media_leg,
            b: b_media_leg,
        }));
        self.metrics.call_started();
        self.metrics.session_opened(&a_trunk.name);
        self.metrics.session_opened(&b_trunk.name);
        self.event(Event::CallStarted {
            call: call_ref,
            conversation,
            from_trunk: a_trunk.name.clone(),
            to_trunk: b_trunk.name.clone(),
        });
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
    ) -> Result<(), Refusal> {
        if values.len() > 1 {
            return Err(Refusal::new(400, "Bad Request (more than one Replaces)"));
        }
        let replaces = crate::transfer::Replaces::parse(&values[0])
            .map_err(|e| Refusal::new(400, format!("Bad Request (Replaces: {e})")))?;
        let no_dialog = || {
            Refusal::new(
                481,
                "Call/Transaction Does Not Exist (Replaces names no dialog)",
            )
        };
        let (seq, side) = self
            .dialog_position(replaces.to_tag.as_str())
            .ok_or_else(no_dialog)?;
        let call = self.calls.get(&seq).ok_or_else(no_dialog)?;
        let named = call.leg(side);
        if named.dialog.call_id != replaces.call_id
            || named.dialog.remote_tag.as_deref() != Some(replaces.from_tag.as_str())
        {
            return Err(no_dialog());
        }
        if call.is_ended() {
            return Err(Refusal::new(603, "Decline (the replaced dialog has ended)"));
        }
        if !named.bound.contains(from) {
            return Err(Refusal::new(
                403,
                "Forbidden (Replaces names another trunk's dialog)",
            ));
        }
        if call.phase != CallPhase::Up {
            // Replacing an early dialog (RFC 3891: accept, then CANCEL it) is not supported.
            return Err(no_dialog());
        }
        if replaces.early_only {
            return Err(Refusal::new(
                486,
                "Busy Here (early-only, and the dialog is confirmed)",
            ));
        }
        if call.transfer.as_ref().is_some_and(|t| t.is_active()) || call.reinvite_pending {
            return Err(Refusal::new(491, "Request Pending"));
        }
        // The new dialog must take the call's G.711 law, or the other one (the relay transcodes).
        let call_law = call
            .audio_codec
            .as_deref()
            .and_then(crate::media::g711::G711Law::from_name)
            .ok_or_else(|| {
                Refusal::new(488, "Not Acceptable Here (replacement needs a G.711 call)")
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
                    488,
                    "Not Acceptable Here (no G.711 in the offer)",
                ));
            }
        };
        let remote_tag = request
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_string))
            .ok_or_else(|| Refusal::new(400, "Bad Request (no From tag)"))?;
        let call_id = request
            .call_id()
            .map(str::to_string)
            .map_err(|_| Refusal::new(400, "Bad Request (no Call-ID)"))?;
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        let tag = self.ids.tag();
        let origin = OriginState::new(self.rng.next_u64() >> 2, 1);
        let answer = sdp::g711_offer(
            &RewritePlan {
                advertise,
                audio_ports: vec![port],
                codecs: vec![law.name().to_string()],
                rtcp_mux: false,
                origin,
            },
            sdp::answer_direction(offer.direction),
        );
        let contact = self.contact(Some(seq));
        let Some(call) = self.calls.get_mut(&seq) else {
            return Err(no_dialog());
        };
        let named = call.leg(side);
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
        };
        // The new leg takes the named leg's place in the bridge; the named leg is retired.
        let new_id = call.add_leg(new_leg);
        let replaced_id = call.rebridge(side, new_id);
        let replaced_tag = match call.leg_by_id_mut(replaced_id) {
            Some(replaced) => {
                replaced.media_port = None;
                replaced.pending_2xx = None;
                replaced.dialog.local_tag.clone()
            }
            None => String::new(),
        };
        let other_law = law_of_codec(call.audio_codec.as_deref());
        let (law_a, law_b) = match side {
            Side::A => (Some(law), other_law),
            Side::B => (other_law, Some(law)),
        };
        let (id, a, b) = {
            let (a, b) = call.media_pair();
            (call.id, a, b)
        };
        self.dialogs.remove(replaced_tag.as_str());
        self.dialogs.insert(tag.clone(), (seq, new_id));
        // The 200 with our answer, retransmitted until the ACK like any 2xx of ours.
        let mut builder = sip::response_to(request, 200, "OK")
            .to_tag(&tag)
            .header("Contact", &contact)
            .header("Allow", ALLOW)
            .header("Supported", SUPPORTED);
        builder = builder.body("application/sdp", &answer.bytes);
        let bytes = builder
            .build()
            .map_err(|_| Refusal::new(500, "Server Internal Error (cannot build the 200)"))?;
        self.start_2xx_retransmission(now, seq, side, cseq, from, bytes.clone());
        let _ = self.txn.respond(now, tx, 200, bytes);
        self.outputs
            .push_back(Output::Media(MediaCommand::Update { call: id, a, b }));
        self.outputs.push_back(Output::Media(MediaCommand::SetLaws {
            call: id,
            a: law_a,
            b: law_b,
        }));
        // The replaced dialog is shut down with BYE (RFC 3891 section 3).
        self.bye_replaced_leg(now, seq, replaced_id);
        Ok(())
    }

    /// BYE a leg that a Replaces took out of its call. Its answer needs nothing from us.
    fn bye_replaced_leg(&mut self, now: Time, seq: u64, replaced: LegId) {
        let branch = self.ids.branch();
        let via = self.via(Some(seq), &branch);
        let Some(leg) = self
            .calls
            .get_mut(&seq)
            .and_then(|call| call.leg_by_id_mut(replaced))
        else {
            return;
        };
        let cseq = leg.dialog.next_cseq();
        let peer = leg.dialog.peer;
        let Ok(bytes) = in_dialog_request(Method::Bye, &leg.dialog, &via, cseq).build() else {
            return;
        };
        if let Ok(client) = self
            .txn
            .send_request(now, peer, Method::Bye, &branch, bytes)
        {
            self.track_client(
                client,
                ClientPurpose::Transfer {
                    call: seq,
                    what: TransferTx::LegBye,
                },
            );
            if let Some(call) = self.calls.get_mut(&seq) {
                call.outstanding += 1;
            }
        }
    }

    // ------------------------------------------------------------ SDP per leg

    /// Rewrite an SDP body that came from `from` for the other leg; learns `from`'s media
    /// addresses. Returns the body for the other leg.
    fn rewrite_sdp(&mut self, seq: u64, from: Side, body: &[u8]) -> Result<Vec<u8>, SdpError> {
        let Some(call) = self.calls.get_mut(&seq) else {
            return Err(SdpError::NoCommonCodec);
        };
        let to = from.other();
        let plan = RewritePlan {
            advertise: call.config.sbc.advertise,
            audio_ports: vec![call.leg(to).media_port.unwrap_or(0)],
            codecs: call.codecs.clone(),
            rtcp_mux: true,
            origin: call.leg(to).origin,
        };
        let rewritten = sdp::rewrite(body, &plan)?.vetted(&call.media_sources(from))?;
        call.leg_mut(to).origin = rewritten.origin;
        call.audio_codec = rewritten.first_audio_codec().map(|c| c.name.clone());
        let sender = call.leg_mut(from);
        sender.direction = rewritten.direction;
        sender.remote_rtp = rewritten.remote_rtp;
        sender.remote_rtcp = rewritten.remote_rtcp;
        sender.rtcp_mux = rewritten.rtcp_mux;
        if !call.is_ended() {
            let command = MediaCommand::Update {
                call: call.id,
                a: call.leg(Side::A).media(&call.config),
                b: call.leg(Side::B).media(&call.config),
            };
            self.outputs.push_back(Output::Media(command));
        }
        Ok(rewritten.bytes)
    }

    // ------------------------------------------------------ in-dialog requests

    pub(super) fn on_in_dialog_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: ServerTxId,
        request: &Message,
        to_tag: &str,
    ) {
        let found = self.dialog_position(to_tag).filter(|(seq, side)| {
            self.calls.get(seq).is_some_and(|call| {
                request.call_id().ok() == Some(call.leg(*side).dialog.call_id.as_str())
            })
        });
        let Some((seq, side)) = found else {
            if !self.retired_dialog_request(now, tx, request, to_tag) {
                self.reply(now, tx, request, 481, default_reason(481), &[]);
            }
            return;
        };
        let _ = from;
        let Some(method) = request.method() else {
            return;
        };
        if self.transfer_takes_request(now, tx, seq, side, method, request) {
            return;
        }
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        if method == Method::Bye {
            self.reply(now, tx, request, 200, "OK", &[]);
            if self.on_bye_in_join(now, seq, side) {
                return;
            }
            let state = self.calls.get(&seq).map(|c| c.phase);
            if state == Some(CallPhase::Setup) {
                // A BYE in the early dialog: the INVITE is abandoned (CANCEL toward B).
                self.hang_up(now, seq, EndReason::bye_from(side), 487);
            } else if state == Some(CallPhase::Up) {
                self.send_bye(now, seq, side.other());
                self.end_call(now, seq, EndReason::bye_from(side), None);
            }
            return;
        }
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        if call.is_ended() {
            self.reply(now, tx, request, 481, default_reason(481), &[]);
            return;
        }
        if !call.leg_mut(side).dialog.accept_remote_cseq(cseq) {
            self.reply(
                now,
                tx,
                request,
                500,
                "Server Internal Error (CSeq out of order)",
                &[],
            );
            return;
        }
        for token in request.require().filter_map(Result::ok) {
            if token.eq_ignore_ascii_case("100rel") || token.eq_ignore_ascii_case("timer") {
                self.reply(
                    now,
                    tx,
                    request,
                    420,
                    "Bad Extension",
                    &[("Unsupported", token.to_string())],
                );
                return;
            }
        }
        // A leg joined by a local attended transfer has no peer leg here to relay to.
        if self.answered_while_joined(now, tx, seq, side, method, request) {
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
            && let Some((original, rewritten)) = self.carrier_refer_to(seq, side, request)
        {
            for name in ["Refer-To", "r"] {
                rewrites.0.push(DialogRewrite {
                    name: name.to_string(),
                    original: original.clone(),
                    rewritten: rewritten.clone(),
                });
            }
        }
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let is_invite = method == Method::Invite;
        if is_invite {
            if call.reinvite_pending || call.phase != CallPhase::Up {
                self.reply(now, tx, request, 491, default_reason(491), &[]);
                return;
            }
            call.reinvite_pending = true;
        }
        if matches!(method, Method::Invite | Method::Update)
            && let Some(target) = first_contact_uri(request)
        {
            call.leg_mut(side).dialog.set_remote_target(&target);
        }
        let body = if is_sdp(request) {
            match self.rewrite_sdp(seq, side, request.body()) {
                Ok(bytes) => Some(("application/sdp".to_string(), bytes)),
                Err(error) => {
                    let reason = format!("Not Acceptable Here ({error})");
                    self.refuse_relay(now, tx, request, seq, is_invite, 488, &reason);
                    return;
                }
            }
        } else if !request.body().is_empty() {
            Some((content_type(request), request.body().to_vec()))
        } else {
            None
        };
        let identity_ok = self.calls.get(&seq).is_some_and(Call::identity_trusted);
        let extra: Vec<(String, String)> = request
            .headers()
            .filter(|h| passes_through(h.name) && (identity_ok || !is_identity_header(h.name)))
            .map(|h| {
                let value = text(h.value);
                let value = rewrites.apply(h.name, &value).into_owned();
                (h.name.to_string(), value)
            })
            .chain(filtered_supported(request).map(|s| ("Supported".to_string(), s)))
            .collect();
        let to = side.other();
        let Some((branch, bytes, peer)) =
            self.build_request(seq, to, method.as_str(), &extra, body)
        else {
            return;
        };
        match self.txn.send_request(now, peer, method, &branch, bytes) {
            Ok(client) => {
                self.track_client(
                    client,
                    ClientPurpose::Relayed {
                        call: seq,
                        to,
                        server: tx,
                        is_invite,
                    },
                );
                self.track_server(
                    tx,
                    ServerPurpose::Relayed {
                        call: seq,
                        from: side,
                        client,
                    },
                );
                if let Some(call) = self.calls.get_mut(&seq) {
                    call.outstanding += 1;
                }
            }
            Err(error) => {
                let reason = format!("Service Unavailable ({error})");
                self.refuse_relay(now, tx, request, seq, is_invite, 503, &reason);
            }
        }
    }

    /// A request that cannot be relayed is answered `status` here; a re-INVITE refused so is
    /// no longer pending.
    #[allow(clippy::too_many_arguments)]
    fn refuse_relay(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        seq: u64,
        is_invite: bool,
        status: u16,
        reason: &str,
    ) {
        if is_invite && let Some(call) = self.calls.get_mut(&seq) {
            call.reinvite_pending = false;
        }
        self.reply(now, tx, request, status, reason, &[]);
    }

    /// A new request on leg `side` of call `seq`, from that leg's dialog: (branch, bytes, peer).
    pub(super) fn build_request(
        &mut self,
        seq: u64,
        side: Side,
        method: &str,
        extra: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
    ) -> Option<(String, Vec<u8>, SocketAddr)> {
        let branch = self.ids.branch();
        let via = self.via(Some(seq), &branch);
        let contact = self.contact(Some(seq));
        let call = self.calls.get_mut(&seq)?;
        let dialog = &mut call.leg_mut(side).dialog;
        let cseq = dialog.next_cseq();
        let mut builder = in_dialog_request(Method::from_token(method), dialog, &via, cseq);
        if matches!(
            method,
            "INVITE" | "UPDATE" | "REFER" | "NOTIFY" | "SUBSCRIBE"
        ) {
            builder = builder.header("Contact", &contact);
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some((content_type, bytes)) = &body {
            builder = builder.body(content_type, bytes);
        }
        let bytes = builder.build().ok()?;
        Some((branch, bytes, dialog.peer))
    }

    /// handoff's own BYE on leg `side` (teardown).
    pub(super) fn send_bye(&mut self, now: Time, seq: u64, side: Side) {
        let Some((branch, bytes, peer)) = self.build_request(seq, side, "BYE", &[], None) else {
            return;
        };
        if let Ok(client) = self
            .txn
            .send_request(now, peer, Method::Bye, &branch, bytes)
        {
            self.track_client(client, ClientPurpose::Bye { call: seq });
            if let Some(call) = self.calls.get_mut(&seq) {
                call.outstanding += 1;
            }
        }
    }

    /// handoff's ACK for a 2xx to its INVITE with CSeq `cseq` on leg `side`.
    pub(super) fn send_ack(&mut self, seq: u64, side: Side, cseq: u32) {
        self.send_ack_with_body(seq, side, cseq, None);
    }

    /// As `send_ack`, with the SDP answer of a late offer.
    fn send_ack_with_body(&mut self, seq: u64, side: Side, cseq: u32, body: Option<Vec<u8>>) {
        let branch = self.ids.branch();
        let via = self.via(Some(seq), &branch);
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let leg = call.leg_mut(side);
        if let Some((acked, bytes)) = &leg.last_ack
            && *acked == cseq
        {
            let (to, bytes) = (leg.dialog.peer, bytes.clone());
            self.transmit(to, bytes);
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
        leg.last_ack = Some((cseq, bytes.clone()));
        self.transmit(to, bytes);
    }

    fn on_ack(&mut self, ack: &Message) {
        let Some(tag) = ack.to().ok().and_then(|to| to.tag().map(str::to_string)) else {
            return;
        };
        let Some((seq, side)) = self.dialog_position(&tag) else {
            return;
        };
        let cseq = ack.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let leg = call.leg_mut(side);
        if leg.pending_2xx.as_ref().is_none_or(|p| p.cseq != cseq) {
            return;
        }
        leg.pending_2xx = None;
        self.timers
            .cancel(CoreTimer::Retransmit2xx { call: seq, side });
        // Late offer: this ACK carries the answer the other leg's ACK is waiting for.
        if let Some((ack_side, ack_cseq)) = call.deferred_ack
            && ack_side == side.other()
        {
            call.deferred_ack = None;
            let body = if is_sdp(ack) {
                self.rewrite_sdp(seq, side, ack.body()).ok()
            } else {
                None
            };
            self.send_ack_with_body(seq, ack_side, ack_cseq, body);
        }
    }

    /// Whether the request of server transaction `server` carried no SDP (a late offer: the
    /// answer will come in the ACK). Stored requests were fully parsed on arrival: framing
    /// is enough to read them again.
    fn request_lacks_sdp(&self, server: ServerTxId) -> bool {
        self.txn
            .server_request(server)
            .and_then(|bytes| Message::parse_framing(bytes).ok().map(|m| !is_sdp(&m)))
            .unwrap_or(false)
    }

    /// ACK the far side's 2xx now, or, for a late offer, once the answer arrives in the ACK
    /// from the side that sent the INVITE.
    fn ack_or_defer(
        &mut self,
        seq: u64,
        side: Side,
        cseq: u32,
        server: ServerTxId,
        response: &Message,
    ) {
        if is_sdp(response) && self.request_lacks_sdp(server) {
            if let Some(call) = self.calls.get_mut(&seq) {
                call.deferred_ack = Some((side, cseq));
            }
        } else {
            self.send_ack(seq, side, cseq);
        }
    }

    fn on_cancel(&mut self, now: Time, invite: ServerTxId) {
        let request = self.txn.server_request(invite).map(<[u8]>::to_vec);
        let Some(request) = request else { return };
        let Ok(message) = Message::parse_framing(&request) else {
            return;
        };
        match self.server_txs.get(&invite).copied() {
            Some(ServerPurpose::InitialInvite { call: seq }) => {
                let Some(call) = self.calls.get(&seq) else {
                    return;
                };
                if call.phase != CallPhase::Setup {
                    return;
                }
                let tag = call.leg(Side::A).dialog.local_tag.clone();
                let client = call.invite.client;
                self.respond_with_tag(now, invite, &message, 487, default_reason(487), &tag);
                if let Some(client) = client {
                    self.txn.cancel(now, client);
                }
                self.end_call(now, seq, EndReason::Cancelled, Some(487));
            }
            Some(ServerPurpose::Relayed { client, .. }) => {
                // A CANCELled re-INVITE: 487 here, CANCEL on the other leg (whose final, if it
                // still comes, finds this transaction answered and goes nowhere).
                self.reply(now, invite, &message, 487, default_reason(487), &[]);
                self.txn.cancel(now, client);
            }
            None => self.reply(now, invite, &message, 487, default_reason(487), &[]),
        }
    }

    fn respond_with_tag(
        &mut self,
        now: Time,
        tx: ServerTxId,
        request: &Message,
        status: u16,
        reason: &str,
        tag: &str,
    ) {
        let mut builder = sip::response_to(request, status, &reason_phrase(reason));
        if request.to().ok().and_then(|to| to.tag()).is_none() {
            builder = builder.to_tag(tag);
        }
        if let Ok(bytes) = builder.build() {
            let _ = self.txn.respond(now, tx, status, bytes);
        }
    }

    // ------------------------------------------------------------- responses

    fn on_response(&mut self, now: Time, from: SocketAddr, response: &Message) {
        match self.txn.on_response(now, from, response) {
            ClientAction::Provisional { tx, status } => {
                if let Some(purpose) = self.client_txs.get(&tx).copied() {
                    self.on_provisional(now, purpose, status, response);
                }
            }
            ClientAction::Final { tx, status } => {
                if let Some(purpose) = self.client_txs.remove(&tx) {
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
                    ) && (200..300).contains(&status)
                    {
                        self.track_client(tx, purpose);
                    }
                    self.on_final(now, purpose, status, response);
                }
            }
            ClientAction::SuccessRetransmitted { tx, .. } => {
                if let Some(purpose) = self.client_txs.get(&tx).copied() {
                    self.reack(now, purpose, response);
                }
            }
            ClientAction::Stray => self.on_stray_response(response),
            ClientAction::WrongSource => {
                self.dropped(from, crate::metrics::DropReason::ResponseFromWrongSource);
            }
            ClientAction::Absorbed => {}
        }
    }

    fn reack(&mut self, now: Time, purpose: ClientPurpose, response: &Message) {
        let side = match purpose {
            ClientPurpose::InitialInvite { .. } => Side::B,
            ClientPurpose::Relayed { to, .. } => to,
            ClientPurpose::Transfer { call, what } => {
                self.reack_transfer(call, what, response);
                return;
            }
            ClientPurpose::Attended {
                step: AttendedStep::Reinvite { side, .. },
                ..
            } => side,
            ClientPurpose::Bye { .. } | ClientPurpose::Attended { .. } => return,
        };
        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
        let tag = response
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string));
        let dialog_tag = self
            .calls
            .get(&purpose.call())
            .and_then(|c| c.leg(side).dialog.remote_tag.clone());
        if tag.is_some() && tag != dialog_tag {
            self.reject_fork(now, purpose.call(), side, cseq, response);
            return;
        }
        let deferred = self
            .calls
            .get(&purpose.call())
            .is_some_and(|c| c.deferred_ack == Some((side, cseq)));
        if !deferred {
            self.send_ack(purpose.call(), side, cseq);
        }
    }

    /// A 2xx from a second fork of leg `side`'s INVITE (another To tag): the call has its
    /// dialog already, so this one is ACKed and hung up at once (RFC 3261 13.2.2.4).
    fn reject_fork(&mut self, now: Time, seq: u64, side: Side, cseq: u32, response: &Message) {
        let Some(call) = self.calls.get(&seq) else {
            return;
        };
        let dialog = &call.leg(side).dialog;
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
            let branch = self.ids.branch();
            let built = RequestBuilder::new(method, &target)
                .header("Via", self.via(Some(seq), &branch))
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
                self.transmit(peer, bytes);
            } else if let Ok(client) = self.txn.send_request(now, peer, method, &branch, bytes) {
                self.track_client(client, ClientPurpose::Bye { call: seq });
                if let Some(call) = self.calls.get_mut(&seq) {
                    call.outstanding += 1;
                }
            }
        }
    }

    /// A 2xx to an INVITE whose transaction is gone: re-ACK it if it is one of our dialogs.
    fn on_stray_response(&mut self, response: &Message) {
        let is_invite_2xx = response.status().is_some_and(|s| (200..300).contains(&s))
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
        if let Some((seq, side)) = self.dialog_position(&tag) {
            let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
            let acked = self
                .calls
                .get(&seq)
                .and_then(|c| c.leg(side).last_ack.as_ref())
                .is_some_and(|(s, _)| *s == cseq);
            if acked {
                self.send_ack(seq, side, cseq);
            }
        }
    }

    fn on_provisional(
        &mut self,
        now: Time,
        purpose: ClientPurpose,
        status: u16,
        response: &Message,
    ) {
        if status == 100 {
            return;
        }
        match purpose {
            ClientPurpose::InitialInvite { call: seq } => {
                let Some(call) = self.calls.get_mut(&seq) else {
                    return;
                };
                if let Ok(to) = response.to()
                    && let Some(tag) = to.tag()
                {
                    let value = response
                        .header(HeaderName::To)
                        .map(text)
                        .unwrap_or_default();
                    call.leg_mut(Side::B).dialog.set_remote_tag(tag, &value);
                }
                if call.is_ended() {
                    return;
                }
                let server = call.invite.server;
                self.relay_response(now, seq, Side::A, server, status, response);
            }
            ClientPurpose::Relayed {
                call, to, server, ..
            } => {
                self.relay_response(now, call, to.other(), server, status, response);
            }
            ClientPurpose::Bye { .. } | ClientPurpose::Attended { .. } => {}
            ClientPurpose::Transfer { call, what } => {
                self.on_transfer_response(now, call, what, status, response)
            }
        }
    }

    fn on_final(&mut self, now: Time, purpose: ClientPurpose, status: u16, response: &Message) {
        let success = (200..300).contains(&status);
        match purpose {
            ClientPurpose::InitialInvite { call: seq } => {
                let Some(call) = self.calls.get_mut(&seq) else {
                    return;
                };
                call.invite.client_done = true;
                if success {
                    let to_value = response
                        .header(HeaderName::To)
                        .map(text)
                        .unwrap_or_default();
                    if let Some(tag) = response.to().ok().and_then(|t| t.tag().map(str::to_string))
                    {
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
                        self.send_ack(seq, Side::B, cseq);
                    } else {
                        self.ack_or_defer(seq, Side::B, cseq, server, response);
                    }
                    let Some(call) = self.calls.get_mut(&seq) else {
                        return;
                    };
                    if call.is_ended() {
                        // Answered after CANCEL/timeout/drain: ACK it and hang up.
                        self.send_bye(now, seq, Side::B);
                        return;
                    }
                    call.phase = CallPhase::Up;
                    call.answered = Some(now);
                    let (id, server) = (call.id, call.invite.server);
                    self.stats.calls_answered += 1;
                    self.relay_response(now, seq, Side::A, server, status, response);
                    self.event(Event::CallAnswered { call: id });
                } else {
                    if call.is_ended() {
                        return;
                    }
                    let server = call.invite.server;
                    self.relay_response(now, seq, Side::A, server, status, response);
                    self.end_call(now, seq, EndReason::Rejected, Some(status));
                }
            }
            ClientPurpose::Relayed {
                call: seq,
                to,
                server,
                is_invite,
            } => {
                if is_invite {
                    if let Some(call) = self.calls.get_mut(&seq) {
                        call.reinvite_pending = false;
                    }
                    if success {
                        if let Some(target) = first_contact_uri(response)
                            && let Some(call) = self.calls.get_mut(&seq)
                        {
                            call.leg_mut(to).dialog.set_remote_target(&target);
                        }
                        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
                        self.ack_or_defer(seq, to, cseq, server, response);
                    }
                }
                self.relay_response(now, seq, to.other(), server, status, response);
            }
            ClientPurpose::Bye { .. } => {}
            ClientPurpose::Transfer { call, what } => {
                self.on_transfer_response(now, call, what, status, response)
            }
            ClientPurpose::Attended { call, step } => {
                self.on_attended_final(now, call, step, status, Some(response))
            }
        }
    }

    /// Relay `response` (from the far side) as the answer to server transaction `server`, which
    /// came from leg `side`.
    fn relay_response(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        server: ServerTxId,
        status: u16,
        response: &Message,
    ) {
        let request = self.txn.server_request(server).map(<[u8]>::to_vec);
        let Some(request) = request else { return };
        let Ok(request) = Message::parse_framing(&request) else {
            return;
        };
        let reason = response
            .reason()
            .map(text)
            .unwrap_or_else(|| default_reason(status).to_string());
        let is_invite = request.method() == Some(Method::Invite);
        let body = if is_sdp(response) {
            match self.rewrite_sdp(seq, side.other(), response.body()) {
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
        let contact = self.contact(Some(seq));
        let Some(call) = self.calls.get(&seq) else {
            return;
        };
        let leg = call.leg(side);
        let mut builder = sip::response_to(&request, status, &reason_phrase(&reason));
        if request.to().ok().and_then(|to| to.tag()).is_none() {
            builder = builder.to_tag(&leg.dialog.local_tag);
        }
        if (is_invite || request.method() == Some(Method::Update)) && status < 300 {
            builder = builder.header("Contact", &contact);
        }
        let identity_ok = call.identity_trusted();
        for header in response
            .headers()
            .filter(|h| passes_through(h.name) && (identity_ok || !is_identity_header(h.name)))
        {
            builder = builder.header(header.name, text(header.value));
        }
        if let Some(supported) = filtered_supported(response) {
            builder = builder.header("Supported", &supported);
        }
        if let Some((content_type, bytes)) = &body {
            builder = builder.body(content_type, bytes);
        }
        let Ok(bytes) = builder.build() else { return };
        let to = leg.dialog.peer;
        if is_invite && (200..300).contains(&status) {
            let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
            self.start_2xx_retransmission(now, seq, side, cseq, to, bytes.clone());
        }
        let _ = self.txn.respond(now, server, status, bytes);
    }

    fn start_2xx_retransmission(
        &mut self,
        now: Time,
        seq: u64,
        side: Side,
        cseq: u32,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) {
        // An ended call answers a late re-INVITE once but keeps no retransmission state.
        if self.calls.get(&seq).is_none_or(|c| c.is_ended()) {
            return;
        }
        let t1 = self.config_of(Some(seq)).sbc.timers.t1_ms;
        self.set_timer(
            now.plus_millis(t1),
            CoreTimer::Retransmit2xx { call: seq, side },
        );
        if let Some(call) = self.calls.get_mut(&seq) {
            call.leg_mut(side).pending_2xx = Some(Pending2xx {
                cseq,
                bytes,
                to,
                started: now,
                interval_ms: t1,
            });
        }
    }

    // ------------------------------------------------------------------ timers

    pub(super) fn on_transaction_timeout(&mut self, now: Time, timeout: TransactionTimeout) {
        let TxRef::Client(client) = timeout.tx else {
            return;
        };
        let Some(purpose) = self.client_txs.remove(&client) else {
            return;
        };
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
                let request = self.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    self.respond_with_tag(now, server, &message, 408, default_reason(408), &tag);
                }
                self.end_call(now, seq, EndReason::Timeout, Some(408));
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
                let request = self.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    self.reply(now, server, &message, 408, default_reason(408), &[]);
                }
            }
            ClientPurpose::Bye { .. } => {}
            ClientPurpose::Transfer { call, what } => self.on_transfer_timeout(now, call, what),
            ClientPurpose::Attended { call, step } => {
                self.on_attended_final(now, call, step, 408, None)
            }
        }
    }

    pub(super) fn on_core_timer(&mut self, now: Time, timer: CoreTimer) {
        match timer {
            CoreTimer::Retransmit2xx { call: seq, side } => self.retransmit_2xx(now, seq, side),
            CoreTimer::Reap { call: seq } => self.reap(now, seq),
            CoreTimer::Transfer { call: seq, .. } => self.on_transfer_timer(now, seq),
            CoreTimer::DialogQueryTimeout { hold } => self.on_dialog_query_timeout(now, hold),
            CoreTimer::AttendedTransfer { join, .. } => self.on_attended_timer(now, join),
            CoreTimer::DrainDeadline => {
                let live: Vec<u64> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| !c.is_ended())
                    .map(|(seq, _)| *seq)
                    .collect();
                for seq in live {
                    self.hang_up(now, seq, EndReason::Drain, 503);
                }
            }
        }
    }

    fn retransmit_2xx(&mut self, now: Time, seq: u64, side: Side) {
        let timers = self.config_of(Some(seq)).sbc.timers;
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        let Some(pending) = call.leg_mut(side).pending_2xx.take() else {
            return;
        };
        if now.millis_since(pending.started) >= 64 * timers.t1_ms {
            // No ACK in 64*T1: the dialog is dead on that side (RFC 3261 13.3.1.4).
            self.hang_up(now, seq, EndReason::AckTimeout, 503);
            return;
        }
        self.stats.retransmitted_2xx += 1;
        let interval = (pending.interval_ms * 2).min(timers.t2_ms);
        let (to, bytes) = (pending.to, pending.bytes.clone());
        self.set_timer(
            now.plus_millis(interval),
            CoreTimer::Retransmit2xx { call: seq, side },
        );
        if let Some(call) = self.calls.get_mut(&seq) {
            call.leg_mut(side).pending_2xx = Some(Pending2xx {
                interval_ms: interval,
                ..pending
            });
        }
        self.transmit(to, bytes);
    }

    /// End a live call from handoff's side: BYE both legs when answered; when still ringing,
    /// `early_status` to A and CANCEL toward B.
    pub(super) fn hang_up(&mut self, now: Time, seq: u64, reason: EndReason, early_status: u16) {
        let Some(call) = self.calls.get(&seq) else {
            return;
        };
        match call.phase {
            CallPhase::Ended { .. } => {}
            CallPhase::Up => {
                self.send_bye(now, seq, Side::A);
                self.send_bye(now, seq, Side::B);
                self.end_call(now, seq, reason, None);
            }
            CallPhase::Setup => {
                let (server, client, tag) = (
                    call.invite.server,
                    call.invite.client,
                    call.leg(Side::A).dialog.local_tag.clone(),
                );
                let request = self.txn.server_request(server).map(<[u8]>::to_vec);
                if let Some(request) = request
                    && let Ok(message) = Message::parse_framing(&request)
                {
                    self.respond_with_tag(
                        now,
                        server,
                        &message,
                        early_status,
                        default_reason(early_status),
                        &tag,
                    );
                }
                if let Some(client) = client {
                    self.txn.cancel(now, client);
                }
                self.end_call(now, seq, reason, Some(early_status));
            }
        }
    }

    /// The call is over for everyone: release media, emit CallEnded once, keep the dialogs a
    /// while for late messages.
    pub(super) fn end_call(
        &mut self,
        now: Time,
        seq: u64,
        reason: EndReason,
        setup_status: Option<u16>,
    ) {
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        if call.is_ended() {
            return;
        }
        let answered = call.answered;
        let deferred = call.deferred_ack.take();
        call.phase = CallPhase::Ended { reason };
        call.reinvite_pending = false;
        let mut ports = Vec::new();
        for side in [Side::A, Side::B] {
            let leg = call.leg_mut(side);
            ports.extend(leg.media_port.take());
            leg.pending_2xx = None;
            self.timers
                .cancel(CoreTimer::Retransmit2xx { call: seq, side });
        }
        let end = CallEnd {
            call: call.id,
            conversation: call.conversation.clone(),
            from_trunk: call.trunk_name(Side::A),
            to_trunk: call.trunk_name(Side::B),
            setup_status: setup_status.unwrap_or(if answered.is_some() { 200 } else { 0 }),
            end_reason: reason,
            duration_ms: answered.map(|t| now.millis_since(t)).unwrap_or(0),
            media: None,
        };
        let id = call.id;
        for port in ports {
            let _ = self.pool.release(port);
        }
        self.stats.calls_active = self.stats.calls_active.saturating_sub(1);
        self.stats.calls_ended += 1;
        self.metrics.session_closed(&end.from_trunk);
        self.metrics.session_closed(&end.to_trunk);
        self.transfer_call_ended(now, seq);
        self.attended_call_ended(now, seq);
        self.outputs
            .push_back(Output::Media(MediaCommand::Close { call: id }));
        self.event(Event::CallEnded(end));
        if let Some((side, cseq)) = deferred {
            // The answer never came: ACK without it so the far end stops retransmitting.
            self.send_ack(seq, side, cseq);
        }
        let linger = 64 * self.config_of(Some(seq)).sbc.timers.t1_ms;
        self.set_timer(now.plus_millis(linger), CoreTimer::Reap { call: seq });
    }

    /// Forget an ended call, unless some of its transactions are still running.
    fn reap(&mut self, now: Time, seq: u64) {
        let Some(call) = self.calls.get(&seq) else {
            return;
        };
        if call.outstanding > 0 {
            let linger = 64 * self.config_of(Some(seq)).sbc.timers.t1_ms;
            self.set_timer(now.plus_millis(linger), CoreTimer::Reap { call: seq });
            return;
        }
        let Some(call) = self.calls.remove(&seq) else {
            return;
        };
        self.timers.cancel_group(seq);
        // Every leg the call had: bridged, retired, replaced.
        for leg in &call.legs {
            if self
                .dialogs
                .get(&leg.dialog.local_tag)
                .is_some_and(|(owner, _)| *owner == seq)
            {
                self.dialogs.remove(&leg.dialog.local_tag);
            }
        }
        for tx in &call.client_txs {
            self.client_txs.remove(tx);
        }
        for tx in &call.server_txs {
            self.server_txs.remove(tx);
        }
    }

    /// Remember what a client transaction is for (and which call to forget it with).
    pub(super) fn track_client(&mut self, tx: ClientTxId, purpose: ClientPurpose) {
        if let Some(call) = self.calls.get_mut(&purpose.call())
            && !call.client_txs.contains(&tx)
        {
            call.client_txs.push(tx);
        }
        self.client_txs.insert(tx, purpose);
    }

    fn track_server(&mut self, tx: ServerTxId, purpose: ServerPurpose) {
        let seq = match purpose {
            ServerPurpose::InitialInvite { call } | ServerPurpose::Relayed { call, .. } => call,
        };
        if let Some(call) = self.calls.get_mut(&seq)
            && !call.server_txs.contains(&tx)
        {
            call.server_txs.push(tx);
        }
        self.server_txs.insert(tx, purpose);
    }
}
