//! SDP (RFC 4566) parsing and per-leg rewriting for the B2BUA.
//!
//! handoff anchors every call's media on its own ports, so each SDP that crosses it is rewritten
//! for the leg it goes to ([`rewrite`]):
//! - `o=` becomes handoff's own (username `sbc.identity`, the leg's session id, our address); the
//!   version bumps only when the rest of the body changed ([`OriginState`]). `s=` becomes `-`;
//!   `i=`, `u=`, `e=`, `p=`, `k=` are dropped. Nothing of the other side's identity leaks.
//! - `c=` (session and media level) carries the advertised address. A `0.0.0.0` / `::` hold
//!   address stays unspecified, so the hold passes through.
//! - The n-th `m=audio` section (RTP profile) gets the n-th port of the plan; every other
//!   section (video, image/T.38, audio without a port in the plan) is rejected with port 0 and
//!   keeps only its `c=` line.
//! - Codecs are filtered by the trunk's list, in the offer's order; telephone-event always
//!   passes. `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` of dropped payload types are removed.
//! - `a=rtcp` is rewritten to our port + 1 and address, or removed when rtcp-mux is kept.
//!   `a=rtcp-mux` passes only when the plan allows it (for an answer: when the offer had it).
//! - `a=tool` (names the peer's software) is dropped at session level.
//! - ICE lines (`a=candidate`, `a=ice-*`, `a=end-of-candidates`, `a=remote-candidates`) and
//!   `a=group` (BUNDLE) are dropped: handoff relays plain RTP per m-line and does not do ICE, so
//!   the peer's candidates would both leak its topology and invite endpoints to bypass the relay.
//! - Identity attributes are dropped at both levels: `a=ssrc` (its `cname` names the sender,
//!   RFC 5576), `a=ssrc-group`, `a=msid`, `a=msid-semantic`, and `a=fingerprint` with `a=setup`
//!   and `a=tls-id` (the far end's DTLS certificate: media is anchored on handoff's plain-RTP
//!   relay, so it names an endpoint the receiver never talks to).
//!
//! Output lines always end in CRLF. Parsing never panics; any input either rewrites or gives an
//! [`SdpError`].

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use crate::vocab::MediaSources;

/// Payload types with a name fixed by RFC 3551.
const STATIC_PAYLOAD_TYPES: &[(u8, &str, u32)] = &[
    (0, "PCMU", 8000),
    (3, "GSM", 8000),
    (4, "G723", 8000),
    (8, "PCMA", 8000),
    (9, "G722", 8000),
    (13, "CN", 8000),
    (18, "G729", 8000),
];

const TELEPHONE_EVENT: &str = "telephone-event";

/// Dynamic payload type handoff uses for telephone-event in its own offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The offer/answer shares no codec with the trunk's list (the core answers 488).
    #[error("no common codec: nothing offered is in the trunk's codec list")]
    NoCommonCodec,
    /// The sender's SDP is broken. `line` counts from 1.
    #[error("malformed SDP from peer at line {line}: {why}")]
    Malformed { line: usize, why: &'static str },
    /// The media address (`c=` or `a=rtcp`) is loopback, multicast, broadcast or link-local
    /// space that the sender's trunk does not hold (its peer IP, `media_networks`): strict media
    /// sources refuse it (the core answers 488 to an offer).
    #[error("media address {0} not allowed for this trunk")]
    ConnectionNotAllowed(IpAddr),
}

/// RFC 3264 media direction.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_attribute(attribute: &str) -> Option<Direction> {
        match attribute {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The party sends media in this direction (sendrecv or sendonly).
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// The party receives media in this direction (sendrecv or recvonly).
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The direction an answerer that accepts everything puts in its answer (RFC 3264 section 6.1):
/// a hold (sendonly) is answered recvonly, and so on.
pub fn answer_direction(offer: Direction) -> Direction {
    match offer {
        Direction::SendRecv => Direction::SendRecv,
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    }
}

/// A payload type kept in a rewritten section.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Codec {
    pub payload_type: u8,
    /// As written in `a=rtpmap` (or the RFC 3551 name of a static payload type).
    pub name: String,
    pub clock_rate: u32,
}

