//! Helpers shared by the `border_*` real-binary tests: a config written from a trunk list (so a
//! test can give a trunk `sources`, move it or drop it), message bodies other than plain SDP,
//! waits on several messages at once and on the audit file. Built on `runtime_support`, which
//! every `border_*` test declares next to this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime_support::WAIT;
use crate::runtime_support::ua::{Msg, Ua, response};

/// The platform agent's Referred-By on its REFERs (the carrier must get it unchanged).
pub const REFERRED_BY: &str = "<sip:agent@platform.example>";
/// The platform's P-Asserted-Identity on its REFERs (the carrier must get it unchanged).
pub const IDENTITY: &str = "<sip:+15550001111@platform.example>";
/// RTP markers (payload bytes) of the customer's and the partner's streams.
pub const CUSTOMER_VOICE: u8 = 0x21;
pub const PARTNER_VOICE: u8 = 0x43;

/// One `[[trunk]]` of a generated config.
pub struct TrunkSpec {
    pub name: &'static str,
    pub role: &'static str,
    pub peer: SocketAddr,
    /// Written as `sources = [...]` when not empty (else the default: the peer exactly).
    pub sources: Vec<String>,
    /// More `key = value` lines; a key given here replaces the default of the same key
    /// (`transfer`, `country_code`, `codecs`).
    pub settings: Vec<String>,
}

impl TrunkSpec {
    pub fn new(name: &'static str, role: &'static str, peer: SocketAddr) -> TrunkSpec {
        TrunkSpec {
            name,
            role,
            peer,
            sources: Vec::new(),
            settings: Vec::new(),
        }
    }

    /// This trunk with `setting` (`key = value`) added.
    pub fn with(mut self, setting: &str) -> TrunkSpec {
        self.settings.push(setting.to_owned());
        self
    }
}

/// Where and how handoff runs, for [`config_text`].
pub struct Site<'a> {
    pub io: &'a str,
    pub sip: SocketAddr,
    pub media: u16,
    pub shards: usize,
    pub drain_s: u64,
    pub audit: &'a Path,
}

/// The same shape as `runtime_support::config_text`, with the trunks and routes given.
pub fn config_text(site: &Site<'_>, trunks: &[TrunkSpec], routes: &[(&str, &str)]) -> String {
    let routes: Vec<(&str, &str, &str)> = routes.iter().map(|(f, t)| (*f, "", *t)).collect();
    config_text_prefixed(site, trunks, &routes)
}

/// [`config_text`] with routes `(from, prefix, to)`; an empty prefix matches every number.
pub fn config_text_prefixed(
    site: &Site<'_>,
    trunks: &[TrunkSpec],
    routes: &[(&str, &str, &str)],
) -> String {
    let mut text = format!(
        "[sbc]\nlisten = \"{sip}\"\nadvertise = \"127.0.0.1\"\nadmin = \"off\"\noptions_interval_s = 0\nshards = {shards}\nio = \"{io}\"\n\
         media_ports = [{media}, {media_end}]\naudit = \"{audit}\"\ndrain_s = {drain_s}\n",
        sip = site.sip,
        shards = site.shards,
        io = site.io,
        media = site.media,
        media_end = site.media + 100,
        audit = site.audit.display(),
        drain_s = site.drain_s,
    );
    for trunk in trunks {
        text.push_str(&format!(
            "\n[[trunk]]\nname = \"{}\"\nrole = \"{}\"\npeer = \"{}\"\n",
            trunk.name, trunk.role, trunk.peer
        ));
        if !trunk.sources.is_empty() {
            let list = trunk
                .sources
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ");
            text.push_str(&format!("sources = [{list}]\n"));
        }
        for (key, default) in [
            ("transfer", "\"refer\""),
            ("country_code", "\"1\""),
            ("codecs", "[\"PCMU\", \"PCMA\"]"),
        ] {
            let given = trunk
                .settings
                .iter()
                .any(|s| s.split('=').next().is_some_and(|k| k.trim() == key));
            if !given {
                text.push_str(&format!("{key} = {default}\n"));
            }
        }
        for setting in &trunk.settings {
            text.push_str(setting);
            text.push('\n');
        }
    }
    for (from, prefix, to) in routes {
        text.push_str(&format!("\n[[route]]\nfrom = \"{from}\"\n"));
        if !prefix.is_empty() {
            text.push_str(&format!("prefix = \"{prefix}\"\n"));
        }
        text.push_str(&format!("to = \"{to}\"\n"));
    }
    text
}

