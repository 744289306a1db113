//! `handoff probe`: asks each trunk what it supports before a transfer depends on it ("test your
//! transfers with every carrier you use").
//!
//! One OPTIONS per trunk (RFC 3261 section 11: OPTIONS asks a UA for its capabilities; the
//! answer's Allow lists its methods and Supported its extensions), sent from the configured
//! listen address, retransmitted like any non-INVITE request (Timer E: T1, doubling, capped at
//! T2) until an answer or the timeout. The table says, per trunk: reachable (and the status),
//! the round trip, whether Allow lists REFER, whether Supported lists `replaces` (RFC 3891),
//! `tdialog` (RFC 4538) and `norefersub` (RFC 4488), the transfer method the config uses, and a
//! warning where the config says `transfer = "refer"` and the carrier does not allow REFER.
//!
//! The request building and answer reading are pure ([`options_request`], [`Answer::read`]);
//! [`probe`] does the I/O.

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::config::{Config, TransferMethod, Trunk, TrunkRole};
use crate::sip::{HeaderName, Message, Method, RequestBuilder};
use crate::vocab::StatusCode;

/// RFC 3261 timers for the retransmissions (the config's own T1/T2 are used when set).
#[derive(Copy, Clone, Debug)]
pub struct ProbeTimers {
    pub t1: Duration,
    pub t2: Duration,
    /// How long to wait for an answer in all.
    pub timeout: Duration,
}

/// What a trunk's answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// `None`: the answer had no Allow header (RFC 3261 says a 200 to OPTIONS SHOULD have one).
    pub allows_refer: Option<bool>,
    pub replaces: bool,
    pub tdialog: bool,
    pub norefersub: bool,
}

/// One trunk's line in the table.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub trunk: String,
    pub peer: SocketAddr,
    pub role: TrunkRole,
    pub transfer: TransferMethod,
    /// `None`: no answer within the timeout.
    pub answer: Option<Answer>,
    /// From the first transmission to the answer.
    pub rtt: Option<Duration>,
}