impl Codec {
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }
}

/// The o= line state of one leg, kept by the caller between rewrites of that leg.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginState {
    pub session_id: u64,
    pub version: u64,
    /// Fingerprint of the last body sent on the leg (everything after `o=`); `None` before
    /// the first one.
    pub content_hash: Option<u64>,
}

impl OriginState {
    /// A leg's state before its first SDP. The first body gets `version`.
    pub fn new(session_id: u64, version: u64) -> OriginState {
        OriginState {
            session_id,
            version,
            content_hash: None,
        }
    }

    /// The state after sending a body with fingerprint `content_hash`: the version bumps when
    /// the content differs from the previous body.
    fn next(self, content_hash: u64) -> OriginState {
        let version = match self.content_hash {
            Some(previous) if previous != content_hash => self.version.wrapping_add(1),
            _ => self.version,
        };
        OriginState {
            session_id: self.session_id,
            version,
            content_hash: Some(content_hash),
        }
    }
}

/// How to rewrite one SDP for the leg it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewritePlan {
    /// handoff's address on that leg's side (c=, o=, a=rtcp).
    pub advertise: IpAddr,
    /// Our RTP port for the n-th `m=audio` section. Missing or 0 rejects the section.
    pub audio_ports: Vec<u16>,
    /// The trunk's codec names ("PCMU", "G729", "opus", case-insensitive); empty = all.
    pub codecs: Vec<String>,
    /// Let `a=rtcp-mux` through. For an answer, set this only if the offer had it.
    pub rtcp_mux: bool,
    /// The leg's o= state; the updated one comes back in the result.
    pub origin: OriginState,
    /// The `o=` username: handoff's configured identity (`sbc.identity`), never the peer's.
    pub username: String,
}

/// A rewritten body, plus what the relay needs to know about the sender's media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewrittenSdp {
    pub bytes: Vec<u8>,
    /// Store this for the leg's next rewrite.
    pub origin: OriginState,
    /// From the first accepted audio section of the input: `None` when on 0.0.0.0 hold.
    pub remote_rtp: Option<SocketAddr>,
    /// `a=rtcp` of the input, else RTP port + 1. `None` when `remote_rtp` is.
    pub remote_rtcp: Option<SocketAddr>,
    /// The input's audio section had `a=rtcp-mux`.
    pub rtcp_mux_offered: bool,
    /// Whether the output kept `a=rtcp-mux` (offered and allowed by the plan).
    pub rtcp_mux: bool,
    /// The sender's direction for the audio section (media level, else session, else sendrecv).
    pub direction: Direction,
    /// Codecs kept in the first accepted audio section, in the input's order.
    pub codecs: Vec<Codec>,
}

impl RewrittenSdp {
    /// Strict media sources: the sender's media addresses must be ones its trunk may name
    /// ([`MediaSources::accepts_connection`]): otherwise a peer could aim handoff's relay at
    /// handoff's own host (loopback) or at a multicast group. A hold on `0.0.0.0` names no
    /// address (RFC 3264 section 8.4) and passes.
    pub fn vetted(self, sources: &MediaSources) -> Result<RewrittenSdp, SdpError> {
        for addr in [self.remote_rtp, self.remote_rtcp].into_iter().flatten() {
            if !sources.accepts_connection(addr.ip()) {
                return Err(SdpError::ConnectionNotAllowed(addr.ip()));
            }
        }
        Ok(self)
    }

    /// The first kept codec that is not telephone-event: what the sender will most likely use.
    pub fn first_audio_codec(&self) -> Option<&Codec> {
        self.codecs.iter().find(|c| !c.is_telephone_event())
    }