/// `message` (built with an empty body) with `body` of type `content_type` instead.
pub fn with_body(message: &str, content_type: &str, body: &str) -> String {
    let head = message
        .strip_suffix("Content-Length: 0\r\n\r\n")
        .expect("a message built without a body");
    format!(
        "{head}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `message` with `headers` (`Name: value` lines, without CRLF) added before its Contact.
pub fn with_headers(message: &str, headers: &[String]) -> String {
    let mut extra = String::new();
    for header in headers {
        extra.push_str(header);
        extra.push_str("\r\n");
    }
    assert!(message.contains("\r\nContact:"), "{message}");
    message.replacen("\r\nContact:", &format!("\r\n{extra}Contact:"), 1)
}

/// The ACK for a non-2xx final response to an INVITE (same branch, the response's To): the
/// test agent's rule (RFC 3261 section 17.1.1.3, `sipwire::agent::ack_for_failure`), with the
/// INVITE's top Via, From and Call-ID as the response echoes them.
pub fn ack_for_failure(response: &Msg, request_uri: &str) -> String {
    let header = |name: &str| response.header(name).unwrap_or_default();
    let seq = response.message.cseq().map_or(1, |(seq, _)| seq);
    let ack = sipwire::agent::ack_for_failure(
        request_uri,
        header("via"),
        header("from"),
        &response.message,
        header("call-id"),
        seq,
    );
    String::from_utf8(ack.build()).unwrap_or_default()
}

/// A named condition on a message, for [`expect_all`].
pub type Wanted<'a> = (&'a str, &'a dyn Fn(&Msg) -> bool);

/// Waits until every one of `wanted` has matched a message (in any order), within `within`;
/// each message matches at most one entry. Others are skipped. Panics naming what is missing.
pub fn expect_all(ua: &Ua, within: Duration, wanted: &[Wanted<'_>]) -> Vec<(Msg, SocketAddr)> {
    let deadline = Instant::now() + within;
    let mut found: Vec<Option<(Msg, SocketAddr)>> = vec![None; wanted.len()];
    let mut skipped = Vec::new();
    let mut buf = vec![0u8; 65536];
    while found.iter().any(Option::is_none) && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        ua.socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let Ok((n, from)) = ua.socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(msg) = Msg::parse(&buf[..n]) else {
            skipped.push(format!("<{n} bytes unparsable>"));
            continue;
        };
        match (0..wanted.len()).find(|&i| found[i].is_none() && (wanted[i].1)(&msg)) {
            Some(i) => found[i] = Some((msg, from)),
            None => skipped.push(msg.first_line),
        }
    }
    let missing: Vec<&str> = wanted
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(w, _)| w.0)
        .collect();
    assert!(
        missing.is_empty(),
        "{}: no {missing:?} within {within:?}; skipped: {skipped:?}",
        ua.name
    );
    found.into_iter().map(Option::unwrap).collect()
}

/// Polls the JSON-lines file at `path` until a line satisfies `want`; panics with the file's
/// contents at the deadline.
pub fn wait_for_json_line(
    path: &Path,
    within: Duration,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(value) = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|value| want(value))
        {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "no matching line in {} within {within:?}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tag parameter of a From/To header value.
pub fn tag_of(party: &str) -> String {
    let i = party.find(";tag=").expect("a tag") + 5;
    party[i..]
        .split([';', '>', ' '])
        .next()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------- transfers with scripted peers

/// One side's view of a dialog: what a scripted peer needs to send requests in it.
pub struct Leg {
    pub call_id: String,
    /// Our From (with our tag) and To (with the peer's tag), as we send them.
    pub from: String,
    pub to: String,
    /// The peer's Contact URI: our requests' Request-URI.
    pub target: String,
    cseq: std::cell::Cell<u32>,
}

impl Leg {
    pub fn new(call_id: &str, from: &str, to: &str, target: &str, cseq: u32) -> Leg {
        Leg {
            call_id: call_id.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            target: target.to_owned(),
            cseq: std::cell::Cell::new(cseq),
        }
    }

    /// The CSeq of the last request built.
    pub fn cseq(&self) -> u32 {
        self.cseq.get()
    }

    /// The next request `method` in this dialog from `ua`, with `headers` added.
    pub fn request(&self, method: &str, ua: SocketAddr, headers: &[String]) -> String {
        let cseq = self.cseq.get() + 1;
        self.cseq.set(cseq);
        let branch = format!("{}-{method}-{cseq}", token(&self.call_id));
        let message = self.in_dialog(method, ua, cseq, &branch);
        if headers.is_empty() {
            message
        } else {
            with_headers(&message, headers)
        }
    }

    /// The ACK for this dialog's 2xx to the INVITE with CSeq `cseq` (a new transaction).
    pub fn ack(&self, ua: SocketAddr, cseq: u32) -> String {
        let branch = format!("{}-ack-{cseq}", token(&self.call_id));
        self.in_dialog("ACK", ua, cseq, &branch)
    }

    fn in_dialog(&self, method: &str, ua: SocketAddr, cseq: u32, branch: &str) -> String {
        crate::runtime_support::ua::in_dialog(
            method,
            &self.target,
            ua,
            &self.call_id,
            &self.from,
            &self.to,
            cseq,
            branch,
        )
    }
}

/// `text` with every character that may not stand in a Via branch replaced by `-`.
fn token(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The carrier's (leg A) and the platform's (leg B) views of a call `establish` set up.
pub fn legs_of(call: &crate::runtime_support::call::CallUp) -> (Leg, Leg) {
    let a = Leg::new(
        &call.call_id,
        &call.a_from,
        &call.a_to,
        &call.a_target,
        call.a_cseq,
    );
    let b = Leg::new(&call.b_call_id, &call.b_to, &call.b_from, &call.b_target, 0);
    (a, b)
}

/// The status code of a message/sipfrag body (`SIP/2.0 200 OK`), RFC 3515 section 2.4.5.
pub fn sipfrag_status(body: &str) -> Option<u16> {
    body.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// A final response (>= 200) to `method` in the dialog with `call_id`.
pub fn is_final(m: &Msg, method: &str, call_id: &str) -> bool {
    m.status().is_some_and(|s| s >= 200)
        && m.cseq_method() == Some(method)
        && m.header("call-id") == Some(call_id)
}

/// A request `method` in the dialog with `call_id`.
pub fn is_request(m: &Msg, method: &str, call_id: &str) -> bool {
    m.method() == Some(method) && m.header("call-id") == Some(call_id)
}

/// Answers every NOTIFY `ua` gets (200) until one carries the sipfrag `status`; returns that
/// NOTIFY and the statuses of all the NOTIFYs seen, in order. Other messages are skipped.
pub fn notifies_until(ua: &Ua, status: u16, within: Duration) -> (Msg, Vec<u16>) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (notify, src) = ua.expect(
            &format!("NOTIFY with sipfrag {status} (seen so far: {seen:?})"),
            left.max(Duration::from_millis(1)),
            |m| m.method() == Some("NOTIFY"),
        );
        ua.send(
            src,
            &crate::runtime_support::ua::response(&notify, 200, "OK", "x", ua.addr(), ""),
        );
        let got = sipfrag_status(&notify.body);
        seen.extend(got);
        if got == Some(status) {
            return (notify, seen);
        }
    }
}

/// An SDP body for audio at `rtp_port` with the given payload types and direction.
pub fn sdp_with(rtp_port: u16, payloads: &[u8], direction: &str) -> String {
    let list = payloads
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP {list}\r\n"
    );
    for pt in payloads {
        let name = match pt {
            0 => "PCMU/8000",
            8 => "PCMA/8000",
            _ => continue,
        };
        text.push_str(&format!("a=rtpmap:{pt} {name}\r\n"));
    }
    text.push_str(&format!("a={direction}\r\n"));
    text
}

/// The payload types of an SDP body's `m=audio` line.
pub fn audio_payloads(body: &str) -> Vec<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .map(|m| m.split_whitespace().skip(2).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The direction attribute of an SDP body (`sendrecv` when it has none, RFC 3264 section 5.1).
pub fn direction(body: &str) -> &str {
    body.lines()
        .filter_map(|l| l.strip_prefix("a="))
        .find(|a| matches!(*a, "sendrecv" | "sendonly" | "recvonly" | "inactive"))
        .unwrap_or("sendrecv")
}

/// An RFC 3550 packet of 20 ms payload type `pt` whose SSRC's low byte and every payload byte
/// are `marker`: a stream a test can tell from any other (tone, silence, another party).
pub fn marked_rtp(marker: u8, pt: u8, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, pt & 0x7f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&[0x4d, 0x4b, 0x00, marker]);
    p.extend_from_slice(&[marker; 160]);
    p
}

/// Whether `packet` carries the payload [`marked_rtp`] wrote with `marker` (the relay may
/// rewrite the header, e.g. to continue the sequence of a ringback it played).
pub fn carries_marker(packet: &[u8], marker: u8) -> bool {
    packet.len() == 172 && packet[12..].iter().all(|b| *b == marker)
}

/// Sends `marker`'s stream from `from` to handoff at `to` until one packet reaches `far` (the
/// relay may still be setting up: these first packets are not counted), then `count` more,
/// back to back; returns how many of those reached `far`, each from `source`. Waits up to 20 s.
pub fn stream_arrives(
    from: &std::net::UdpSocket,
    to: SocketAddr,
    far: &std::net::UdpSocket,
    source: SocketAddr,
    marker: u8,
    count: u16,
) -> usize {
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq: u16 = 1000;
    // Until the first arrives: one packet every 100 ms, like a phone that started talking.
    'first: loop {
        assert!(
            Instant::now() < deadline,
            "RTP with marker {marker:#04x} from {:?} via {to} never reached {:?}",
            from.local_addr(),
            far.local_addr()
        );
        from.send_to(&marked_rtp(marker, 0, seq), to)
            .expect("send RTP");
        seq = seq.wrapping_add(1);
        let probe_end = Instant::now() + Duration::from_millis(100);
        while Instant::now() < probe_end {
            if next_is_marked(far, &mut buf, probe_end, source, marker) {
                break 'first;
            }
        }
    }
    // Whatever of the probes is still in flight is not counted: mark the counted ones apart.
    let counted = marker.wrapping_add(1);
    for _ in 0..count {
        from.send_to(&marked_rtp(counted, 0, seq), to)
            .expect("send RTP");
        seq = seq.wrapping_add(1);
    }
    let mut arrived = 0;
    while arrived < usize::from(count) && Instant::now() < deadline {
        if next_is_marked(far, &mut buf, deadline, source, counted) {
            arrived += 1;
        }
    }
    arrived
}

/// Waits for the next packet at `far` until `until`; whether one came from `source` carrying
/// `marker`'s payload.
fn next_is_marked(
    far: &std::net::UdpSocket,
    buf: &mut [u8],
    until: Instant,
    source: SocketAddr,
    marker: u8,
) -> bool {
    far.set_read_timeout(Some(
        until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1)),
    ))
    .expect("read timeout");
    matches!(far.recv_from(buf), Ok((n, src)) if src == source && carries_marker(&buf[..n], marker))
}