impl ProbeResult {
    /// What the operator must look at, if anything.
    pub fn warning(&self) -> Option<String> {
        let answer = match &self.answer {
            None => return Some("no answer: check the peer address and the firewall".to_owned()),
            Some(answer) => answer,
        };
        if !answer.status.is_success() {
            return Some(format!("OPTIONS answered {}", answer.status));
        }
        if self.role == TrunkRole::Carrier && self.transfer == TransferMethod::Refer {
            return match answer.allows_refer {
                Some(false) => Some(
                    "transfer = \"refer\", but the carrier's Allow has no REFER: expect every \
                     transfer to fall back to a local one (set transfer = \"local\")"
                        .to_owned(),
                ),
                None => Some(
                    "transfer = \"refer\", and the carrier's answer has no Allow header: REFER \
                     support unknown (try --test-transfer)"
                        .to_owned(),
                ),
                Some(true) => None,
            };
        }
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no trunk named {name:?} (trunks: {known})")]
    UnknownTrunk { name: String, known: String },
    #[error("cannot open a UDP socket on {addr} to probe from: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("probing failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The OPTIONS for `trunk`, from `local`. `token` makes Call-ID, tag and branch unique.
pub fn options_request(local: SocketAddr, identity: &str, trunk: &Trunk, token: &str) -> Vec<u8> {
    let target = format!("sip:{}", trunk.peer);
    RequestBuilder::new(Method::Options, &target)
        .header(
            "Via",
            format!("SIP/2.0/UDP {local};branch=z9hG4bK-probe-{token};rport"),
        )
        .header("Max-Forwards", "70")
        .header(
            "From",
            format!("<sip:{identity}@{local}>;tag=probe-{token}"),
        )
        .header("To", format!("<{target}>"))
        .header("Call-ID", format!("probe-{token}@{}", local.ip()))
        .header("CSeq", "1 OPTIONS")
        .header("Contact", format!("<sip:{identity}@{local}>"))
        .header("Accept", "application/sdp")
        .build()
        .unwrap_or_default()
}

fn has_token(message: &Message, name: HeaderName, token: &str) -> bool {
    message
        .header_values(name)
        .any(|v| v.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

impl Answer {
    /// Reads a response to the OPTIONS whose Call-ID is `call_id`; `None` for anything else.
    pub fn read(datagram: &[u8], call_id: &str) -> Option<Answer> {
        let message = Message::parse(datagram).ok()?;
        let status = message.status()?;
        if message.header(HeaderName::CallId)? != call_id.as_bytes() {
            return None;
        }
        // Provisional responses to OPTIONS are possible but say nothing yet.
        if status.is_provisional() {
            return None;
        }
        let allows_refer = message
            .header(HeaderName::Allow)
            .is_some()
            .then(|| has_token(&message, HeaderName::Allow, "REFER"));
        Some(Answer {
            status,
            allows_refer,
            replaces: has_token(&message, HeaderName::Supported, "replaces"),
            tdialog: has_token(&message, HeaderName::Supported, "tdialog"),
            norefersub: has_token(&message, HeaderName::Supported, "norefersub"),
        })
    }
}

/// Probes the trunks of `config` (or only `only`) from `config.sbc.listen`, or from an
/// ephemeral port of its address when that port is taken (handoff is running there).
pub fn probe(
    config: &Config,
    only: Option<&str>,
    timers: ProbeTimers,
) -> Result<(Vec<ProbeResult>, SocketAddr), ProbeError> {
    let trunks: Vec<&Trunk> = match only {
        Some(name) => match config.trunks.iter().find(|t| t.name == name) {
            Some(trunk) => vec![trunk],
            None => {
                return Err(ProbeError::UnknownTrunk {
                    name: name.to_owned(),
                    known: config
                        .trunks
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        },
        None => config.trunks.iter().collect(),
    };
    let socket = bind_probe_socket(config.sbc.listen)?;
    let results = probe_on(&socket, config, &trunks, timers)?;
    Ok((results, socket.local_addr()?))
}

/// The CLI's socket: `listen` itself, or an ephemeral port of its address while handoff runs
/// there (its shards hold the port).
fn bind_probe_socket(listen: SocketAddr) -> Result<UdpSocket, ProbeError> {
    match UdpSocket::bind(listen) {
        Ok(socket) => Ok(socket),
        Err(e) if e.kind() == ErrorKind::AddrInUse => {
            let ephemeral = SocketAddr::new(listen.ip(), 0);
            UdpSocket::bind(ephemeral).map_err(|source| ProbeError::Bind {
                addr: ephemeral,
                source,
            })
        }
        Err(source) => Err(ProbeError::Bind {
            addr: listen,
            source,
        }),
    }
}

/// Probes `trunks` from `socket` (the CLI's, or the running instance's prober thread's).
pub fn probe_on(
    socket: &UdpSocket,
    config: &Config,
    trunks: &[&Trunk],
    timers: ProbeTimers,
) -> Result<Vec<ProbeResult>, ProbeError> {
    let bound = socket.local_addr()?;
    // What the trunks see: the advertised address with the port we send from.
    let local = SocketAddr::new(config.sbc.advertise, bound.port());
    let mut key = [0u8; 8];
    getrandom::fill(&mut key).map_err(|e| ProbeError::Io(std::io::Error::other(e)))?;
    let nonce = u64::from_le_bytes(key);
    let requests: Vec<(String, Vec<u8>)> = trunks
        .iter()
        .enumerate()
        .map(|(i, trunk)| {
            let token = format!("{nonce:016x}{i:02x}");
            let request = options_request(local, &config.sbc.identity, trunk, &token);
            (format!("probe-{token}@{}", local.ip()), request)
        })
        .collect();
    let mut results: Vec<ProbeResult> = trunks
        .iter()
        .map(|t| ProbeResult {
            trunk: t.name.clone(),
            peer: t.peer,
            role: t.role,
            transfer: t.transfer,
            answer: None,
            rtt: None,
        })
        .collect();

    let started = Instant::now();
    let mut next_send = started;
    let mut interval = timers.t1;
    let mut buf = vec![0u8; 65_535];
    loop {
        let now = Instant::now();
        if results.iter().all(|r| r.answer.is_some()) || now >= started + timers.timeout {
            break;
        }
        if now >= next_send {
            for (result, (_, request)) in results.iter().zip(&requests) {
                if result.answer.is_none() {
                    // A send error (no route) is the same as no answer for the table.
                    let _ = socket.send_to(request, result.peer);
                }
            }
            next_send = now + interval;
            interval = (interval * 2).min(timers.t2);
        }
        let wait = next_send
            .min(started + timers.timeout)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                for (result, (call_id, _)) in results.iter_mut().zip(&requests) {
                    // Only the trunk's own sources speak for it.
                    let theirs = from == result.peer
                        || config
                            .trunks
                            .iter()
                            .find(|t| t.name == result.trunk)
                            .is_some_and(|t| t.sources.contains(from));
                    if result.answer.is_none()
                        && theirs
                        && let Some(answer) = Answer::read(&buf[..n], call_id)
                    {
                        result.answer = Some(answer);
                        result.rtt = Some(started.elapsed());
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // ICMP port unreachable surfaces on Linux as ECONNREFUSED on the next receive.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(results)
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// The table, one line per trunk, then the warnings.
pub fn render_table(results: &[ProbeResult]) -> String {
    let header = [
        "TRUNK",
        "PEER",
        "REACHABLE",
        "RTT",
        "REFER",
        "REPLACES",
        "TDIALOG",
        "NOREFERSUB",
        "TRANSFER",
    ];
    let rows: Vec<[String; 9]> = results
        .iter()
        .map(|r| {
            let answer = r.answer.as_ref();
            let flag = |f: fn(&Answer) -> bool| answer.map(f);
            [
                r.trunk.clone(),
                r.peer.to_string(),
                match answer {
                    Some(a) => format!("yes ({})", a.status),
                    None => "no".to_owned(),
                },
                r.rtt.map_or("-".to_owned(), |d| {
                    format!("{:.1} ms", d.as_secs_f64() * 1e3)
                }),
                yes_no(answer.and_then(|a| a.allows_refer)).to_owned(),
                yes_no(flag(|a| a.replaces)).to_owned(),
                yes_no(flag(|a| a.tdialog)).to_owned(),
                yes_no(flag(|a| a.norefersub)).to_owned(),
                match (r.role, r.transfer) {
                    (TrunkRole::Platform, _) => "- (platform)".to_owned(),
                    (_, TransferMethod::Refer) => "refer".to_owned(),
                    (_, TransferMethod::Local) => "local".to_owned(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, &header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    for r in results {
        if let Some(warning) = r.warning() {
            let _ = writeln!(out, "warning: {}: {warning}", r.trunk);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3261 section 11.2's example answer to OPTIONS (Allow, Accept, Supported...), with
    /// RFC 3891's, RFC 4538's and RFC 4488's option tags added to Supported.
    const ANSWER: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877;received=192.0.2.4\r\n\
To: <sip:carol@chicago.com>;tag=93810874\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Contact: <sip:carol@chicago.com>\r\n\
Contact: <mailto:carol@chicago.com>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n\
Accept: application/sdp\r\n\
Accept-Encoding: gzip\r\n\
Accept-Language: en\r\n\
Supported: foo, replaces, tdialog\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn the_rfc_answer_allows_no_refer_and_supports_replaces_and_tdialog() {
        let answer = Answer::read(ANSWER, "a84b4c76e66710").expect("an answer");
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.allows_refer, Some(false));
        assert!(answer.replaces && answer.tdialog && !answer.norefersub);
        assert!(Answer::read(ANSWER, "another-call").is_none());
    }

    #[test]
    fn refer_in_allow_is_seen_across_lines_and_case() {
        let text = String::from_utf8_lossy(ANSWER)
            .replace(
                "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE",
                "Allow: INVITE, ACK\r\nAllow: refer",
            )
            .replace("Supported: foo, replaces, tdialog", "Supported: norefersub");
        let answer = Answer::read(text.as_bytes(), "a84b4c76e66710").expect("an answer");
        assert_eq!(answer.allows_refer, Some(true));
        assert!(answer.norefersub && !answer.replaces);
        let bare = String::from_utf8_lossy(ANSWER)
            .replace("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n", "");
        let answer = Answer::read(bare.as_bytes(), "a84b4c76e66710").expect("an answer");
        assert_eq!(answer.allows_refer, None);
    }
}

/// What `handoff probe --test-transfer NUMBER` saw: a real test call to the trunk, REFERed to
/// NUMBER the way handoff REFERs a transferred call (RFC 3515: REFER in the call's dialog,
/// Refer-To in the carrier's form, Referred-By; then the carrier's NOTIFYs and, when it took the
/// call over, its BYE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestTransfer {
    /// The Refer-To handoff sent.
    pub refer_to: String,
    /// The final response to the test call's INVITE (`None`: none came).
    pub invite_status: Option<StatusCode>,
    /// The final response to the REFER (`None`: none came: timeout).
    pub refer_status: Option<StatusCode>,
    /// The sipfrag status of each NOTIFY, in order.
    pub notify_codes: Vec<u16>,
    /// The carrier sent BYE: it took the call over (a handoff would have saved the trunk).
    pub released_by_carrier: bool,
}

impl TestTransfer {
    /// The report, one fact a line.
    pub fn render(&self, trunk: &str) -> String {
        let code = |s: Option<StatusCode>| s.map_or("none (timeout)".to_owned(), |s| s.to_string());
        let notifies = if self.notify_codes.is_empty() {
            "none".to_owned()
        } else {
            self.notify_codes
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "test transfer via {trunk}: REFER to {}\nINVITE: {}\nREFER: {}\nNOTIFY: {notifies}\nreleased by the carrier: {}\n",
            self.refer_to,
            code(self.invite_status),
            code(self.refer_status),
            if self.released_by_carrier {
                "yes"
            } else {
                "no"
            },
        )
    }
}

/// One in-dialog client: the test call's dialog from handoff's side.
struct TestCall<'a> {
    socket: &'a UdpSocket,
    peer: SocketAddr,
    local: SocketAddr,
    identity: &'a str,
    call_id: String,
    local_tag: String,
    remote_party: String,
    remote_target: String,
    cseq: u32,
    nonce: String,
}

impl TestCall<'_> {
    /// A request in the test call's dialog: Via (with `branch`), Max-Forwards, From, To,
    /// Call-ID and CSeq `cseq method`.
    fn dialog_request(&self, method: Method, branch: &str, cseq: u32) -> RequestBuilder {
        RequestBuilder::new(method, &self.remote_target)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch}", self.local))
            .header("Max-Forwards", "70")
            .header(
                "From",
                format!(
                    "<sip:{}@{}>;tag={}",
                    self.identity, self.local, self.local_tag
                ),
            )
            .header("To", self.remote_party.clone())
            .header("Call-ID", self.call_id.clone())
            .header("CSeq", format!("{cseq} {}", method.as_str()))
    }

    fn request(
        &mut self,
        method: Method,
        extra: &[(&str, String)],
        body: Option<(&str, &str)>,
    ) -> Vec<u8> {
        self.cseq += 1;
        let branch = format!("z9hG4bK-probe-{}-{}", self.nonce, self.cseq);
        let mut builder = self
            .dialog_request(method, &branch, self.cseq)
            .header("Contact", format!("<sip:{}@{}>", self.identity, self.local));
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = body {
            builder = builder.body(content_type, body);
        }
        builder.build().unwrap_or_default()
    }

    /// Sends `request` and waits for its final response, retransmitting every `t1` (doubling to
    /// `t2`) and handling what else arrives with `other`; `None` after `timeout`.
    fn transact(
        &self,
        request: &[u8],
        timers: ProbeTimers,
        timeout: Duration,
        mut other: impl FnMut(&Message, SocketAddr),
    ) -> Option<(StatusCode, Vec<u8>)> {
        let cseq = self.cseq;
        let started = Instant::now();
        let mut next_send = started;
        let mut interval = timers.t1;
        let mut buf = vec![0u8; 65_535];
        while started.elapsed() < timeout {
            if Instant::now() >= next_send {
                let _ = self.socket.send_to(request, self.peer);
                next_send = Instant::now() + interval;
                interval = (interval * 2).min(timers.t2);
            }
            let wait = next_send
                .min(started + timeout)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let _ = self.socket.set_read_timeout(Some(wait));
            let Ok((n, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(message) = Message::parse(&buf[..n]) else {
                continue;
            };
            if message.call_id().ok() != Some(self.call_id.as_str()) {
                continue;
            }
            match (message.status(), message.cseq()) {
                (Some(status), Ok(c)) if c.seq == cseq => {
                    if status.is_final() {
                        return Some((status, buf[..n].to_vec()));
                    }
                    // A provisional response: stop retransmitting (RFC 3261 17.1.1.2 / 17.1.2.2).
                    next_send = started + timeout;
                }
                (Some(_), _) => {}
                (None, _) => other(&message, from),
            }
        }
        None
    }

    /// Answers an in-dialog request from the carrier with 200 (NOTIFY, BYE).
    fn answer_ok(&self, request: &Message, from: SocketAddr) {
        if let Ok(bytes) =
            crate::sip::response_to(request, StatusCode::OK, StatusCode::OK.reason_phrase()).build()
        {
            let _ = self.socket.send_to(&bytes, from);
        }
    }
}

/// Places a test call to `trunk` (to `call_to`), REFERs it to `number` as handoff would, and
/// reports what the carrier did. The call is hung up at the end unless the carrier took it over.
pub fn test_transfer(
    config: &Config,
    trunk_name: &str,
    call_to: &str,
    number: &str,
    timers: ProbeTimers,
) -> Result<TestTransfer, ProbeError> {
    let Some(trunk) = config.trunks.iter().find(|t| t.name == trunk_name) else {
        return Err(ProbeError::UnknownTrunk {
            name: trunk_name.to_owned(),
            known: config
                .trunks
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let refer_to =
        crate::transfer::PlatformReferTo::parse(&format!("<sip:{number}@probe.invalid>"))
            .and_then(|r| crate::transfer::refer_to::carrier_refer_to(&r, trunk, None))
            .map_err(|e| {
                ProbeError::Io(std::io::Error::other(format!("NUMBER {number:?}: {e}")))
            })?;
    let listen = config.sbc.listen;
    let socket = bind_probe_socket(listen)?;
    // The SDP names a port of ours that exists (nothing is sent from it).
    let media = UdpSocket::bind(SocketAddr::new(listen.ip(), 0))?;
    let local = SocketAddr::new(config.sbc.advertise, socket.local_addr()?.port());
    let mut key = [0u8; 8];
    getrandom::fill(&mut key).map_err(|e| ProbeError::Io(std::io::Error::other(e)))?;
    let nonce = format!("{:016x}", u64::from_le_bytes(key));
    let target = format!("sip:{call_to}@{}", trunk.peer);
    let mut call = TestCall {
        socket: &socket,
        peer: trunk.peer,
        local,
        identity: &config.sbc.identity,
        call_id: format!("probe-call-{nonce}@{}", local.ip()),
        local_tag: format!("probe-{nonce}"),
        remote_party: format!("<{target}>"),
        remote_target: target,
        cseq: 0,
        nonce,
    };
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n",
        ip = local.ip(),
        port = media.local_addr()?.port()
    );
    let mut report = TestTransfer {
        refer_to: format!("<{}>", refer_to.uri),
        ..TestTransfer::default()
    };
    let invite = call.request(Method::Invite, &[], Some(("application/sdp", &sdp)));
    // Timer B: 64*T1.
    let answer = call.transact(&invite, timers, timers.t1 * 64, |_, _| {});
    let Some((status, response)) = answer else {
        return Ok(report);
    };
    report.invite_status = Some(status);
    let Ok(response) = Message::parse(&response) else {
        return Ok(report);
    };
    // The dialog: the carrier's To (with its tag) and Contact.
    if let Some(to) = response.header(HeaderName::To) {
        call.remote_party = String::from_utf8_lossy(to).into_owned();
    }
    if let Some(Ok(contact)) = response.contacts().next() {
        call.remote_target = contact.uri.as_str().to_owned();
    }
    // ACK: for a 2xx a new transaction in the dialog (CSeq 1 ACK); for a failure, the same
    // branch (RFC 3261 17.1.1.3). Either way the probe is done with a failure.
    let ack = |call: &TestCall, branch_of_invite: bool| {
        let branch = if branch_of_invite {
            format!("z9hG4bK-probe-{}-1", call.nonce)
        } else {
            format!("z9hG4bK-probe-{}-ack", call.nonce)
        };
        call.dialog_request(Method::Ack, &branch, 1)
            .build()
            .unwrap_or_default()
    };
    if !status.is_success() {
        let _ = socket.send_to(&ack(&call, true), call.peer);
        return Ok(report);
    }
    call.cseq = 1;
    let _ = socket.send_to(&ack(&call, false), call.peer);

    let referred_by = format!("<sip:{}@{}>", config.sbc.identity, local);
    let refer = call.request(
        Method::Refer,
        &[
            ("Refer-To", report.refer_to.clone()),
            ("Referred-By", referred_by),
        ],
        None,
    );
    let mut notify_codes = Vec::new();
    let mut released = false;
    let refer_answer = call.transact(&refer, timers, timers.t1 * 64, |message, from| {
        on_carrier_request(&call, message, from, &mut notify_codes, &mut released)
    });
    report.refer_status = refer_answer.map(|(status, _)| status);
    if report.refer_status.is_some_and(StatusCode::is_success) && !released {
        // The carrier owns the transfer now: wait for its NOTIFYs and its BYE.
        let started = Instant::now();
        let mut buf = vec![0u8; 65_535];
        while !released && started.elapsed() < timers.timeout {
            let left = timers.timeout.saturating_sub(started.elapsed());
            let _ = socket.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if let Ok(message) = Message::parse(&buf[..n])
                && message.call_id().ok() == Some(call.call_id.as_str())
                && message.is_request()
            {
                on_carrier_request(&call, &message, from, &mut notify_codes, &mut released);
            }
        }
    }
    report.notify_codes = notify_codes;
    report.released_by_carrier = released;
    if !released {
        // Still ours: hang up.
        let bye = call.request(Method::Bye, &[], None);
        let _ = call.transact(&bye, timers, timers.t1 * 8, |_, _| {});
    }
    Ok(report)
}

fn on_carrier_request(
    call: &TestCall,
    message: &Message,
    from: SocketAddr,
    notify_codes: &mut Vec<u16>,
    released: &mut bool,
) {
    match message.method() {
        Some(Method::Notify) => {
            call.answer_ok(message, from);
            if let Ok(frag) = crate::sip::parse_sipfrag(message.body()) {
                notify_codes.push(frag.code.as_u16());
            }
        }
        Some(Method::Bye) => {
            call.answer_ok(message, from);
            *released = true;
        }
        _ => {}
    }
}