    /// The telephone-event payload type kept, if any.
    pub fn telephone_event(&self) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.is_telephone_event())
    }
}

/// A body handoff generates itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedSdp {
    pub bytes: Vec<u8>,
    pub origin: OriginState,
}

struct Line<'a> {
    kind: u8,
    value: &'a str,
    number: usize,
}

impl Line<'_> {
    fn malformed(&self, why: &'static str) -> SdpError {
        SdpError::Malformed {
            line: self.number,
            why,
        }
    }
}

struct MediaLine<'a> {
    media: &'a str,
    port: u16,
    proto: &'a str,
    formats: Vec<&'a str>,
}

struct Section<'a> {
    m: MediaLine<'a>,
    m_number: usize,
    lines: Vec<Line<'a>>,
}

struct Parsed<'a> {
    session: Vec<Line<'a>>,
    sections: Vec<Section<'a>>,
}

fn split_lines(sdp: &[u8]) -> Result<Vec<Line<'_>>, SdpError> {
    let mut lines = Vec::new();
    for (index, raw) in sdp.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|_| SdpError::Malformed {
            line: number,
            why: "line is not UTF-8",
        })?;
        let bytes = text.as_bytes();
        match bytes {
            // Trailing white space is not part of the value: it is read as it will be written
            // (`push_line` trims it), so what handoff sends parses the same way again.
            [kind @ b'a'..=b'z', b'=', ..] => lines.push(Line {
                kind: *kind,
                value: text[2..].trim_end(),
                number,
            }),
            _ => {
                return Err(SdpError::Malformed {
                    line: number,
                    why: "line is not of the form <letter>=<value>",
                });
            }
        }
    }
    Ok(lines)
}

fn parse(sdp: &[u8]) -> Result<Parsed<'_>, SdpError> {
    let lines = split_lines(sdp)?;
    match lines.first() {
        Some(first) if first.kind == b'v' && first.value.trim() == "0" => {}
        Some(first) => return Err(first.malformed("first line is not v=0")),
        None => {
            return Err(SdpError::Malformed {
                line: 1,
                why: "empty body",
            });
        }
    }
    let mut parsed = Parsed {
        session: Vec::new(),
        sections: Vec::new(),
    };
    for line in lines {
        if line.kind == b'm' {
            let m = parse_media_line(&line)?;
            parsed.sections.push(Section {
                m,
                m_number: line.number,
                lines: Vec::new(),
            });
        } else if let Some(section) = parsed.sections.last_mut() {
            section.lines.push(line);
        } else {
            parsed.session.push(line);
        }
    }
    Ok(parsed)
}

fn parse_media_line<'a>(line: &Line<'a>) -> Result<MediaLine<'a>, SdpError> {
    let mut fields = line.value.split_ascii_whitespace();
    let media = fields
        .next()
        .ok_or(line.malformed("m= has no media type"))?;
    let port_field = fields.next().ok_or(line.malformed("m= has no port"))?;
    let proto = fields.next().ok_or(line.malformed("m= has no protocol"))?;
    let formats: Vec<&str> = fields.collect();
    if formats.is_empty() {
        return Err(line.malformed("m= has no formats"));
    }
    let port_text = port_field.split('/').next().unwrap_or(port_field);
    let port = port_text
        .parse::<u16>()
        .map_err(|_| line.malformed("m= port is not a number 0..65535"))?;
    Ok(MediaLine {
        media,
        port,
        proto,
        formats,
    })
}

/// `IN IP4 <addr>[/ttl...]`.
fn parse_connection(line: &Line<'_>) -> Result<IpAddr, SdpError> {
    parse_address(line, &mut line.value.split_ascii_whitespace(), "c=")
}