/// handoff with three scripted peers: the carrier (role carrier), the platform (role platform)
/// and the partner (a second carrier trunk, where the platform's numbers starting 44 go).
pub struct TransferSite {
    pub io: &'static str,
    pub sip: SocketAddr,
    pub audit: std::path::PathBuf,
    pub handoff: crate::runtime_support::Handoff,
    pub carrier: crate::runtime_support::call::Endpoint,
    pub platform: crate::runtime_support::call::Endpoint,
    pub partner: crate::runtime_support::call::Endpoint,
    _dir: tempfile::TempDir,
}

/// How the three trunks of a [`TransferSite`] are set.
pub struct SiteOptions<'a> {
    pub media: u16,
    pub drain_s: u64,
    /// Extra `key = value` lines of the carrier trunk (e.g. `transfer = "local"`).
    pub carrier: &'a [&'a str],
    /// The partner trunk's codecs, e.g. `["PCMU"]`.
    pub partner_codecs: &'a str,
}

/// Starts handoff (2 shards, `io`) in a fresh private network namespace with the three trunks
/// and routes: carrier -> platform; platform, numbers starting 44 -> partner; platform, any
/// other number -> carrier.
pub fn transfer_site(io: &'static str, options: &SiteOptions<'_>) -> TransferSite {
    transfer_site_with(io, options, &[])
}

