//! The process's serving loop.
//!
//! Placeholder until the io_uring runtime lands (the runtime engineer replaces this body): it binds
//! the SIP socket on `sbc.listen` and answers OPTIONS keep-alives with 200 OK in a blocking loop,
//! so carriers' and SIPp's health checks see a live peer. Other requests get 503 because calls
//! are not handled yet; ACKs and responses are ignored.

use std::net::{SocketAddr, UdpSocket};

use crate::config::Config;
use crate::sip::{Message, Method, response_to};

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

/// The response to send for `datagram`, or `None` when it needs none (responses, ACK, messages
/// that do not parse or lack the headers a response is built from).
///
/// Pure; never panics on any input.
pub fn respond(datagram: &[u8]) -> Option<Vec<u8>> {
    let request = match Message::parse(datagram) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(%error, "dropping a datagram that does not parse");
            return None;
        }
    };
    let method = request.method()?;
    if method == Method::Ack {
        return None;
    }
    // A response copies these; without them there is nobody to answer.
    let call_id = request.call_id().ok()?;
    let cseq = request.cseq().ok()?;
    request.top_via().ok()?;
    request.from().ok()?;
    request.to().ok()?;

    let (status, reason) = if method == Method::Options {
        (200, "OK")
    } else {
        (503, "Service Unavailable")
    };
    let mut response = response_to(&request, status, reason)
        .to_tag(&format!("{:016x}", tag_for(call_id, cseq.seq)))
        .header("Allow", ALLOW);
    if status == 503 {
        response = response.header("Retry-After", "60");
    }
    response.header("Server", "handoff").build().ok()
}

/// A To-tag stable for one request (retransmissions get the same one), FNV-1a of its identity.
fn tag_for(call_id: &str, cseq: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in call_id.bytes().chain(cseq.to_be_bytes()) {
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

    fn invite() -> String {
        OPTIONS
            .replace("OPTIONS sip", "INVITE sip")
            .replace("1\r\n OPTIONS", "1 INVITE")
    }

    fn response(request: &str) -> Vec<u8> {
        respond(request.as_bytes()).expect("a response")
    }

    #[test]
    fn options_gets_200_echoing_the_transaction_headers() {
        let bytes = response(OPTIONS);
        let parsed = Message::parse(&bytes).expect("the response parses");
        assert_eq!(parsed.status(), Some(200));
        let branches: Vec<String> = parsed
            .vias()
            .map(|via| via.expect("via").branch().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(branches, vec!["z9hG4bK-1", "z9hG4bK-0"]);
        assert_eq!(parsed.from().expect("from").tag(), Some("abc"));
        assert!(
            parsed.to().expect("to").tag().is_some(),
            "a To-tag is added"
        );
        assert_eq!(parsed.call_id().expect("call-id"), "1-2@127.0.0.1");
        let cseq = parsed.cseq().expect("cseq");
        assert_eq!((cseq.seq, cseq.method), (1, Method::Options));
        assert_eq!(parsed.header_by_name("Allow"), Some(&b"OPTIONS"[..]));
        assert_eq!(parsed.content_length().expect("content-length"), Some(0));
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
        let bytes = response(&request);
        let parsed = Message::parse(&bytes).expect("the response parses");
        assert_eq!(parsed.to().expect("to").tag(), Some("xyz"));
    }

    #[test]
    fn other_requests_get_503_and_ack_and_responses_none() {
        let bytes = response(&invite());
        let parsed = Message::parse(&bytes).expect("the response parses");
        assert_eq!(parsed.status(), Some(503));
        assert_eq!(parsed.header_by_name("Retry-After"), Some(&b"60"[..]));
        let ack = invite().replace("INVITE", "ACK");
        assert_eq!(respond(ack.as_bytes()), None);
        let ok = String::from_utf8(response(OPTIONS)).expect("utf-8");
        assert_eq!(respond(ok.as_bytes()), None);
    }

    #[test]
    fn requests_missing_mandatory_headers_are_dropped() {
        let no_call_id = OPTIONS.replace("Call-ID: 1-2@127.0.0.1\r\n", "");
        assert_eq!(respond(no_call_id.as_bytes()), None);
        let no_via = OPTIONS
            .replace("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n", "")
            .replace("v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n", "");
        assert_eq!(respond(no_via.as_bytes()), None);
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
            assert_eq!(respond(input), None);
        }
    }
}
