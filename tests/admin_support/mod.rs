//! What the tests of the admin API share: one HTTP/1.0 client call, and a strict reader of the
//! Prometheus text exposition format (0.0.4) for the real binary's `/metrics`
//! (runtime_admin_api, e2e_metrics_series, e2e_admin_dashboard, config_packaging...), and the
//! config edit that turns the admin listener on.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Rewrites a test config (`runtime_support::setup`'s, with `admin = "off"`) to put the admin
/// listener on `admin`, with `extra` lines after it in `[sbc]`.
pub fn with_admin(config: &std::path::Path, admin: SocketAddr, extra: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains("admin = \"off\""), "{text}");
    let text = text.replace("admin = \"off\"", &format!("admin = \"{admin}\"\n{extra}"));
    std::fs::write(config, text).unwrap();
}

/// An HTTP reply: status, the header block, the body.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// One HTTP/1.0 request (with a Bearer token and a body if given), read to the end (the server
/// closes). Waits at most `wait` for the reply.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    wait: Duration,
) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(wait)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: handoff\r\n{auth}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Reply {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

use std::collections::{BTreeMap, BTreeSet};

/// One parsed sample: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text exposition format (0.0.4) strictly enough to catch a broken
/// renderer: every sample's family has `# HELP` and `# TYPE` lines before it, names and label
/// names follow `[a-zA-Z_:][a-zA-Z0-9_:]*`, label values are quoted with `\\`, `\"`, `\n`
/// escapes, counters end in `_total`, and every value is a number.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut helped = BTreeSet::new();
    let mut typed = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name) && !help.is_empty(), "bad HELP: {line}");
            assert!(helped.insert(name.to_owned()), "HELP twice: {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name), "bad TYPE: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {line}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {name}");
            }
            assert!(
                typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE twice: {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment: {line}");
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        assert!(is_name(name), "bad metric name: {line}");
        // A histogram's samples are its family's `_bucket` (with `le`), `_sum` and `_count`.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (typed.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        assert!(helped.contains(family), "sample before its HELP: {line}");
        assert!(typed.contains_key(family), "sample before its TYPE: {line}");
        assert!(
            typed[family] != "histogram" || family != name,
            "histogram sample without _bucket/_sum/_count: {line}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let end = loop {
                let (start, c) = chars.next().expect("unterminated labels");
                if c == '}' {
                    break start;
                }
                let mut label = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    label.push(c);
                }
                assert!(is_name(&label), "bad label name {label:?}: {line}");
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value").1 {
                        '"' => break,
                        '\\' => match chars.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            other => panic!("bad escape \\{other}: {line}"),
                        },
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(label, value).is_none(), "label twice: {line}");
                match chars.peek() {
                    Some((_, ',')) => {
                        chars.next();
                    }
                    Some((_, '}')) => {}
                    _ => panic!("bad label list: {line}"),
                }
            };
            rest = &inner[end + 1..];
        }
        let value = rest.strip_prefix(' ').expect("space before the value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        if name.ends_with("_bucket") && family != name {
            assert!(labels.contains_key("le"), "bucket without le: {line}");
        }
        samples.push((name.to_owned(), labels, value));
    }
    // Every histogram: buckets in increasing `le` order with cumulative (monotonic) counts, the
    // last one `+Inf` and equal to `_count`; `_sum` present.
    for (family, _) in typed.iter().filter(|(_, kind)| *kind == "histogram") {
        let bucket = format!("{family}_bucket");
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|(n, _, _)| *n == bucket)
            .map(|(_, l, v)| {
                let le = match l["le"].as_str() {
                    "+Inf" => f64::INFINITY,
                    le => le.parse().unwrap_or_else(|_| panic!("bad le {le}")),
                };
                (le, *v)
            })
            .collect();
        assert!(!buckets.is_empty(), "{family}: no buckets");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{family}: buckets not cumulative: {buckets:?}"
        );
        let count = samples
            .iter()
            .find(|(n, _, _)| *n == format!("{family}_count"))
            .map(|s| s.2);
        assert_eq!(buckets.last().map(|b| b.0), Some(f64::INFINITY), "{family}");
        assert_eq!(
            buckets.last().map(|b| b.1),
            count,
            "{family}: +Inf != _count"
        );
        assert!(
            samples
                .iter()
                .any(|(n, _, _)| *n == format!("{family}_sum")),
            "{family}: no _sum"
        );
    }
    samples
}

pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}