/// [`transfer_site`] with more `[sbc]` lines (e.g. `refer_timeout_ms = 500`).
pub fn transfer_site_with(
    io: &'static str,
    options: &SiteOptions<'_>,
    sbc: &[&str],
) -> TransferSite {
    use crate::runtime_support::call::Endpoint;
    let s = crate::runtime_support::setup(io, options.media, 2, options.drain_s);
    let partner_sip = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the partner");
    let carrier = Endpoint::new(s.carrier.try_clone().expect("carrier socket"), "carrier");
    let platform = Endpoint::new(s.platform.try_clone().expect("platform socket"), "platform");
    let partner = Endpoint::new(partner_sip, "partner");
    let mut carrier_trunk = TrunkSpec::new("carrier", "carrier", carrier.ua.addr());
    for setting in options.carrier {
        carrier_trunk = carrier_trunk.with(setting);
    }
    let text = config_text_prefixed(
        &Site {
            io,
            sip: s.sip,
            media: options.media,
            shards: 2,
            drain_s: options.drain_s,
            audit: &s.audit_path,
        },
        &[
            carrier_trunk,
            TrunkSpec::new("platform", "platform", platform.ua.addr()),
            TrunkSpec::new("partner", "carrier", partner.ua.addr())
                .with("transfer = \"local\"")
                .with(&format!("codecs = {}", options.partner_codecs)),
        ],
        &[
            ("carrier", "", "platform"),
            ("platform", "44", "partner"),
            ("platform", "", "carrier"),
        ],
    );
    let mut extra = String::new();
    for line in sbc {
        extra.push_str(line);
        extra.push('\n');
    }
    let text = text.replacen("[sbc]\n", &format!("[sbc]\n{extra}"), 1);
    std::fs::write(&s.config_path, text).expect("write the config");
    let handoff = crate::runtime_support::Handoff::start(&s.config_path);
    TransferSite {
        io,
        sip: s.sip,
        audit: s.audit_path.clone(),
        handoff,
        carrier,
        platform,
        partner,
        _dir: s.dir,
    }
}

