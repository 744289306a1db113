//! The process's serving loop.
//!
//! Placeholder until the io_uring runtime lands (the runtime engineer replaces this body): it binds
//! the SIP socket on `sbc.listen` and answers OPTIONS keep-alives with 200 OK in a blocking loop,
//! so carriers' and SIPp's health checks see a live peer. Other requests get 503 because calls
//! are not handled yet; ACKs and responses are ignored.

use std::net::{SocketAddr, UdpSocket};

use crate::config::Config;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot bind the SIP socket on {addr} (sbc.listen): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("receiving on the SIP socket {addr} failed: {source}")]
    Receive {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Methods the placeholder server answers.
const ALLOW: &str = "OPTIONS";

/// Serves until the process is stopped.
pub fn run(config: Config) -> Result<(), RunError> {
    let addr = config.sbc.listen;
    let socket = UdpSocket::bind(addr).map_err(|source| RunError::Bind { addr, source })?;
    tracing::info!(
        %addr,
        trunks = config.trunks.len(),
        routes = config.routes.len(),
        "listening for SIP over UDP (placeholder server: answers OPTIONS only)"
    );
    let mut buffer = vec![0u8; 65_535];
    loop {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            // ICMP port-unreachable from an earlier send surfaces here on Linux; not fatal.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(source) => return Err(RunError::Receive { addr, source }),
        };
        let datagram = &buffer[..len];
        let Some(response) = respond(datagram) else {
            continue;
        };
        if let Err(error) = socket.send_to(&response, from) {
            tracing::warn!(%from, %error, "sending a response failed");
        }
    }
}

/// The response to send for `datagram`, or `None` when it needs none (responses, ACK, garbage).
///
/// Pure; never panics on any input.
pub fn respond(datagram: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(datagram).ok()?;
    let head = match text.find("\r\n\r\n") {
        Some(end) => &text[..end],
        None => text.split("\n\n").next().unwrap_or(text),
    };
    let lines = unfold(head);
    let (request_line, header_lines) = lines.split_first()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?;
    let _uri = parts.next()?;
    if parts.next()? != "SIP/2.0" || method.is_empty() || method == "SIP/2.0" {
        return None;
    }
    if method == "ACK" {
        return None;
    }
    let (status, reason) = if method == "OPTIONS" {
        (200, "OK")
    } else {
        (503, "Service Unavailable")
    };

    let mut response = format!("SIP/2.0 {status} {reason}\r\n");
    let mut has = [false; 4]; // via, from, call-id, cseq: RFC 3261 8.1.1 mandatory fields
    let mut to_line = None;
    let mut call_id = "";
    let mut cseq = "";
    for line in header_lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match canonical_name(name.trim()) {
            Some("Via") => {
                has[0] = true;
                response.push_str(&format!("Via: {value}\r\n"));
            }
            Some("From") => {
                has[1] = true;
                response.push_str(&format!("From: {value}\r\n"));
            }
            Some("To") => to_line = Some(value),
            Some("Call-ID") => {
                has[2] = true;
                call_id = value;
                response.push_str(&format!("Call-ID: {value}\r\n"));
            }
            Some("CSeq") => {
                has[3] = true;
                cseq = value;
                response.push_str(&format!("CSeq: {value}\r\n"));
            }
            _ => {}
        }
    }
    let to = to_line?;
    if !has.iter().all(|&h| h) {
        return None;
    }
    if to.to_ascii_lowercase().contains(";tag=") {
        response.push_str(&format!("To: {to}\r\n"));
    } else {
        response.push_str(&format!("To: {to};tag={:016x}\r\n", tag_for(call_id, cseq)));
    }
    response.push_str(&format!("Allow: {ALLOW}\r\n"));
    if status == 503 {
        response.push_str("Retry-After: 60\r\n");
    }
    response.push_str("Server: handoff\r\nContent-Length: 0\r\n\r\n");
    Some(response.into_bytes())
}

/// Header lines with RFC 3261 line folding undone.
fn unfold(head: &str) -> Vec<String> {
    let mut logical: Vec<String> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t'])
            && let Some(last) = logical.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim_start());
            continue;
        }
        logical.push(line.to_owned());
    }
    logical
}

/// The headers this placeholder echoes, by long or compact name (case-insensitive).
fn canonical_name(name: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str, &str)] = &[
        ("via", "v", "Via"),
        ("from", "f", "From"),
        ("to", "t", "To"),
        ("call-id", "i", "Call-ID"),
        ("cseq", "", "CSeq"),
    ];
    NAMES
        .iter()
        .find(|(long, compact, _)| {
            name.eq_ignore_ascii_case(long)
                || (!compact.is_empty() && name.eq_ignore_ascii_case(compact))
        })
        .map(|(_, _, canonical)| *canonical)
}

/// A To-tag stable for one request (retransmissions get the same one), FNV-1a of its identity.
fn tag_for(call_id: &str, cseq: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in call_id.bytes().chain([b' ']).chain(cseq.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n\
        Max-Forwards: 70\r\n\
        f: <sip:sipp@127.0.0.1:5070>;tag=abc\r\n\
        To: <sip:127.0.0.1:5060>\r\n\
        Call-ID: 1-2@127.0.0.1\r\n\
        CSeq: 1\r\n OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("a response")).expect("utf-8")
    }

    #[test]
    fn options_gets_200_echoing_the_transaction_headers() {
        let response = text(respond(OPTIONS.as_bytes()));
        assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
        assert!(response.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n"));
        assert!(response.contains("From: <sip:sipp@127.0.0.1:5070>;tag=abc\r\n"));
        assert!(response.contains("To: <sip:127.0.0.1:5060>;tag="));
        assert!(response.contains("Call-ID: 1-2@127.0.0.1\r\n"));
        assert!(
            response.contains("CSeq: 1 OPTIONS\r\n"),
            "folded CSeq is unfolded: {response}"
        );
        assert!(response.contains("Allow: OPTIONS\r\n"));
        assert!(response.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn retransmitted_options_gets_the_same_to_tag() {
        assert_eq!(respond(OPTIONS.as_bytes()), respond(OPTIONS.as_bytes()));
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let request = OPTIONS.replace(
            "To: <sip:127.0.0.1:5060>",
            "To: <sip:127.0.0.1:5060>;tag=xyz",
        );
        let response = text(respond(request.as_bytes()));
        assert!(
            response.contains("To: <sip:127.0.0.1:5060>;tag=xyz\r\n"),
            "{response}"
        );
    }

    #[test]
    fn other_requests_get_503_and_ack_and_responses_none() {
        let invite = OPTIONS
            .replace("OPTIONS sip", "INVITE sip")
            .replace("1 OPTIONS", "1 INVITE");
        assert!(
            text(respond(invite.as_bytes())).starts_with("SIP/2.0 503 Service Unavailable\r\n")
        );
        let ack = OPTIONS.replace("OPTIONS sip", "ACK sip");
        assert_eq!(respond(ack.as_bytes()), None);
        assert_eq!(respond(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), None);
    }

    #[test]
    fn requests_missing_mandatory_headers_are_dropped() {
        let no_call_id = OPTIONS.replace("Call-ID: 1-2@127.0.0.1\r\n", "");
        assert_eq!(respond(no_call_id.as_bytes()), None);
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"\xff\xfe",
            b"OPTIONS",
            b"OPTIONS  SIP/2.0\r\n",
            b"\r\n\r\n",
            b" :\n\t:",
        ] {
            let _ = respond(input);
        }
    }
}
