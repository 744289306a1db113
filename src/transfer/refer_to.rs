//! The carrier's Refer-To, built from the platform's.
//!
//! Carriers answer 403/603 to a Refer-To that is not E.164 or not in their domain, so handoff
//! rewrites whatever the platform sent (`sip:5559876543@pbx`, `sip:+1 (555) 987-6543@pbx;user=phone`,
//! `tel:+44-20-7946-0000`, `sip:011442079460000@pbx`, national `02079460000` with country 44) into
//! `<sip:+E164@refer_domain>`, with the trunk's `refer_domain` or, when unset, its peer address.
//!
//! An attended transfer's `?Replaces=` URI header is kept, already translated by the caller with
//! [`crate::transfer::dialog_ids::translate`] and passed in %-escaped form, so its escaping reaches
//! the carrier exactly as produced.
//!
//! # The other URI headers (RFC 3261 section 19.1.1, RFC 3515 section 2.1, RFC 7433)
//!
//! RFC 3261 section 19.1.1: "Headers: Header fields to be included in a request constructed from
//! the URI." RFC 3515 section 2.1 lets a Refer-To URI carry them, and contact centers put CTI data
//! there: `User-to-User` (RFC 7433, e.g. Avaya/Genesys
//! `User-to-User=00C8..%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui`) and `X-` headers. handoff carries
//! them ([`PlatformReferTo::carried_headers`]): into the carrier's Refer-To (re-escaped) and onto its
//! own INVITE to the target. Headers that would rewrite the request's routing, identity, transaction
//! or body ([`is_forbidden_uri_header`]: Via, Route, Record-Route, Call-ID, CSeq, Contact, From, To,
//! Max-Forwards, Content-*, `body`, credentials, asserted identity, Join, Target-Dialog, Refer-To,
//! Event, Subscription-State) and values
//! whose unescaped text holds a control character (a `%0D%0A` smuggling a header line) make the
//! Refer-To an error: [`ReferToError::ForbiddenHeader`], [`ReferToError::BadHeader`].

use crate::config::Trunk;
use crate::numbering::{E164, NumberError, normalize_e164};
use crate::transfer::dialog_ids::{DialogIdError, Replaces};
use crate::transfer::escape::{escape_hvalue, unescape};