impl TransferSite {
    /// SIGTERM; handoff must exit 0.
    pub fn stop(mut self) {
        assert_exits_cleanly(&mut self.handoff, self.io, Duration::from_secs(30));
    }
}

/// Leg C's INVITE at the partner, addressed to `target`.
pub fn partner_invited(site: &TransferSite, target: &str) -> (Msg, std::net::SocketAddr) {
    let io = site.io;
    let (invite, src) =
        site.partner
            .ua
            .expect(&format!("{io}: leg C's INVITE at the partner"), WAIT, |m| {
                m.method() == Some("INVITE")
            });
    assert!(
        invite.header("to").is_some_and(|to| to.contains(target)),
        "{io}: leg C not addressed to the target: {}",
        invite.raw
    );
    (invite, src)
}

/// The partner answers leg C 200 with its RTP port and gets the ACK; returns its leg.
pub fn partner_answers(site: &TransferSite, invite: &Msg, src: std::net::SocketAddr) -> Leg {
    let addr = site.partner.ua.addr();
    let answer = sdp_with(site.partner.rtp_port(), &[0], "sendrecv");
    site.partner
        .ua
        .send(src, &response(invite, 200, "OK", "ctag", addr, &answer));
    let call_id = invite.header("call-id").expect("Call-ID on leg C");
    site.partner
        .ua
        .expect(&format!("{}: ACK on leg C", site.io), WAIT, |m| {
            is_request(m, "ACK", call_id)
        });
    Leg::new(
        call_id,
        &format!("{};tag=ctag", invite.header("to").expect("To")),
        invite.header("from").expect("From"),
        &invite.contact_uri().expect("Contact on leg C's INVITE"),
        0,
    )
}

/// `ua` answers the BYE in `call_id` with 200.
pub fn answers_bye(ua: &Ua, call_id: &str, what: &str) {
    let (bye, src) = ua.expect(what, WAIT, |m| is_request(m, "BYE", call_id));
    ua.send(src, &response(&bye, 200, "OK", "x", ua.addr(), ""));
}

