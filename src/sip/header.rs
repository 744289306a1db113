//! Header names: canonical spelling, compact forms (RFC 3261 section 7.3.3 and later RFCs) and
//! case-insensitive lookup.

use std::fmt;

/// A header the SBC knows by name. Unknown headers are `Other` and keep their raw name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    Route,
    RecordRoute,
    MaxForwards,
    ContentType,
    ContentLength,
    ContentEncoding,
    ReferTo,
    ReferredBy,
    Replaces,
    TargetDialog,
    PAssertedIdentity,
    Event,
    AllowEvents,
    SubscriptionState,
    Allow,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    ReferSub,
    SessionExpires,
    MinSE,
    Expires,
    Accept,
    Subject,
    Warning,
    UserAgent,
    Server,
    Reason,
    Other,
}

/// (kind, canonical name, compact form)
const TABLE: &[(HeaderName, &str, Option<u8>)] = &[
    (HeaderName::Via, "Via", Some(b'v')),
    (HeaderName::From, "From", Some(b'f')),
    (HeaderName::To, "To", Some(b't')),
    (HeaderName::CallId, "Call-ID", Some(b'i')),
    (HeaderName::CSeq, "CSeq", None),
    (HeaderName::Contact, "Contact", Some(b'm')),
    (HeaderName::Route, "Route", None),
    (HeaderName::RecordRoute, "Record-Route", None),
    (HeaderName::MaxForwards, "Max-Forwards", None),
    (HeaderName::ContentType, "Content-Type", Some(b'c')),
    (HeaderName::ContentLength, "Content-Length", Some(b'l')),
    (HeaderName::ContentEncoding, "Content-Encoding", Some(b'e')),
    (HeaderName::ReferTo, "Refer-To", Some(b'r')),
    (HeaderName::ReferredBy, "Referred-By", Some(b'b')),
    (HeaderName::Replaces, "Replaces", None),
    (HeaderName::TargetDialog, "Target-Dialog", None),
    (HeaderName::PAssertedIdentity, "P-Asserted-Identity", None),
    (HeaderName::Event, "Event", Some(b'o')),
    (HeaderName::AllowEvents, "Allow-Events", Some(b'u')),
    (HeaderName::SubscriptionState, "Subscription-State", None),
    (HeaderName::Allow, "Allow", None),
    (HeaderName::Supported, "Supported", Some(b'k')),
    (HeaderName::Require, "Require", None),
    (HeaderName::ProxyRequire, "Proxy-Require", None),
    (HeaderName::Unsupported, "Unsupported", None),
    (HeaderName::ReferSub, "Refer-Sub", None),
    (HeaderName::SessionExpires, "Session-Expires", Some(b'x')),
    (HeaderName::MinSE, "Min-SE", None),
    (HeaderName::Expires, "Expires", None),
    (HeaderName::Accept, "Accept", None),
    (HeaderName::Subject, "Subject", Some(b's')),
    (HeaderName::Warning, "Warning", None),
    (HeaderName::UserAgent, "User-Agent", None),
    (HeaderName::Server, "Server", None),
    (HeaderName::Reason, "Reason", None),
];

/// Case-insensitive equality of a canonical name (letters and '-') with a received token.
/// OR-ing 0x20 folds case exactly here: among token bytes only letters map onto letters, and
/// only '-' itself maps onto '-'.
#[inline]
fn token_eq_ignore_case(canonical: &[u8], token: &[u8]) -> bool {
    // A plain loop: names are short, and a vectorised compare costs more in setup.
    if canonical.len() != token.len() {
        return false;
    }
    let mut i = 0;
    while i < token.len() {
        if (canonical[i] | 0x20) != (token[i] | 0x20) {
            return false;
        }
        i += 1;
    }
    true
}

impl HeaderName {
    /// Classifies a header name as received: case-insensitive, compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        let Some(&first) = name.first() else {
            return Other;
        };
        if name.len() == 1 {
            return match first.to_ascii_lowercase() {
                b'v' => Via,
                b'f' => From,
                b't' => To,
                b'i' => CallId,
                b'm' => Contact,
                b'c' => ContentType,
                b'l' => ContentLength,
                b'e' => ContentEncoding,
                b'r' => ReferTo,
                b'b' => ReferredBy,
                b'o' => Event,
                b'u' => AllowEvents,
                b'k' => Supported,
                b'x' => SessionExpires,
                b's' => Subject,
                _ => Other,
            };
        }
        // Few candidates share a length and first letter, so this is one or two comparisons.
        let candidates: &[HeaderName] = match (name.len(), first.to_ascii_lowercase()) {
            (3, b'v') => &[Via],
            (4, b'f') => &[From],
            (2, b't') => &[To],
            (7, b'c') => &[CallId, Contact],
            (4, b'c') => &[CSeq],
            (5, b'r') => &[Route],
            (12, b'r') => &[RecordRoute],
            (12, b'm') => &[MaxForwards],
            (12, b'c') => &[ContentType],
            (14, b'c') => &[ContentLength],
            (16, b'c') => &[ContentEncoding],
            (8, b'r') => &[ReferTo, Replaces],
            (11, b'r') => &[ReferredBy],
            (13, b't') => &[TargetDialog],
            (19, b'p') => &[PAssertedIdentity],
            (5, b'e') => &[Event],
            (12, b'a') => &[AllowEvents],
            (18, b's') => &[SubscriptionState],
            (5, b'a') => &[Allow],
            (9, b's') => &[Supported],
            (7, b'r') => &[Require],
            (13, b'p') => &[ProxyRequire],
            (11, b'u') => &[Unsupported],
            (9, b'r') => &[ReferSub],
            (15, b's') => &[SessionExpires],
            (6, b'm') => &[MinSE],
            (7, b'e') => &[Expires],
            (6, b'a') => &[Accept],
            (7, b's') => &[Subject],
            (7, b'w') => &[Warning],
            (10, b'u') => &[UserAgent],
            (6, b's') => &[Server],
            (6, b'r') => &[Reason],
            _ => &[],
        };
        for &kind in candidates {
            if token_eq_ignore_case(kind.as_str().as_bytes(), name) {
                return kind;
            }
        }
        Other
    }

    /// The canonical spelling ("Call-ID"); "Other" for unknown headers.
    pub fn as_str(self) -> &'static str {
        TABLE.get(self as usize).map_or("Other", |e| e.1)
    }

    /// The compact form, if the header has one ('i' for Call-ID).
    pub fn compact(self) -> Option<char> {
        TABLE
            .iter()
            .find(|e| e.0 == self)
            .and_then(|e| e.2)
            .map(char::from)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line as received. `value` is trimmed; a folded value keeps its CRLF + whitespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
    pub kind: HeaderName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_every_name_round_trips() {
        for (i, &(kind, canonical, compact)) in TABLE.iter().enumerate() {
            assert_eq!(kind as usize, i, "{canonical}");
            assert_eq!(HeaderName::from_bytes(canonical.as_bytes()), kind);
            assert_eq!(
                HeaderName::from_bytes(canonical.to_ascii_uppercase().as_bytes()),
                kind
            );
            if let Some(c) = compact {
                assert_eq!(HeaderName::from_bytes(&[c]), kind);
            }
        }
    }

    #[test]
    fn names_match_case_insensitively_and_in_compact_form() {
        assert_eq!(HeaderName::from_bytes(b"cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"r"), HeaderName::ReferTo);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::Contact.compact(), Some('m'));
    }
}