/// Why no carrier Refer-To could be built. All are faults of the REFER's sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferToError {
    #[error("Refer-To is empty")]
    Empty,
    #[error("Refer-To is not valid UTF-8")]
    NotUtf8,
    #[error("Refer-To {value:?} opens '<' without a closing '>'")]
    Unterminated { value: String },
    #[error("Refer-To URI {uri:?} is not a sip:, sips: or tel: URI")]
    UnsupportedScheme { uri: String },
    /// RFC 3261 section 25.1: a URI holds only ASCII (other characters are %-escaped), and no
    /// control characters, `<`, `>` or `"`. (Spaces in a
    /// telephone number's user part are tolerated: platforms send `+1 (555) 987-6543`, and the
    /// number is normalised to E.164 before anything is sent.)
    #[error("Refer-To URI {uri:?} holds a character no URI may contain")]
    NotAUri { uri: String },
    /// A blind transfer needs a telephone number the carrier can route.
    #[error("Refer-To target {target:?} is not a telephone number: {source}")]
    NotANumber {
        target: String,
        #[source]
        source: NumberError,
    },
    #[error("Refer-To carries a malformed Replaces: {0}")]
    BadReplaces(#[from] DialogIdError),
    /// A URI header that could rewrite the request built from the URI (see the module docs).
    #[error("Refer-To URI header {name:?} is not allowed (it could inject into the request)")]
    ForbiddenHeader { name: String },
    /// A URI header whose name is not a token, whose value is not %-escaped UTF-8, or whose
    /// value holds a control character once unescaped.
    #[error("Refer-To URI header {name:?} is malformed: {why}")]
    BadHeader { name: String, why: &'static str },
    /// More than one `?Replaces=` (RFC 3891 section 3 allows one).
    #[error("Refer-To carries more than one Replaces")]
    DuplicateReplaces,
}

/// RFC 3261 section 19.1.5 (Forming Requests from a URI): "An implementation SHOULD NOT honor
/// requests to include header fields that may cause it to falsely advertise its location or
/// capabilities. These include: Accept, Accept-Encoding, Accept-Language, Allow, Contact (in its
/// dialog usage), Organization, Supported, and User-Agent." handoff does not carry them (they
/// are dropped, not refused: they inject nothing). Compact `k` is Supported.
pub fn is_self_description_header(name: &str) -> bool {
    const SELF: &[&str] = &[
        "accept",
        "accept-encoding",
        "accept-language",
        "allow",
        "organization",
        "supported",
        "k",
        "user-agent",
        "server",
    ];
    SELF.contains(&name.to_ascii_lowercase().as_str())
}

/// Header names a Refer-To URI must not carry. RFC 3261 section 19.1.5: "An implementation
/// SHOULD NOT honor these obviously dangerous header fields: From, Call-ID, CSeq, Via, and
/// Record-Route." and "SHOULD NOT honor any requested Route header field values in order to not
/// be used as an unwitting agent in malicious attacks." handoff refuses them (400) rather than
/// drop them silently, with the others that would rewrite the routing (Via, Route,
/// Record-Route, Max-Forwards), the transaction or dialog (Call-ID, CSeq, From, To, Contact), the
/// body (Content-*, `body`), credentials or asserted identity, or join another dialog (Join,
/// Target-Dialog; Replaces is handled and translated on its own). `Require=replaces` beside a
/// Replaces is RFC 5589 section 7.5's own example, and stays. Compact forms included
/// (RFC 3261 section 7.3.3). Case-insensitive.
pub fn is_forbidden_uri_header(name: &str) -> bool {
    const FORBIDDEN: &[&str] = &[
        "via",
        "v",
        "route",
        "record-route",
        "call-id",
        "i",
        "cseq",
        "contact",
        "m",
        "from",
        "f",
        "to",
        "t",
        "max-forwards",
        "c",
        "l",
        "e",
        "body",
        "authorization",
        "proxy-authorization",
        "p-asserted-identity",
        "p-preferred-identity",
        "join",
        "target-dialog",
        "refer-to",
        "r",
        "event",
        "o",
        "subscription-state",
    ];
    let lower = name.to_ascii_lowercase();
    lower.starts_with("content-") || FORBIDDEN.contains(&lower.as_str())
}

/// RFC 3261 `token` characters.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// The name of handoff's own conversation label (see [`crate::transfer::refer_to`] docs and
/// ARCHITECTURE.md, "One conversation across the network").
pub const CONVERSATION_HEADER: &str = "X-Conversation-ID";

/// Whether `value` has the shape of a conversation id handoff mints (`conv-hf` + 20 hex digits):
/// the only values an incoming `X-Conversation-ID` is believed as a label for.
pub fn is_conversation_id(value: &str) -> bool {
    value
        .strip_prefix("conv-hf")
        .is_some_and(|hex| hex.len() == 20 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The platform's Refer-To, split into the parts handoff needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformReferTo {
    /// The URI without its `?headers`, as the platform sent it: the audit record's `target`.
    target: String,
    /// `sip`, `sips` or `tel`, lower-case.
    scheme: String,
    /// The user part as sent (may be %-escaped); `None` when the URI has no `user@`.
    user: Option<String>,
    /// The host of a sip/sips URI (lower-case, without port); `None` for tel.
    host: Option<String>,
    /// The `method=` URI parameter (RFC 3261 section 19.1.1), as sent.
    method: Option<String>,
    /// URI headers, raw (%-escaped) values.
    headers: Vec<(String, String)>,
}

impl PlatformReferTo {
    /// Parses a Refer-To header value: a name-addr (`"Name" <uri>;param`) or a bare addr-spec.
    /// Never panics.
    pub fn parse(value: &str) -> Result<PlatformReferTo, ReferToError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(ReferToError::Empty);
        }
        let uri = match trimmed.find('<') {
            Some(open) => {
                let rest = &trimmed[open + 1..];
                let close = rest.find('>').ok_or_else(|| ReferToError::Unterminated {
                    value: value.to_owned(),
                })?;
                rest[..close].trim()
            }
            None => trimmed,
        };
        if uri
            .chars()
            .any(|c| !c.is_ascii() || c.is_control() || c == '<' || c == '>' || c == '"')
        {
            return Err(ReferToError::NotAUri {
                uri: uri.to_owned(),
            });
        }
        let (without_headers, header_text) = match uri.split_once('?') {
            Some((before, after)) => (before.trim_end(), Some(after)),
            None => (uri, None),
        };
        let (scheme, rest) = without_headers
            .split_once(':')
            .filter(|(scheme, _)| {
                ["sip", "sips", "tel"]
                    .iter()
                    .any(|known| scheme.eq_ignore_ascii_case(known))
            })
            .ok_or_else(|| ReferToError::UnsupportedScheme {
                uri: uri.to_owned(),
            })?;
        let scheme = scheme.to_ascii_lowercase();
        let user = if scheme == "tel" {
            Some(rest.split(';').next().unwrap_or(rest).to_owned())
        } else {
            rest.split_once('@').map(|(userinfo, _)| {
                // user;params:password — the password never names the target.
                userinfo.split(':').next().unwrap_or(userinfo).to_owned()
            })
        };
        let headers: Vec<(String, String)> = header_text
            .map(|text| {
                text.split('&')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| match pair.split_once('=') {
                        Some((name, raw)) => (name.to_owned(), raw.to_owned()),
                        None => (pair.to_owned(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut replaces = 0;
        for (name, raw) in &headers {
            if name.eq_ignore_ascii_case("replaces") {
                replaces += 1;
                continue;
            }
            if !is_token(name) {
                return Err(ReferToError::BadHeader {
                    name: name.clone(),
                    why: "the name is not a token",
                });
            }
            if is_forbidden_uri_header(name) {
                return Err(ReferToError::ForbiddenHeader { name: name.clone() });
            }
            let value = unescape(raw).map_err(|_| ReferToError::BadHeader {
                name: name.clone(),
                why: "the value is not %-escaped UTF-8",
            })?;
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(ReferToError::BadHeader {
                    name: name.clone(),
                    why: "the value holds a control character (CR/LF)",
                });
            }
        }
        if replaces > 1 {
            return Err(ReferToError::DuplicateReplaces);
        }
        // sip: `user;uparams@host:port;params`: the URI parameters follow the host.
        let after_user = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = if scheme == "tel" {
            None
        } else {
            let hostport = after_user.split(';').next().unwrap_or(after_user);
            let host = match hostport.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6),
                None => hostport.split(':').next().unwrap_or(hostport),
            };
            (!host.is_empty()).then(|| host.to_ascii_lowercase())
        };
        let method = after_user
            .split(';')
            .skip(1)
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("method"))
            .map(|(_, value)| value.trim().to_owned());
        Ok(PlatformReferTo {
            target: without_headers.to_owned(),
            scheme,
            user,
            host,
            method,
            headers,
        })
    }

    /// [`PlatformReferTo::parse`] on a raw header value, e.g.
    /// `message.header(HeaderName::ReferTo)` from [`crate::sip`].
    pub fn parse_bytes(value: &[u8]) -> Result<PlatformReferTo, ReferToError> {
        let text = std::str::from_utf8(value).map_err(|_| ReferToError::NotUtf8)?;
        PlatformReferTo::parse(text)
    }

    /// The target URI without `?headers`, exactly as sent.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The user part, %-escapes decoded (`None`: no user, or a bad escape).
    pub fn user(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let user = user.split(';').next().unwrap_or(user);
        unescape(user).ok().filter(|u| !u.is_empty())
    }

    /// The host of a sip/sips URI, lower-case, without port.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The URI's `method=` parameter (RFC 3261 section 19.1.1), as sent.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The URI headers handoff carries to the transfer target, Replaces excepted, handoff's
    /// own `X-Conversation-ID` and the headers that describe the sender
    /// ([`is_self_description_header`]) dropped: (name as sent, unescaped value), in order.
    /// Parsing already refused forbidden or malformed ones.
    pub fn carried_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case("replaces")
                    && !name.eq_ignore_ascii_case(CONVERSATION_HEADER)
                    && !is_self_description_header(name)
            })
            .filter_map(|(name, raw)| Some((name.clone(), unescape(raw).ok()?)))
            .collect()
    }

    /// The raw (%-escaped) value of the `Replaces` URI header, if any.
    pub fn replaces_escaped(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("replaces"))
            .map(|(_, raw)| raw.as_str())
    }

    /// The `Replaces` URI header, decoded and parsed.
    pub fn replaces(&self) -> Option<Result<Replaces, DialogIdError>> {
        self.replaces_escaped().map(Replaces::parse_escaped)
    }

    /// Whether this is an attended transfer (a Replaces names the dialog to replace).
    pub fn is_attended(&self) -> bool {
        self.replaces_escaped().is_some()
    }

    /// The target in E.164, normalised with `country_code`.
    pub fn e164(&self, country_code: &str) -> Result<E164, ReferToError> {
        normalize_e164(&self.target, country_code).map_err(|source| ReferToError::NotANumber {
            target: self.target.clone(),
            source,
        })
    }
}

