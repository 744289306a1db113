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

impl HeaderName {
    /// Classifies a header name as received: case-insensitive, compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            let c = name[0].to_ascii_lowercase();
            for &(kind, _, compact) in TABLE {
                if compact == Some(c) {
                    return kind;
                }
            }
            return HeaderName::Other;
        }
        for &(kind, canonical, _) in TABLE {
            if canonical.len() == name.len() && canonical.as_bytes().eq_ignore_ascii_case(name) {
                return kind;
            }
        }
        HeaderName::Other
    }

    /// The canonical spelling ("Call-ID"); "Other" for unknown headers.
    pub fn as_str(self) -> &'static str {
        TABLE.iter().find(|e| e.0 == self).map_or("Other", |e| e.1)
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
    fn names_match_case_insensitively_and_in_compact_form() {
        assert_eq!(HeaderName::from_bytes(b"cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"r"), HeaderName::ReferTo);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::Contact.compact(), Some('m'));
    }
}