/// `<nettype> <addrtype> <address>` as in c= and a=rtcp.
fn parse_address<'a>(
    line: &Line<'_>,
    fields: &mut impl Iterator<Item = &'a str>,
    what: &'static str,
) -> Result<IpAddr, SdpError> {
    let bad = |why: &'static str| {
        line.malformed(if what == "c=" {
            why
        } else {
            "a=rtcp address is invalid"
        })
    };
    if fields.next() != Some("IN") {
        return Err(bad("c= network type is not IN"));
    }
    let family = fields.next().ok_or(bad("c= has no address type"))?;
    let address = fields.next().ok_or(bad("c= has no address"))?;
    let address = address.split('/').next().unwrap_or(address);
    match family {
        "IP4" => address
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| bad("c= IP4 address is not an IPv4 literal")),
        "IP6" => address
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| bad("c= IP6 address is not an IPv6 literal")),
        _ => Err(bad("c= address type is neither IP4 nor IP6")),
    }
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605).
fn parse_rtcp(line: &Line<'_>, value: &str) -> Result<(u16, Option<IpAddr>), SdpError> {
    let mut fields = value.split_ascii_whitespace().peekable();
    let port = fields
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or(line.malformed("a=rtcp port is not a number 0..65535"))?;
    if fields.peek().is_none() {
        return Ok((port, None));
    }
    Ok((port, Some(parse_address(line, &mut fields, "a=rtcp")?)))
}

/// `a=rtpmap:<pt> <name>/<rate>[/<channels>]`.
fn parse_rtpmap<'a>(line: &Line<'_>, value: &'a str) -> Result<(u8, &'a str, u32), SdpError> {
    let (pt, encoding) = value
        .split_once(' ')
        .ok_or(line.malformed("a=rtpmap has no encoding"))?;
    let pt = pt
        .parse::<u8>()
        .ok()
        .filter(|pt| *pt < 128)
        .ok_or(line.malformed("a=rtpmap payload type is not 0..127"))?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err(line.malformed("a=rtpmap encoding name is empty"));
    }
    let rate = parts
        .next()
        .and_then(|r| r.parse::<u32>().ok())
        .ok_or(line.malformed("a=rtpmap clock rate is not a number"))?;
    Ok((pt, name, rate))
}

/// Splits `a=<name>[:<value>]`.
fn attribute<'a>(line: &Line<'a>) -> (&'a str, &'a str) {
    match line.value.split_once(':') {
        Some((name, value)) => (name, value),
        None => (line.value, ""),
    }
}

/// Payload type an `a=fmtp` / `a=rtcp-fb` / `a=rtpmap` value starts with (`None` for `*`).
fn leading_payload_type(value: &str) -> Option<&str> {
    let first = value.split_ascii_whitespace().next()?;
    (first != "*").then_some(first)
}

/// Attributes that carry the other side's identity or topology and mean nothing once handoff
/// anchors the media (topology hiding): RFC 5576 source attributes (`a=ssrc` with its `cname`,
/// which names the sender, e.g. `cname:sip:+15551234567@10.1.2.3`, and `a=ssrc-group`), media
/// stream identification (`a=msid`, `a=msid-semantic`, RFC 8830), and the DTLS identity of the
/// far endpoint (`a=fingerprint` RFC 8122, with `a=setup` and `a=tls-id` RFC 8842, which only
/// qualify it): the relay forwards plain RTP and is no DTLS endpoint, so a fingerprint would name
/// a certificate the receiver never talks to.
fn is_identity_attribute(name: &str) -> bool {
    matches!(
        name,
        "ssrc" | "ssrc-group" | "msid" | "msid-semantic" | "fingerprint" | "setup" | "tls-id"
    )
}

fn is_ice_attribute(name: &str) -> bool {
    matches!(
        name,
        "candidate" | "end-of-candidates" | "remote-candidates" | "ice-lite" | "ice-mismatch"
    ) || name.starts_with("ice-")
}

fn is_rtp_profile(proto: &str) -> bool {
    proto.split('/').any(|p| p == "RTP")
}