pub fn transfer_record(site: &TransferSite) -> serde_json::Value {
    wait_for_json_line(&site.audit, Duration::from_secs(20), |r| {
        r["type"] == "transfer"
    })
}

/// The partner's side of a CANCELled leg C (RFC 3261 section 9.2): 200 to the CANCEL, 487 to
/// the INVITE, then the ACK for the 487.
pub fn partner_is_cancelled(site: &TransferSite, invite: &Msg) {
    let io = site.io;
    let addr = site.partner.ua.addr();
    let call_id = invite.header("call-id").expect("Call-ID");
    let (cancel, src) = site
        .partner
        .ua
        .expect(&format!("{io}: CANCEL of leg C"), WAIT, |m| {
            is_request(m, "CANCEL", call_id)
        });
    site.partner
        .ua
        .send(src, &response(&cancel, 200, "OK", "ctag", addr, ""));
    site.partner.ua.send(
        src,
        &response(invite, 487, "Request Terminated", "ctag", addr, ""),
    );
}

/// The platform answers the NOTIFYs it gets (200) until the BYE on leg B, which it answers.
/// Returns the sipfrag statuses of those NOTIFYs, in order.
pub fn platform_answers_until_bye(site: &TransferSite, b: &Leg) -> Vec<u16> {
    let mut notified = Vec::new();
    loop {
        let (m, src) = site
            .platform
            .ua
            .expect(&format!("{}: BYE on leg B", site.io), WAIT, |m| {
                is_request(m, "BYE", &b.call_id) || is_request(m, "NOTIFY", &b.call_id)
            });
        site.platform.ua.send(
            src,
            &response(&m, 200, "OK", "x", site.platform.ua.addr(), ""),
        );
        if m.method() == Some("BYE") {
            return notified;
        }
        notified.extend(sipfrag_status(&m.body));
    }
}

/// A NOTIFY of the refer subscription (RFC 3515 section 2.4.4) on `leg`, sent from `from`,
/// with `Subscription-State: {state}` and the sipfrag `SIP/2.0 {status}`.
pub fn refer_notify(leg: &Leg, from: SocketAddr, status: &str, state: &str) -> String {
    with_body(
        &leg.request(
            "NOTIFY",
            from,
            &[
                "Event: refer".to_owned(),
                format!("Subscription-State: {state}"),
            ],
        ),
        "message/sipfrag",
        &format!("SIP/2.0 {status}\r\n"),
    )
}

/// Asserts that `msg` has the status `status`, naming the backend and the message's first line.
pub fn assert_status(io: &str, msg: &Msg, status: u16) {
    assert_eq!(msg.status(), Some(status), "{io}: {}", msg.first_line);
}

/// The platform's final response to its REFER in the dialog `call_id` (leg B).
pub fn platform_refer_answer(site: &TransferSite, call_id: &str) -> Msg {
    site.platform
        .ua
        .expect(
            &format!("{}: final response to the REFER", site.io),
            WAIT,
            |m| is_final(m, "REFER", call_id),
        )
        .0
}

/// A call carrier -> platform set up on `site` with `call_id` (`runtime_support::call::
/// establish`): the call, and the carrier's (leg A) and the platform's (leg B) views of it.
pub fn call_up(
    site: &TransferSite,
    call_id: &str,
) -> (crate::runtime_support::call::CallUp, Leg, Leg) {
    let call =
        crate::runtime_support::call::establish(site.sip, &site.carrier, &site.platform, call_id);
    let (a, b) = legs_of(&call);
    (call, a, b)
}

