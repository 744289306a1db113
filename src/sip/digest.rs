//! HTTP Digest as SIP uses it (RFC 3261 section 22.4, RFC 8760, RFC 7616 for the algorithms):
//! reading a trunk's `WWW-Authenticate` / `Proxy-Authenticate` challenge, choosing among several,
//! computing the `response` and writing the `Authorization` / `Proxy-Authorization` value; and
//! [`redact`], which hides credentials in copies of messages (logs, HEP, ladders).
//!
//! Pure: the client nonce comes from the caller (the shard's generator), so the core stays
//! sans-IO and a simulation replays.
//!
//! The hashes are the RustCrypto `md-5` and `sha2` crates: well-kept, audited, constant
//! implementations; a hand-written MD5 or SHA-256 would be one more place for a bug that only a
//! carrier's 403 reveals.

use std::borrow::Cow;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The digest algorithms handoff answers with (RFC 8760 section 2.1: SHA-256 and MD5; SHA-512-256
/// and the `-sess` variants are not offered by SIP carriers in practice and are declined).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token as written in the `algorithm` parameter.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("malformed challenge parameters")]
    Malformed,
    #[error("challenge has no {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("qop offered without \"auth\" ({0:?})")]
    UnsupportedQop(String),
}

/// One Digest challenge (RFC 3261 section 25.1 `challenge`, RFC 7616 section 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop` including `auth`: the answer carries qop=auth, cnonce and nc.
    /// `false`: RFC 2069 compatibility (RFC 3261 section 22.4), no qop.
    pub qop_auth: bool,
}

/// The `auth-param`s of a challenge or credentials value after its scheme: (name lower-cased,
/// value unquoted). `None` when the syntax is broken.
fn params(text: &str) -> Option<Vec<(String, String)>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t' | b'\r' | b'\n' | b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= bytes.len() {
            return Some(out);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !matches!(bytes[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        let name = text[start..i].to_ascii_lowercase();
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if name.is_empty() || i >= bytes.len() || bytes[i] != b'=' {
            return None;
        }
        i += 1;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut value = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return None,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        value.push(*bytes.get(i + 1)?);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8(value).ok()?
        } else {
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b',' | b' ' | b'\t') {
                i += 1;
            }
            text[start..i].to_string()
        };
        out.push((name, value));
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if i < bytes.len() && bytes[i] != b',' {
            return None;
        }
    }
}

/// Reads one `WWW-Authenticate` / `Proxy-Authenticate` value.
pub fn parse_challenge(value: &str) -> Result<Challenge, DigestError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(DigestError::NotDigest);
    }
    // RFC 3261 section 25.1: a folded line (CRLF then whitespace) is one space; past that,
    // qdtext and quoted-pair hold no CR, LF or other control character (HTAB aside). A value
    // with one would be copied into handoff's own Authorization header as a new header line.
    let unfolded = rest.replace("\r\n ", " ").replace("\r\n\t", " ");
    if unfolded
        .bytes()
        .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(DigestError::Malformed);
    }
    let params = params(&unfolded).ok_or(DigestError::Malformed)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let realm = get("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = get("nonce").ok_or(DigestError::Missing("nonce"))?;
    // RFC 7616 section 3.3: absent means MD5.
    let algorithm = match get("algorithm") {
        None => Algorithm::Md5,
        Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
        Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
        Some(other) => return Err(DigestError::UnsupportedAlgorithm(other.to_string())),
    };
    let qop_auth = match get("qop") {
        None => false,
        Some(list) => {
            if list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            {
                true
            } else {
                return Err(DigestError::UnsupportedQop(list.to_string()));
            }
        }
    };
    Ok(Challenge {
        realm: realm.to_string(),
        nonce: nonce.to_string(),
        opaque: get("opaque").map(str::to_string),
        algorithm,
        qop_auth,
    })
}

/// The challenge to answer among `values` (every challenge header of one response): the
/// strongest algorithm (SHA-256 over MD5, RFC 8760 section 2.4: a UAC uses the first one it
/// supports in the server's preference order, and servers list SHA-256 first), only of `realm`
/// when one is configured. Unusable values are skipped.
pub fn choose<'a>(
    values: impl IntoIterator<Item = &'a str>,
    realm: Option<&str>,
) -> Option<Challenge> {
    let mut best: Option<Challenge> = None;
    for value in values {
        let Ok(challenge) = parse_challenge(value) else {
            continue;
        };
        if realm.is_some_and(|r| r != challenge.realm) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| challenge.algorithm > b.algorithm)
        {
            best = Some(challenge);
        }
    }
    best
}