fn codec_allowed(plan_codecs: &[String], name: &str) -> bool {
    name.eq_ignore_ascii_case(TELEPHONE_EVENT)
        || plan_codecs.is_empty()
        || plan_codecs.iter().any(|c| c.eq_ignore_ascii_case(name))
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

fn connection_line(advertise: IpAddr, hold: bool) -> String {
    let address = match (hold, advertise) {
        (false, ip) => ip,
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    format!("c=IN {} {}\r\n", family(advertise), address)
}

/// FNV-1a: a stable fingerprint of the body (std's hasher is not guaranteed stable).
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn assemble(plan: &RewritePlan, rest: &str) -> (Vec<u8>, OriginState) {
    let (advertise, origin) = (plan.advertise, plan.origin);
    let origin = origin.next(fingerprint(rest.as_bytes()));
    let mut out = String::with_capacity(rest.len() + 64);
    // RFC 8866 section 5.2: the username has no spaces; "-" when there is none.
    let username = plan.username.trim();
    let username = if username.is_empty() || username.contains(char::is_whitespace) {
        "-"
    } else {
        username
    };
    let _ = write!(
        out,
        "v=0\r\no={username} {} {} IN {} {}\r\n",
        origin.session_id,
        origin.version,
        family(advertise),
        advertise
    );
    out.push_str(rest);
    (out.into_bytes(), origin)
}

/// What a section's input says about the sender's media.
struct AudioFacts {
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    rtcp_mux_offered: bool,
    direction: Direction,
    codecs: Vec<Codec>,
}

/// Rewrites `sdp` for the leg described by `plan`. See the module documentation.
pub fn rewrite(sdp: &[u8], plan: &RewritePlan) -> Result<RewrittenSdp, SdpError> {
    let parsed = parse(sdp)?;

    let mut session_connection = None;
    let mut session_direction = None;
    for line in &parsed.session {
        match line.kind {
            b'c' => session_connection = Some(parse_connection(line)?),
            b'a' => {
                if let Some(direction) = Direction::from_attribute(attribute(line).0) {
                    session_direction = Some(direction);
                }
            }
            _ => {}
        }
    }

    let mut rest = String::with_capacity(sdp.len() + 64);
    rest.push_str("s=-\r\n");
    for line in &parsed.session {
        match line.kind {
            b'v' | b'o' | b's' | b'i' | b'u' | b'e' | b'p' | b'k' => {}
            b'c' => rest.push_str(&connection_line(
                plan.advertise,
                session_connection.is_some_and(|ip| ip.is_unspecified()),
            )),
            b'a' => {
                let (name, _) = attribute(line);
                if is_ice_attribute(name)
                    || is_identity_attribute(name)
                    || name == "group"
                    || name == "tool"
                {
                    continue;
                }
                push_line(&mut rest, line);
            }
            _ => push_line(&mut rest, line),
        }
    }

    let mut first_audio: Option<AudioFacts> = None;
    let mut audio_ordinal = 0usize;
    for section in &parsed.sections {
        let is_audio = section.m.media == "audio";
        let local_port = if is_audio {
            audio_ordinal += 1;
            plan.audio_ports
                .get(audio_ordinal - 1)
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        let mut media_connection = None;
        for line in section.lines.iter().filter(|l| l.kind == b'c') {
            media_connection = Some(parse_connection(line)?);
        }
        let candidate =
            is_audio && is_rtp_profile(section.m.proto) && section.m.port != 0 && local_port != 0;
        let accepted = if candidate {
            accept_audio(
                &mut rest,
                section,
                plan,
                local_port,
                media_connection.or(session_connection),
                session_direction,
            )?
        } else {
            None
        };
        match accepted {
            Some(facts) => {
                if first_audio.is_none() {
                    first_audio = Some(facts);
                }
            }
            None => reject_section(&mut rest, section, plan.advertise, media_connection),
        }
    }

    let facts = first_audio.ok_or(SdpError::NoCommonCodec)?;
    let (bytes, origin) = assemble(plan, &rest);
    Ok(RewrittenSdp {
        bytes,
        origin,
        remote_rtp: facts.remote_rtp,
        remote_rtcp: facts.remote_rtcp,
        rtcp_mux_offered: facts.rtcp_mux_offered,
        rtcp_mux: facts.rtcp_mux_offered && plan.rtcp_mux,
        direction: facts.direction,
        codecs: facts.codecs,
    })
}

fn push_line(out: &mut String, line: &Line<'_>) {
    out.push(char::from(line.kind));
    out.push('=');
    out.push_str(line.value.trim_end());
    out.push_str("\r\n");
}

/// Writes a rejected section: `m=` with port 0 and its original formats, and its `c=` if it had
/// one (a section needs a connection when the session has none).
fn reject_section(
    out: &mut String,
    section: &Section<'_>,
    advertise: IpAddr,
    connection: Option<IpAddr>,
) {
    let _ = write!(out, "m={} 0 {}", section.m.media, section.m.proto);
    for format in &section.m.formats {
        out.push(' ');
        out.push_str(format);
    }
    out.push_str("\r\n");
    if let Some(ip) = connection {
        out.push_str(&connection_line(advertise, ip.is_unspecified()));
    }
}

/// Writes an accepted audio section, or returns `None` (writing nothing) when no codec is left.
fn accept_audio(
    out: &mut String,
    section: &Section<'_>,
    plan: &RewritePlan,
    local_port: u16,
    connection: Option<IpAddr>,
    session_direction: Option<Direction>,
) -> Result<Option<AudioFacts>, SdpError> {
    let malformed_m = |why| SdpError::Malformed {
        line: section.m_number,
        why,
    };
    let connection = connection.ok_or(malformed_m("audio section has no c= (session or media)"))?;

    let mut rtpmaps: Vec<(u8, &str, u32)> = Vec::new();
    let mut rtcp = None;
    let mut rtcp_mux_offered = false;
    let mut media_direction = None;
    for line in section.lines.iter().filter(|l| l.kind == b'a') {
        let (name, value) = attribute(line);
        match name {
            "rtpmap" => rtpmaps.push(parse_rtpmap(line, value)?),
            "rtcp" => rtcp = Some(parse_rtcp(line, value)?),
            "rtcp-mux" => rtcp_mux_offered = true,
            _ => {
                if let Some(direction) = Direction::from_attribute(name) {
                    media_direction = Some(direction);
                }
            }
        }
    }

    let mut kept: Vec<Codec> = Vec::new();
    let mut kept_formats: Vec<&str> = Vec::new();
    for format in &section.m.formats {
        let pt = format
            .parse::<u8>()
            .ok()
            .filter(|pt| *pt < 128)
            .ok_or(malformed_m("RTP format is not a payload type 0..127"))?;
        let mapped = rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|&(_, name, rate)| (name, rate));
        let known = mapped.or_else(|| {
            STATIC_PAYLOAD_TYPES
                .iter()
                .find(|(p, _, _)| *p == pt)
                .map(|&(_, name, rate)| (name, rate))
        });
        let keep = match known {
            Some((name, _)) => codec_allowed(&plan.codecs, name),
            None => plan.codecs.is_empty(),
        };
        if keep {
            kept_formats.push(format);
            if let Some((name, rate)) = known {
                kept.push(Codec {
                    payload_type: pt,
                    name: name.to_string(),
                    clock_rate: rate,
                });
            }
        }
    }
    let has_real_codec = kept_formats.iter().any(|f| {
        !kept
            .iter()
            .any(|c| c.is_telephone_event() && f.parse::<u8>().ok() == Some(c.payload_type))
    });
    if !has_real_codec {
        return Ok(None);
    }

    let mux_out = rtcp_mux_offered && plan.rtcp_mux;
    let _ = write!(
        out,
        "m={} {} {}",
        section.m.media, local_port, section.m.proto
    );
    for format in &kept_formats {
        out.push(' ');
        out.push_str(format);
    }
    out.push_str("\r\n");
    for line in &section.lines {
        match line.kind {
            b'i' | b'k' => {}
            b'c' => out.push_str(&connection_line(
                plan.advertise,
                connection.is_unspecified(),
            )),
            b'a' => {
                let (name, value) = attribute(line);
                match name {
                    "rtpmap" | "fmtp" | "rtcp-fb" => {
                        // Compared as numbers, as the m= line was read: `a=rtpmap:0111` maps 111.
                        let keep = leading_payload_type(value).is_none_or(|pt| {
                            pt.parse::<u8>().is_ok_and(|pt| {
                                kept_formats.iter().any(|f| f.parse::<u8>() == Ok(pt))
                            })
                        });
                        if keep {
                            push_line(out, line);
                        }
                    }
                    "rtcp" => {
                        if !mux_out && let Some(rtcp_port) = local_port.checked_add(1) {
                            let _ = write!(
                                out,
                                "a=rtcp:{} IN {} {}\r\n",
                                rtcp_port,
                                family(plan.advertise),
                                plan.advertise
                            );
                        }
                    }
                    "rtcp-mux" => {
                        if mux_out {
                            push_line(out, line);
                        }
                    }
                    _ if is_ice_attribute(name) || is_identity_attribute(name) => {}
                    _ => push_line(out, line),
                }
            }
            _ => push_line(out, line),
        }
    }

    let remote_rtp =
        (!connection.is_unspecified()).then(|| SocketAddr::new(connection, section.m.port));
    let remote_rtcp = remote_rtp.and_then(|rtp| match rtcp {
        Some((port, address)) => Some(SocketAddr::new(address.unwrap_or(rtp.ip()), port)),
        None => rtp
            .port()
            .checked_add(1)
            .map(|port| SocketAddr::new(rtp.ip(), port)),
    });
    Ok(Some(AudioFacts {
        remote_rtp,
        remote_rtcp,
        rtcp_mux_offered,
        direction: media_direction.or(session_direction).unwrap_or_default(),
        codecs: kept,
    }))
}

/// A fresh G.711-only offer (PCMU and PCMA, in the trunk's order when it lists them, plus
/// telephone-event/8000) on `plan.audio_ports[0]`, for re-negotiation after a transfer. If the
/// trunk lists neither law, both are offered anyway: G.711 is the common ground of last resort.
pub fn g711_offer(plan: &RewritePlan, direction: Direction) -> GeneratedSdp {
    let mut laws: Vec<(u8, &str)> = plan
        .codecs
        .iter()
        .filter_map(|name| {
            if name.eq_ignore_ascii_case("PCMU") {
                Some((0, "PCMU"))
            } else if name.eq_ignore_ascii_case("PCMA") {
                Some((8, "PCMA"))
            } else {
                None
            }
        })
        .collect();
    laws.dedup();
    if laws.is_empty() {
        laws = vec![(0, "PCMU"), (8, "PCMA")];
    }
    let port = plan.audio_ports.first().copied().unwrap_or(0);
    let mut rest = String::with_capacity(256);
    rest.push_str("s=-\r\n");
    rest.push_str(&connection_line(plan.advertise, false));
    rest.push_str("t=0 0\r\n");
    let _ = write!(rest, "m=audio {port} RTP/AVP");
    for (pt, _) in &laws {
        let _ = write!(rest, " {pt}");
    }
    let _ = write!(rest, " {TELEPHONE_EVENT_PT}\r\n");
    for (pt, name) in &laws {
        let _ = write!(rest, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    let _ = write!(
        rest,
        "a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-16\r\n"
    );
    rest.push_str("a=ptime:20\r\n");
    if plan.rtcp_mux {
        rest.push_str("a=rtcp-mux\r\n");
    }
    let _ = write!(rest, "a={}\r\n", direction.as_str());
    let (bytes, origin) = assemble(plan, &rest);
    GeneratedSdp { bytes, origin }
}