/// The platform holds the call (RFC 3264 section 8.4): a sendonly re-INVITE on leg B reaches
/// the carrier on leg A, which answers recvonly; the platform gets 200 and ACKs it, and the ACK
/// reaches the carrier. Returns the re-INVITE as the carrier got it.
pub fn platform_holds(site: &TransferSite, a: &Leg, b: &Leg) -> Msg {
    let io = site.io;
    let p_addr = site.platform.ua.addr();
    let hold = with_body(
        &b.request("INVITE", p_addr, &[]),
        "application/sdp",
        &sdp_with(site.platform.rtp_port(), &[0, 8], "sendonly"),
    );
    site.platform.ua.send(site.sip, &hold);
    let (reinvite, src) =
        site.carrier
            .ua
            .expect(&format!("{io}: hold re-INVITE at the carrier"), WAIT, |m| {
                is_request(m, "INVITE", &a.call_id)
            });
    answers_with_sdp(
        &site.carrier.ua,
        src,
        &reinvite,
        &sdp_with(site.carrier.rtp_port(), &[0, 8], "recvonly"),
    );
    let (held, _) = site
        .platform
        .ua
        .expect(&format!("{io}: 200 to the hold"), WAIT, |m| {
            is_final(m, "INVITE", &b.call_id)
        });
    assert_status(io, &held, 200);
    site.platform.ua.send(site.sip, &b.ack(p_addr, b.cseq()));
    site.carrier
        .ua
        .expect(&format!("{io}: ACK of the hold"), WAIT, |m| {
            is_request(m, "ACK", &a.call_id)
        });
    reinvite
}

/// A call the platform places through the carrier, as each side sees it.
pub struct DialledCall {
    /// The platform's leg (its own tag `ptag`).
    pub platform: Leg,
    /// The carrier's leg (its tag `ctag`).
    pub carrier: Leg,
    /// handoff's RTP address in its offer to the carrier.
    pub handoff_rtp_for_carrier: SocketAddr,
}

/// The platform dials `number` (Call-ID `call_id`, From tag `ptag`); the carrier gets a new
/// INVITE (no To tag) and answers 200 (tag `ctag`, RTP at `carrier_rtp_port`); the platform
/// gets 200 and ACKs it, and the ACK reaches the carrier.
pub fn platform_dials(
    site: &TransferSite,
    number: &str,
    call_id: &str,
    (ptag, ctag): (&str, &str),
    carrier_rtp_port: u16,
) -> DialledCall {
    let io = site.io;
    let (p_addr, c_addr) = (site.platform.ua.addr(), site.carrier.ua.addr());
    site.platform.ua.send(
        site.sip,
        &crate::runtime_support::ua::request(
            "INVITE",
            p_addr,
            site.sip,
            number,
            call_id,
            ptag,
            1,
            &sdp_with(site.platform.rtp_port(), &[0], "sendrecv"),
        ),
    );
    let (c_invite, src) = site.carrier.ua.expect(
        &format!("{io}: the platform's INVITE at the carrier"),
        WAIT,
        |m| m.method() == Some("INVITE") && m.header("to").is_some_and(|to| !to.contains(";tag=")),
    );
    let handoff_rtp_for_carrier = c_invite.sdp_audio().expect("SDP offer at the carrier");
    site.carrier.ua.send(
        src,
        &response(
            &c_invite,
            200,
            "OK",
            ctag,
            c_addr,
            &sdp_with(carrier_rtp_port, &[0], "sendrecv"),
        ),
    );
    let (ok, _) =
        site.platform
            .ua
            .expect(&format!("{io}: 200 to the platform's call"), WAIT, |m| {
                is_final(m, "INVITE", call_id)
            });
    assert_status(io, &ok, 200);
    let platform = Leg::new(
        call_id,
        ok.header("from").expect("From"),
        ok.header("to").expect("To"),
        &ok.contact_uri().expect("Contact in the 200"),
        1,
    );
    site.platform.ua.send(site.sip, &platform.ack(p_addr, 1));
    let c_call_id = c_invite.header("call-id").expect("Call-ID");
    site.carrier
        .ua
        .expect(&format!("{io}: ACK at the carrier"), WAIT, |m| {
            is_request(m, "ACK", c_call_id)
        });
    let carrier = Leg::new(
        c_call_id,
        &format!("{};tag={ctag}", c_invite.header("to").expect("To")),
        c_invite.header("from").expect("From"),
        &c_invite.contact_uri().expect("Contact in the INVITE"),
        0,
    );
    DialledCall {
        platform,
        carrier,
        handoff_rtp_for_carrier,
    }
}

/// `from` sends BYE on `leg` and gets 200 for it (`what` names the answer awaited).
pub fn hangs_up(site: &TransferSite, from: &Ua, leg: &Leg, what: &str) {
    from.send(site.sip, &leg.request("BYE", from.addr(), &[]));
    let (ok, _) = from.expect(&format!("{}: {what}", site.io), WAIT, |m| {
        is_final(m, "BYE", &leg.call_id)
    });
    assert_status(site.io, &ok, 200);
}