/// The Refer-To handoff sends to the carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierReferTo {
    /// e.g. `sip:+15559876543@carrier.example` or `sip:+1555..@c.example?Replaces=..`.
    pub uri: String,
    /// The normalised number, when the target is one.
    pub target_e164: Option<E164>,
}

impl CarrierReferTo {
    /// The Refer-To header value: `<uri>`.
    pub fn header_value(&self) -> String {
        format!("<{}>", self.uri)
    }
}

/// The host for Refer-To URIs toward `trunk`: its `refer_domain`, else its peer address (port
/// omitted when it is the SIP default 5060).
pub fn refer_domain(trunk: &Trunk) -> String {
    if let Some(domain) = trunk.refer_domain.as_deref().filter(|d| !d.is_empty()) {
        return domain.to_owned();
    }
    let host = match trunk.peer.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    match trunk.peer.port() {
        5060 => host,
        port => format!("{host}:{port}"),
    }
}

/// Builds the carrier Refer-To for `refer_to` toward `trunk`.
///
/// `replaces_escaped` is the already translated, %-escaped Replaces value to carry (`None` for a
/// blind transfer). With a Replaces, a target that is not a number keeps its user part as sent;
/// without one it is [`ReferToError::NotANumber`].
pub fn carrier_refer_to(
    refer_to: &PlatformReferTo,
    trunk: &Trunk,
    replaces_escaped: Option<&str>,
) -> Result<CarrierReferTo, ReferToError> {
    carrier_refer_to_at(
        refer_to,
        &trunk.country_code,
        &refer_domain(trunk),
        replaces_escaped,
        &[],
    )
}

