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
    let listen = config.sbc.listen;
    let socket = match UdpSocket::bind(listen) {
        Ok(socket) => socket,
        Err(e) if e.kind() == ErrorKind::AddrInUse => {
            let ephemeral = SocketAddr::new(listen.ip(), 0);
            UdpSocket::bind(ephemeral).map_err(|source| ProbeError::Bind {
                addr: ephemeral,
                source,
            })?
        }
        Err(source) => {
            return Err(ProbeError::Bind {
                addr: listen,
                source,
            });
        }
    };
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
    Ok((results, bound))
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