/// The platform hangs up while the call is still up: its BYE on leg B reaches the carrier on
/// leg A, which answers 200; the platform gets 200.
pub fn platform_hangs_up(site: &TransferSite, a: &Leg, b: &Leg) {
    site.platform
        .ua
        .send(site.sip, &b.request("BYE", site.platform.ua.addr(), &[]));
    answers_bye(
        &site.carrier.ua,
        &a.call_id,
        "the platform's BYE at the carrier",
    );
    let (ok, _) = site.platform.ua.expect(
        &format!("{}: answer to the platform's BYE", site.io),
        WAIT,
        |m| is_final(m, "BYE", &b.call_id),
    );
    assert_status(site.io, &ok, 200);
}

/// The partner rings on leg C: 180 (its tag `ctag`).
pub fn partner_rings(site: &TransferSite, invite: &Msg, src: SocketAddr) {
    let addr = site.partner.ua.addr();
    site.partner
        .ua
        .send(src, &response(invite, 180, "Ringing", "ctag", addr, ""));
}

/// The partner rings on leg C, then sends early media (RFC 3261 section 13.2.1, RFC 3960): 180,
/// then 183 with an SDP answer at its RTP port.
pub fn partner_rings_with_early_media(site: &TransferSite, invite: &Msg, src: SocketAddr) {
    partner_rings(site, invite, src);
    let media = sdp_with(site.partner.rtp_port(), &[0], "sendrecv");
    site.partner.ua.send(
        src,
        &response(
            invite,
            183,
            "Session Progress",
            "ctag",
            site.partner.ua.addr(),
            &media,
        ),
    );
}

/// SIGTERM to `handoff`; asserts that it exits 0 within `within`.
pub fn assert_exits_cleanly(
    handoff: &mut crate::runtime_support::Handoff,
    io: &str,
    within: Duration,
) {
    handoff.signal("TERM");
    let status = handoff.wait_exit(within);
    assert!(
        status.is_some_and(|s| s.success()),
        "{io}: handoff exit {status:?}"
    );
}

/// `ua` answers `request` (from `src`) 200 with the SDP `sdp`.
pub fn answers_with_sdp(ua: &Ua, src: SocketAddr, request: &Msg, sdp: &str) {
    ua.send(src, &response(request, 200, "OK", "x", ua.addr(), sdp));
}

/// The customer's and the partner's RTP reach each other through handoff's ports (at
/// `handoff_rtp_for_customer` on the carrier's side, `leg_c_port` on the partner's), each 35 of
/// 50 packets at least.
pub fn customer_and_partner_hear_each_other(
    site: &TransferSite,
    handoff_rtp_for_customer: SocketAddr,
    leg_c_port: SocketAddr,
) {
    let io = site.io;
    let to_partner = stream_arrives(
        &site.carrier.rtp,
        handoff_rtp_for_customer,
        &site.partner.rtp,
        leg_c_port,
        CUSTOMER_VOICE,
        50,
    );
    assert!(
        to_partner >= 35,
        "{io}: {to_partner} of 50 customer packets reached the partner"
    );
    let to_customer = stream_arrives(
        &site.partner.rtp,
        leg_c_port,
        &site.carrier.rtp,
        handoff_rtp_for_customer,
        PARTNER_VOICE,
        50,
    );
    assert!(
        to_customer >= 35,
        "{io}: {to_customer} of 50 partner packets reached the customer"
    );
}

/// The customer (carrier, leg `a`) hangs up the bridged call: BYE on leg `c` at the partner,
/// answered; 200 to the customer.
pub fn customer_ends_bridged_call(site: &TransferSite, a: &Leg, c: &Leg) {
    site.carrier
        .ua
        .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
    answers_bye(&site.partner.ua, &c.call_id, "the customer's BYE on leg C");
    let (ok, _) = site.carrier.ua.expect(
        &format!("{}: final response to the customer's BYE", site.io),
        WAIT,
        |m| is_final(m, "BYE", &a.call_id),
    );
    assert_status(site.io, &ok, 200);
}
