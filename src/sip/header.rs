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

/// Eight bytes of `s` from `i` as one word (the caller guarantees `i + 8 <= s.len()`).
#[inline(always)]
fn word8(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn word4(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(w)
}

/// Case-insensitive equality of a lower-case canonical name (letters and '-') with a received
/// token of the same length. OR-ing 0x20 folds case exactly here: among token bytes only
/// letters map onto letters, and only '-' itself maps onto '-'. Compares whole words (the
/// first and last 8 or 4 bytes overlap for odd lengths) instead of byte by byte.
#[inline(always)]
fn token_eq_ignore_case(lower: &[u8], token: &[u8]) -> bool {
    let n = token.len();
    if lower.len() != n {
        return false;
    }
    const FOLD8: u64 = 0x2020_2020_2020_2020;
    const FOLD4: u32 = 0x2020_2020;
    if n >= 8 {
        let mut ok = (word8(token, 0) | FOLD8) == word8(lower, 0)
            && (word8(token, n - 8) | FOLD8) == word8(lower, n - 8);
        if n > 16 {
            ok = ok && (word8(token, 8) | FOLD8) == word8(lower, 8);
        }
        ok
    } else if n >= 4 {
        (word4(token, 0) | FOLD4) == word4(lower, 0)
            && (word4(token, n - 4) | FOLD4) == word4(lower, n - 4)
    } else {
        token.iter().zip(lower).all(|(&t, &l)| (t | 0x20) == l)
    }
}

/// The lower-case spelling of a named header, for matching.
#[inline(always)]
const fn lower_name(kind: HeaderName) -> &'static [u8] {
    use HeaderName::*;
    match kind {
        Via => b"via",
        From => b"from",
        To => b"to",
        CallId => b"call-id",
        CSeq => b"cseq",
        Contact => b"contact",
        Route => b"route",
        RecordRoute => b"record-route",
        MaxForwards => b"max-forwards",
        ContentType => b"content-type",
        ContentLength => b"content-length",
        ContentEncoding => b"content-encoding",
        ReferTo => b"refer-to",
        ReferredBy => b"referred-by",
        Replaces => b"replaces",
        TargetDialog => b"target-dialog",
        PAssertedIdentity => b"p-asserted-identity",
        Event => b"event",
        AllowEvents => b"allow-events",
        SubscriptionState => b"subscription-state",
        Allow => b"allow",
        Supported => b"supported",
        Require => b"require",
        ProxyRequire => b"proxy-require",
        Unsupported => b"unsupported",
        ReferSub => b"refer-sub",
        SessionExpires => b"session-expires",
        MinSE => b"min-se",
        Expires => b"expires",
        Accept => b"accept",
        Subject => b"subject",
        Warning => b"warning",
        UserAgent => b"user-agent",
        Server => b"server",
        Reason => b"reason",
        Other => b"",
    }
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
        // Few candidates share a length and first letter, so this is one or two comparisons,
        // each of constant length (a word or two).
        let is = |kind: HeaderName| token_eq_ignore_case(lower_name(kind), name);
        match (name.len(), first | 0x20) {
            (3, b'v') if is(Via) => Via,
            (4, b'f') if is(From) => From,
            (2, b't') if is(To) => To,
            (7, b'c') if is(CallId) => CallId,
            (7, b'c') if is(Contact) => Contact,
            (4, b'c') if is(CSeq) => CSeq,
            (5, b'r') if is(Route) => Route,
            (12, b'r') if is(RecordRoute) => RecordRoute,
            (12, b'm') if is(MaxForwards) => MaxForwards,
            (12, b'c') if is(ContentType) => ContentType,
            (14, b'c') if is(ContentLength) => ContentLength,
            (16, b'c') if is(ContentEncoding) => ContentEncoding,
            (8, b'r') if is(ReferTo) => ReferTo,
            (8, b'r') if is(Replaces) => Replaces,
            (11, b'r') if is(ReferredBy) => ReferredBy,
            (13, b't') if is(TargetDialog) => TargetDialog,
            (19, b'p') if is(PAssertedIdentity) => PAssertedIdentity,
            (5, b'e') if is(Event) => Event,
            (12, b'a') if is(AllowEvents) => AllowEvents,
            (18, b's') if is(SubscriptionState) => SubscriptionState,
            (5, b'a') if is(Allow) => Allow,
            (9, b's') if is(Supported) => Supported,
            (7, b'r') if is(Require) => Require,
            (13, b'p') if is(ProxyRequire) => ProxyRequire,
            (11, b'u') if is(Unsupported) => Unsupported,
            (9, b'r') if is(ReferSub) => ReferSub,
            (15, b's') if is(SessionExpires) => SessionExpires,
            (6, b'm') if is(MinSE) => MinSE,
            (7, b'e') if is(Expires) => Expires,
            (6, b'a') if is(Accept) => Accept,
            (7, b's') if is(Subject) => Subject,
            (7, b'w') if is(Warning) => Warning,
            (10, b'u') if is(UserAgent) => UserAgent,
            (6, b's') if is(Server) => Server,
            (6, b'r') if is(Reason) => Reason,
            _ => Other,
        }
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
            assert_eq!(lower_name(kind), canonical.to_ascii_lowercase().as_bytes());
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
