//! Issue 10, item 8: the `?headers` of the platform's Refer-To (RFC 3261 section 19.1.1:
//! "Headers: Header fields to be included in a request constructed from the URI"; RFC 3515
//! section 2.1 lets Refer-To carry them) reach the carrier's Refer-To, re-escaped (RFC 3261
//! section 25.1 `hvalue`), after the translated Replaces. User-to-User is RFC 7433's: its value
//! (`00C8..;encoding=hex;purpose=isdn-uui`) travels escaped inside the URI (RFC 7433 section 4.1:
//! "For referral use cases, the header field is included (escaped) within the Refer-To URI").
//! Headers that could
//! inject into the request are refused.

use handoff::transfer::ReferToError;
use handoff::transfer::refer_to::{PlatformReferTo, carrier_refer_to_at};

/// An Avaya-style UUI (RFC 7433 section 4.1 hex encoding, ISDN UUI purpose), as a Genesys or
/// Avaya platform writes it in a Refer-To.
const AVAYA: &str = "<sip:+15559876543@pbx.example?User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui&X-Genesys-CallUUID=01ABCDEF&X-Skill=billing%20tier%202>";

#[test]
fn uui_and_x_headers_are_carried_decoded_and_re_escaped() {
    let parsed = PlatformReferTo::parse(AVAYA).expect("parses");
    assert_eq!(
        parsed.carried_headers(),
        vec![
            (
                "User-to-User".to_owned(),
                "00C8042A0B6D7C00;encoding=hex;purpose=isdn-uui".to_owned()
            ),
            ("X-Genesys-CallUUID".to_owned(), "01ABCDEF".to_owned()),
            ("X-Skill".to_owned(), "billing tier 2".to_owned()),
        ]
    );
    let carrier = carrier_refer_to_at(
        &parsed,
        "1",
        "carrier.example",
        Some("abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2"),
        &parsed.carried_headers(),
    )
    .expect("builds");
    assert_eq!(
        carrier.uri,
        "sip:+15559876543@carrier.example?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2\
         &User-to-User=00C8042A0B6D7C00%3Bencoding%3Dhex%3Bpurpose%3Disdn-uui\
         &X-Genesys-CallUUID=01ABCDEF&X-Skill=billing%20tier%202"
    );
}

#[test]
fn injecting_headers_are_refused() {
    for name in [
        "Via",
        "v",
        "Route",
        "Record-Route",
        "Call-ID",
        "i",
        "CSeq",
        "Contact",
        "m",
        "From",
        "To",
        "Max-Forwards",
        "Content-Type",
        "content-length",
        "l",
        "body",
        "P-Asserted-Identity",
        "Proxy-Authorization",
    ] {
        let value = format!("<sip:+15559876543@pbx.example?{name}=x>");
        assert_eq!(
            PlatformReferTo::parse(&value),
            Err(ReferToError::ForbiddenHeader {
                name: name.to_owned()
            }),
            "{name}"
        );
    }
}

/// A %0D%0A in a value would end the header line and start another one in the INVITE.
#[test]
fn a_value_smuggling_a_line_break_is_refused() {
    for value in [
        "<sip:+15559876543@pbx.example?X-Note=a%0D%0AVia:%20SIP/2.0/UDP%20evil>",
        "<sip:+15559876543@pbx.example?User-to-User=%00>",
        "<sip:+15559876543@pbx.example?X-Bad=%zz>",
        "<sip:+15559876543@pbx.example?X%20Sp=1>",
    ] {
        assert!(
            matches!(
                PlatformReferTo::parse(value),
                Err(ReferToError::BadHeader { .. })
            ),
            "{value}"
        );
    }
    assert_eq!(
        PlatformReferTo::parse("<sip:a@b?Replaces=x%40y%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=z>"),
        Err(ReferToError::DuplicateReplaces)
    );
}

/// handoff's own label is never taken from the platform.
#[test]
fn a_platform_supplied_conversation_label_is_dropped() {
    let parsed = PlatformReferTo::parse("<sip:+15559876543@pbx.example?X-Conversation-ID=conv-x>")
        .expect("parses");
    assert!(parsed.carried_headers().is_empty());
}