/// [`carrier_refer_to`] with the trunk's country code and Refer-To domain given directly, and
/// `carried`: URI headers to add after the Replaces, as (name, unescaped value); each value is
/// %-escaped here (RFC 3261 section 25.1 `hvalue`).
pub fn carrier_refer_to_at(
    refer_to: &PlatformReferTo,
    country_code: &str,
    domain: &str,
    replaces_escaped: Option<&str>,
    carried: &[(String, String)],
) -> Result<CarrierReferTo, ReferToError> {
    let (user, target_e164) = match refer_to.e164(country_code) {
        Ok(number) => (Some(number.as_str().to_owned()), Some(number)),
        Err(error) if replaces_escaped.is_none() => return Err(error),
        Err(_) => (refer_to.user.clone().filter(|u| !u.is_empty()), None),
    };
    let mut uri = match user {
        Some(user) => format!("sip:{user}@{domain}"),
        None => format!("sip:{domain}"),
    };
    let mut separator = '?';
    if let Some(replaces) = replaces_escaped {
        uri.push(separator);
        uri.push_str("Replaces=");
        uri.push_str(replaces);
        separator = '&';
    }
    for (name, value) in carried {
        uri.push(separator);
        uri.push_str(name);
        uri.push('=');
        uri.push_str(&escape_hvalue(value));
        separator = '&';
    }
    Ok(CarrierReferTo { uri, target_e164 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_with_display_name_and_params() {
        let parsed =
            PlatformReferTo::parse("\"Desk 4\" <sip:5559876543@pbx.example;user=phone>;x=y")
                .unwrap();
        assert_eq!(parsed.target(), "sip:5559876543@pbx.example;user=phone");
        assert_eq!(parsed.user.as_deref(), Some("5559876543"));
        assert!(!parsed.is_attended());
    }

    #[test]
    fn unterminated_and_foreign_scheme_are_errors() {
        assert!(matches!(
            PlatformReferTo::parse("<sip:1@h"),
            Err(ReferToError::Unterminated { .. })
        ));
        assert!(matches!(
            PlatformReferTo::parse("<mailto:a@b>"),
            Err(ReferToError::UnsupportedScheme { .. })
        ));
        assert_eq!(PlatformReferTo::parse("  "), Err(ReferToError::Empty));
        assert_eq!(
            PlatformReferTo::parse_bytes(b"<sip:\xff@h>"),
            Err(ReferToError::NotUtf8)
        );
    }
}
