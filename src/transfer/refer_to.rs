//! The carrier's Refer-To, built from the platform's.
//!
//! Carriers answer 403/603 to a Refer-To that is not E.164 or not in their domain, so handoff
//! rewrites whatever the platform sent (`sip:5559876543@pbx`, `sip:+1 (555) 987-6543@pbx;user=phone`,
//! `tel:+44-20-7946-0000`, `sip:011442079460000@pbx`, national `02079460000` with country 44) into
//! `<sip:+E164@refer_domain>`, with the trunk's `refer_domain` or, when unset, its peer address.
//!
//! An attended transfer's `?Replaces=` URI header is kept, already translated by the caller with
//! [`crate::transfer::dialog_ids::translate`] and passed in %-escaped form, so its escaping reaches
//! the carrier exactly as produced. Other URI headers are the platform's business and are dropped.

use crate::config::Trunk;
use crate::numbering::{E164, NumberError, normalize_e164};
use crate::transfer::dialog_ids::{DialogIdError, Replaces};

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
        let headers = header_text
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
        Ok(PlatformReferTo {
            target: without_headers.to_owned(),
            scheme,
            user,
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
    )
}

/// [`carrier_refer_to`] with the trunk's country code and Refer-To domain given directly.
pub fn carrier_refer_to_at(
    refer_to: &PlatformReferTo,
    country_code: &str,
    domain: &str,
    replaces_escaped: Option<&str>,
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
    if let Some(replaces) = replaces_escaped {
        uri.push_str("?Replaces=");
        uri.push_str(replaces);
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
