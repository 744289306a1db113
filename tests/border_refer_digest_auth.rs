//! Issue 10 item 9 against the real binary (both backends, 2 shards): the carrier challenges
//! handoff's REFER. RFC 3261 section 22.2: "When a UAC resubmits a request with its credentials
//! after receiving a 401 (Unauthorized) or 407 (Proxy Authentication Required) response, it MUST
//! increment the CSeq header field value as it would normally when sending an updated request."
//! RFC 8760 section 2.4: SHA-256 is chosen over MD5 when both are offered. The carrier here
//! checks the answer itself, computing RFC 7616 section 3.4.1 with the hash crates (not
//! handoff's code): qop=auth, nc=00000001, the cnonce handoff chose. Once accepted, the platform
//! gets its 202 (with a Contact, item 11) and the transfer is handed off. A second challenge to
//! the resubmitted REFER is a refusal: handoff falls back to its local transfer.

mod border_support;
mod runtime_support;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use border_support::{
    Leg, SiteOptions, TransferSite, answers_bye, call_up, is_request, partner_answers,
    partner_invited, platform_answers_until_bye, platform_refer_answer, refer_notify,
    transfer_record, transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::{Msg, response};

const REFER_TO: &str = "<sip:+442071234567@platform.example>";
const USER: &str = "handoff-carrier";
const PASSWORD: &str = "Refer-s3cret";
const CHALLENGE: &str = "Digest realm=\"carrier.example\", nonce=\"cafe01\", qop=\"auth\", algorithm=MD5, opaque=\"o-1\"";
const SHA_CHALLENGE: &str =
    "Digest realm=\"carrier.example\", nonce=\"beef02\", qop=\"auth\", algorithm=SHA-256";

fn site(io: &'static str, media: u16) -> TransferSite {
    let auth = format!("auth = {{ username = \"{USER}\", password = \"{PASSWORD}\" }}");
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier: &[
                "on_refer_failure = \"local\"",
                "headers = { \"X-Carrier-Account\" = \"acct-42\" }",
                &auth,
            ],
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

fn params(value: &str) -> Vec<(String, String)> {
    value
        .trim()
        .trim_start_matches("Digest")
        .split(", ")
        .filter_map(|p| {
            let (n, v) = p.split_once('=')?;
            Some((n.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        })
        .collect()
}

fn hash(algorithm: &str, data: &str) -> String {
    let bytes = if algorithm == "SHA-256" {
        Sha256::digest(data.as_bytes()).to_vec()
    } else {
        Md5::digest(data.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The credentials of `refer` answer (algorithm, nonce) for USER/PASSWORD.
fn assert_credentials(io: &str, refer: &Msg, header: &str, algorithm: &str, nonce: &str) {
    let value = refer
        .header(header)
        .unwrap_or_else(|| panic!("{io}: no {header} in\n{}", refer.raw));
    let p = params(value);
    let get = |n: &str| {
        p.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("username"), USER, "{io}: {value}");
    assert_eq!(get("realm"), "carrier.example", "{io}: {value}");
    assert_eq!(get("nonce"), nonce, "{io}: {value}");
    assert_eq!(get("algorithm"), algorithm, "{io}: {value}");
    assert_eq!(
        (get("qop").as_str(), get("nc").as_str()),
        ("auth", "00000001")
    );
    let uri = refer.first_line.split(' ').nth(1).unwrap();
    assert_eq!(get("uri"), uri, "{io}: digest-uri is the Request-URI");
    let ha1 = hash(algorithm, &format!("{USER}:carrier.example:{PASSWORD}"));
    let ha2 = hash(algorithm, &format!("REFER:{uri}"));
    let expected = hash(
        algorithm,
        &format!("{ha1}:{nonce}:00000001:{}:auth:{ha2}", get("cnonce")),
    );
    assert_eq!(get("response"), expected, "{io}: {value}");
}

fn cseq_number(m: &Msg) -> u32 {
    m.header("cseq")
        .and_then(|c| c.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// The platform REFERs; the carrier gets the REFER (returned with its source).
fn refer(site: &TransferSite, a: &Leg, b: &Leg) -> (Msg, std::net::SocketAddr) {
    site.platform.ua.send(
        site.sip,
        &b.request(
            "REFER",
            site.platform.ua.addr(),
            &[format!("Refer-To: {REFER_TO}")],
        ),
    );
    next_refer(site, a)
}

fn next_refer(site: &TransferSite, a: &Leg) -> (Msg, std::net::SocketAddr) {
    site.carrier
        .ua
        .expect(&format!("{}: REFER at the carrier", site.io), WAIT, |m| {
            is_request(m, "REFER", &a.call_id)
        })
}

fn challenge(
    site: &TransferSite,
    refer: &Msg,
    src: std::net::SocketAddr,
    status: u16,
    header: &str,
    value: &str,
) {
    let reason = if status == 401 {
        "Unauthorized"
    } else {
        "Proxy Authentication Required"
    };
    let text = response(refer, status, reason, "x", site.carrier.ua.addr(), "");
    let text = text.replacen(
        "Content-Length: 0",
        &format!("{header}: {value}\r\nContent-Length: 0"),
        1,
    );
    site.carrier.ua.send(src, &text);
}

#[test]
fn a_challenged_refer_is_sent_again_with_credentials_and_handed_off() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23400 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("auth-refer-{io}"));
        let (first, src) = refer(&site, &a, &b);
        // SHA-256 and MD5 offered: the SHA-256 one is answered.
        let text = response(&first, 401, "Unauthorized", "x", site.carrier.ua.addr(), "");
        let text = text.replacen(
            "Content-Length: 0",
            &format!("WWW-Authenticate: {CHALLENGE}\r\nWWW-Authenticate: {SHA_CHALLENGE}\r\nContent-Length: 0"),
            1,
        );
        site.carrier.ua.send(src, &text);
        let (second, src) = next_refer(&site, &a);
        assert_eq!(
            cseq_number(&second),
            cseq_number(&first) + 1,
            "{io}: CSeq + 1"
        );
        assert_eq!(second.header("call-id"), first.header("call-id"));
        assert_eq!(second.header("from"), first.header("from"));
        assert_eq!(second.header("to"), first.header("to"));
        assert_ne!(
            second.header("via"),
            first.header("via"),
            "{io}: a new branch"
        );
        assert_eq!(second.header("x-carrier-account"), Some("acct-42"), "{io}");
        assert_credentials(io, &second, "authorization", "SHA-256", "beef02");
        site.carrier.ua.send(
            src,
            &response(&second, 202, "Accepted", "x", site.carrier.ua.addr(), ""),
        );
        let accepted = platform_refer_answer(&site, &b.call_id);
        assert_eq!(accepted.status(), Some(202), "{io}: {}", accepted.raw);
        assert!(
            accepted.header("contact").is_some(),
            "{io}: the 202 has no Contact:\n{}",
            accepted.raw
        );
        let notify = refer_notify(
            &a,
            site.carrier.ua.addr(),
            "200 OK",
            "terminated;reason=noresource",
        );
        site.carrier.ua.send(site.sip, &notify);
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "handed_off", "{io}: {record}");
        assert_eq!(record["refer_status"], 202, "{io}: {record}");
        let audit = std::fs::read_to_string(&site.audit).unwrap_or_default();
        assert!(!audit.contains(PASSWORD), "{io}: password in the audit");
        site.stop();
    }
}

#[test]
fn a_second_challenge_to_the_refer_is_a_refusal_and_falls_back() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 23600 + i as u16 * 100);
        let (_, a, b) = call_up(&site, &format!("auth-twice-{io}"));
        let (first, src) = refer(&site, &a, &b);
        challenge(&site, &first, src, 407, "Proxy-Authenticate", CHALLENGE);
        let (second, src) = next_refer(&site, &a);
        assert_credentials(io, &second, "proxy-authorization", "MD5", "cafe01");
        challenge(&site, &second, src, 407, "Proxy-Authenticate", CHALLENGE);
        // No third REFER: the local fallback calls the target instead.
        let (invite, src) = partner_invited(&site, "+442071234567");
        let c = partner_answers(&site, &invite, src);
        let answer = platform_refer_answer(&site, &b.call_id);
        assert_eq!(answer.status(), Some(202), "{io}: {}", answer.raw);
        let _ = platform_answers_until_bye(&site, &b);
        let record = transfer_record(&site);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["refer_status"], 407, "{io}: {record}");
        let ladder = record["diagnostics"].to_string();
        assert!(!ladder.contains(PASSWORD), "{io}: password in the ladder");
        let entries = record["diagnostics"]
            .as_array()
            .or_else(|| record["diagnostics"]["entries"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut refers_out: Vec<String> = entries
            .iter()
            .filter(|e| {
                e["direction"] == "out"
                    && e["start_line"]
                        .as_str()
                        .is_some_and(|l| l.starts_with("REFER "))
            })
            .map(|e| e["headers"]["CSeq"].as_str().unwrap_or_default().to_owned())
            .collect();
        refers_out.dedup();
        assert_eq!(
            refers_out.len(),
            2,
            "{io}: two REFERs to the carrier: {ladder}"
        );
        let shown: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["headers"]["Proxy-Authorization"].as_str())
            .collect();
        assert!(
            !shown.is_empty() && shown.iter().all(|v| v.contains("response=<redacted>")),
            "{io}: ladder credentials not shown redacted: {ladder}"
        );
        // The customer, now with the target, hangs up.
        site.carrier
            .ua
            .send(site.sip, &a.request("BYE", site.carrier.ua.addr(), &[]));
        answers_bye(&site.partner.ua, &c.call_id, "BYE on leg C");
        site.stop();
    }
}
