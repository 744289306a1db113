//! Helpers shared by the `border_*` real-binary tests: a config written from a trunk list (so a
//! test can give a trunk `sources`, move it or drop it), message bodies other than plain SDP,
//! waits on several messages at once and on the audit file. Built on `runtime_support`, which
//! every `border_*` test declares next to this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime_support::ua::{Msg, Ua};

/// One `[[trunk]]` of a generated config.
pub struct TrunkSpec {
    pub name: &'static str,
    pub role: &'static str,
    pub peer: SocketAddr,
    /// Written as `sources = [...]` when not empty (else the default: the peer exactly).
    pub sources: Vec<String>,
}

impl TrunkSpec {
    pub fn new(name: &'static str, role: &'static str, peer: SocketAddr) -> TrunkSpec {
        TrunkSpec {
            name,
            role,
            peer,
            sources: Vec::new(),
        }
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
    let mut text = format!(
        "[sbc]\nlisten = \"{sip}\"\nadvertise = \"127.0.0.1\"\nshards = {shards}\nio = \"{io}\"\n\
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
        text.push_str(
            "transfer = \"refer\"\ncountry_code = \"1\"\ncodecs = [\"PCMU\", \"PCMA\"]\n",
        );
    }
    for (from, to) in routes {
        text.push_str(&format!("\n[[route]]\nfrom = \"{from}\"\nto = \"{to}\"\n"));
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