/// What the answer to one challenge is computed from.
pub struct Answer<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    /// The Request-URI of the request that carries the credentials (RFC 3261 section 22.4:
    /// digest-uri is the Request-URI).
    pub uri: &'a str,
    /// The client nonce (used only with qop=auth).
    pub cnonce: &'a str,
    /// The nonce count (1 for the first request with this nonce).
    pub nc: u32,
}

/// The `response` value (RFC 7616 section 3.4.1; RFC 2617 section 3.2.2.1 without qop):
/// KD(H(A1), nonce ":" nc ":" cnonce ":" "auth" ":" H(A2)), or KD(H(A1), nonce ":" H(A2)),
/// with A1 = username ":" realm ":" password and A2 = method ":" uri.
pub fn response(challenge: &Challenge, answer: &Answer<'_>) -> String {
    let algorithm = challenge.algorithm;
    let ha1 = algorithm.hex(
        format!(
            "{}:{}:{}",
            answer.username, challenge.realm, answer.password
        )
        .as_bytes(),
    );
    let ha2 = algorithm.hex(format!("{}:{}", answer.method, answer.uri).as_bytes());
    let data = if challenge.qop_auth {
        format!(
            "{ha1}:{}:{:08x}:{}:auth:{ha2}",
            challenge.nonce, answer.nc, answer.cnonce
        )
    } else {
        format!("{ha1}:{}:{ha2}", challenge.nonce)
    };
    algorithm.hex(data.as_bytes())
}