/// RFC 3261 section 19.1.1 `method=`, read from the URI parameters after the host (not from a
/// user part's parameters).
#[test]
fn method_parameter_and_host_are_read() {
    let parsed = PlatformReferTo::parse("<sip:2002;isub=7@PBX.local:5070;method=BYE>").unwrap();
    assert_eq!(parsed.method(), Some("BYE"));
    assert_eq!(parsed.host(), Some("pbx.local"));
    assert_eq!(parsed.user().as_deref(), Some("2002"));
    let plain = PlatformReferTo::parse("<sip:2002@[2001:db8::1]>").unwrap();
    assert_eq!((plain.method(), plain.host()), (None, Some("2001:db8::1")));
}

/// RFC 3515 section 2.1's own examples: `Accept-Contact=...&Call-ID%3D55432%40alicepc...` names
/// the new request's Call-ID (its `=` escaped, so the name is no token): refused, as any
/// Call-ID would be; `method=SUBSCRIBE` is read (the call layer answers it 403).
#[test]
fn rfc_3515_section_2_1_examples() {
    let call_id = "<sip:bob@biloxi.example.net?Accept-Contact=sip:bobsdesk.biloxi.example.net&Call-ID%3D55432%40alicepc.atlanta.example.com>";
    assert!(matches!(
        PlatformReferTo::parse(call_id),
        Err(ReferToError::BadHeader { .. })
    ));
    let plain_call_id = "<sip:bob@biloxi.example.net?Call-ID=55432%40alicepc.atlanta.example.com>";
    assert_eq!(
        PlatformReferTo::parse(plain_call_id),
        Err(ReferToError::ForbiddenHeader {
            name: "Call-ID".to_owned()
        })
    );
    let subscribe = PlatformReferTo::parse("<sip:carol@cleveland.example.org;method=SUBSCRIBE>")
        .expect("parses");
    assert_eq!(subscribe.method(), Some("SUBSCRIBE"));
    let replaces = PlatformReferTo::parse(
        "<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
    )
    .expect("parses");
    assert!(replaces.is_attended() && replaces.carried_headers().is_empty());
}

/// RFC 7433 section 4.1: "For referral use cases, the header field is included (escaped) within
/// the Refer-To URI", with its example `?User-to-User=56a390f3d2b7310023a2%3Bencoding%3Dhex%3B
/// purpose%3Dfoo%3Bcontent%3Dbar`, whose triggered INVITE "would contain: User-to-User:
/// 56a390f3d2b7310023a2;encoding=hex;purpose=foo;content=bar". And "A sender MAY include multiple
/// User-to-User header fields": both are carried, in order.
#[test]
fn rfc_7433_example_and_several_uui_fields() {
    let parsed = PlatformReferTo::parse(
        "<sip:+12125551212@gateway.example.com?User-to-User=56a390f3d2b7310023a2%3Bencoding%3Dhex%3Bpurpose%3Dfoo%3Bcontent%3Dbar&User-to-User=00C8%3Bencoding%3Dhex>",
    )
    .expect("parses");
    assert_eq!(
        parsed.carried_headers(),
        vec![
            (
                "User-to-User".to_owned(),
                "56a390f3d2b7310023a2;encoding=hex;purpose=foo;content=bar".to_owned()
            ),
            ("User-to-User".to_owned(), "00C8;encoding=hex".to_owned()),
        ]
    );
    let carrier = carrier_refer_to_at(&parsed, "1", "c.example", None, &parsed.carried_headers())
        .expect("builds");
    assert_eq!(
        carrier.uri,
        "sip:+12125551212@c.example?User-to-User=56a390f3d2b7310023a2%3Bencoding%3Dhex%3Bpurpose%3Dfoo%3Bcontent%3Dbar&User-to-User=00C8%3Bencoding%3Dhex"
    );
}

/// RFC 3261 section 19.1.5: "An implementation SHOULD NOT honor requests to include header
/// fields that may cause it to falsely advertise its location or capabilities. These include:
/// Accept, Accept-Encoding, Accept-Language, Allow, Contact (in its dialog usage), Organization,
/// Supported, and User-Agent." Dropped (Contact is refused with the dangerous ones).
#[test]
fn headers_describing_the_sender_are_not_carried() {
    let parsed = PlatformReferTo::parse(
        "<sip:+15559876543@pbx.example?Allow=INVITE&Supported=100rel&User-Agent=x&Accept=a%2Fb&Organization=o&X-Keep=1>",
    )
    .expect("parses");
    assert_eq!(
        parsed.carried_headers(),
        vec![("X-Keep".to_owned(), "1".to_owned())]
    );
}