/// Escapes a value for a quoted-string (RFC 3261 section 25.1).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The `Authorization` / `Proxy-Authorization` value answering `challenge` (RFC 3261 section
/// 22.4; RFC 7616 section 3.4 on which parameters are quoted).
pub fn credentials(challenge: &Challenge, answer: &Answer<'_>) -> String {
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        quoted(answer.username),
        quoted(&challenge.realm),
        quoted(&challenge.nonce),
        quoted(answer.uri),
        quoted(&response(challenge, answer)),
        challenge.algorithm.token(),
    );
    if challenge.qop_auth {
        out.push_str(&format!(
            ", qop=auth, nc={:08x}, cnonce={}",
            answer.nc,
            quoted(answer.cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(", opaque=");
        out.push_str(&quoted(opaque));
    }
    out
}

/// What stands in for a credentials value in copies of a message.
pub const REDACTED: &str = "Digest <redacted>";

/// A credentials value as logs and ladders may show it: the scheme, username, realm, algorithm
/// and qop, and `response=<redacted>`; nothing a password could be guessed from offline.
pub fn summary(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    let mut out = scheme.to_string();
    let mut first = true;
    for (name, v) in params(rest).unwrap_or_default() {
        let shown = match name.as_str() {
            "username" | "realm" => quoted(&v),
            "algorithm" | "qop" => v,
            "response" => "<redacted>".to_string(),
            _ => continue,
        };
        out.push_str(if first { " " } else { ", " });
        first = false;
        out.push_str(&name);
        out.push('=');
        out.push_str(&shown);
    }
    if first {
        out.push_str(" <redacted>");
    }
    out
}

fn is_credentials_header(name: &[u8]) -> bool {
    let name = name.trim_ascii();
    name.eq_ignore_ascii_case(b"authorization") || name.eq_ignore_ascii_case(b"proxy-authorization")
}

/// `message` with the value of every Authorization / Proxy-Authorization header line replaced
/// by [`REDACTED`] (the digest `response` is a password-equivalent for its nonce: it never goes
/// to logs, HEP or the audit's ladders). Borrowed unchanged when there is none (the common case
/// costs one scan of the header section).
pub fn redact(message: &[u8]) -> Cow<'_, [u8]> {
    let head_end = memchr::memmem::find(message, b"\r\n\r\n").unwrap_or(message.len());
    let head = &message[..head_end];
    let has = head
        .windows(13)
        .any(|w| w.eq_ignore_ascii_case(b"authorization"));
    if !has {
        return Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len());
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        // A folded continuation of a redacted header goes too.
        if skipping && matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        skipping = false;
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && is_credentials_header(&line[..colon])
        {
            out.extend_from_slice(&line[..=colon]);
            out.extend_from_slice(b" ");
            out.extend_from_slice(REDACTED.as_bytes());
            if line.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            } else if line.ends_with(b"\n") {
                out.extend_from_slice(b"\n");
            }
            skipping = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&message[head_end..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 section 3.9.1: the server's two challenges (SHA-256 listed first, then MD5),
    /// and the two answers' `response` values for Mufasa / "Circle of Life", GET
    /// /dir/index.html, nc 00000001, cnonce f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ.
    const SHA256_CHALLENGE: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
    const MD5_CHALLENGE: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

    fn rfc7616_answer() -> Answer<'static> {
        Answer {
            username: "Mufasa",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nc: 1,
        }
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256_responses() {
        let md5 = parse_challenge(MD5_CHALLENGE).unwrap();
        assert_eq!(
            response(&md5, &rfc7616_answer()),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = parse_challenge(SHA256_CHALLENGE).unwrap();
        assert_eq!(sha.algorithm, Algorithm::Sha256);
        assert!(sha.qop_auth);
        assert_eq!(
            response(&sha, &rfc7616_answer()),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn sha256_is_chosen_over_md5_whatever_the_order() {
        for order in [
            [MD5_CHALLENGE, SHA256_CHALLENGE],
            [SHA256_CHALLENGE, MD5_CHALLENGE],
        ] {
            let chosen = choose(order, None).unwrap();
            assert_eq!(chosen.algorithm, Algorithm::Sha256);
        }
        // A realm that is configured filters.
        assert!(choose([MD5_CHALLENGE], Some("other.example")).is_none());
    }

    /// RFC 2617 section 3.2.2.1 without qop (RFC 3261 section 22.4 keeps RFC 2069
    /// compatibility): response = H(H(A1) ":" nonce ":" H(A2)). The value was computed with
    /// Python's hashlib from the formula, independently of this code.
    #[test]
    fn no_qop_response() {
        let challenge = parse_challenge(
            r#"Digest realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#,
        )
        .unwrap();
        assert!(!challenge.qop_auth);
        let answer = Answer {
            username: "bob",
            password: "zanzibar",
            method: "INVITE",
            uri: "sip:bob@biloxi.com",
            cnonce: "unused",
            nc: 1,
        };
        assert_eq!(
            response(&challenge, &answer),
            "bf57e4e0d0bffc0fbaedce64d59add5e"
        );
        let header = credentials(&challenge, &answer);
        assert!(!header.contains("qop"), "{header}");
        assert!(!header.contains("cnonce"), "{header}");
    }

    #[test]
    fn credentials_quote_what_rfc7616_says() {
        let challenge = parse_challenge(SHA256_CHALLENGE).unwrap();
        let header = credentials(&challenge, &rfc7616_answer());
        assert!(header.starts_with("Digest username=\"Mufasa\""), "{header}");
        for part in [
            "realm=\"http-auth@example.org\"",
            "uri=\"/dir/index.html\"",
            "algorithm=SHA-256",
            "qop=auth",
            "nc=00000001",
            "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\"",
            "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
            "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"",
        ] {
            assert!(header.contains(part), "{part} missing in {header}");
        }
    }

    #[test]
    fn unusable_challenges_are_refused() {
        assert_eq!(
            parse_challenge("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert!(matches!(
            parse_challenge(r#"Digest realm="x", nonce="n", algorithm=SHA-512-256"#),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            parse_challenge(r#"Digest realm="x", nonce="n", qop="auth-int""#),
            Err(DigestError::UnsupportedQop(_))
        ));
        assert_eq!(
            parse_challenge(r#"Digest nonce="n""#),
            Err(DigestError::Missing("realm"))
        );
        assert_eq!(
            parse_challenge(r#"Digest realm="x", nonce="unterminated"#),
            Err(DigestError::Malformed)
        );
    }

    #[test]
    fn summary_keeps_who_and_how_never_the_response() {
        let challenge = parse_challenge(SHA256_CHALLENGE).unwrap();
        let header = credentials(&challenge, &rfc7616_answer());
        let shown = summary(&header);
        assert_eq!(
            shown,
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", response=<redacted>, algorithm=SHA-256, qop=auth"
        );
    }

    #[test]
    fn redact_hides_credentials_and_keeps_the_rest() {
        let message = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x\r\nProxy-Authorization: Digest username=\"u\", response=\"abc\"\r\nauthorization : Digest response=\"def\"\r\nCSeq: 2 INVITE\r\n\r\nv=0\r\n";
        let redacted = redact(message);
        let text = String::from_utf8_lossy(&redacted);
        assert!(!text.contains("abc") && !text.contains("def"), "{text}");
        assert!(
            text.contains("Proxy-Authorization: Digest <redacted>\r\n"),
            "{text}"
        );
        assert!(text.contains("CSeq: 2 INVITE\r\n\r\nv=0\r\n"), "{text}");
        let plain = b"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
    }
}
