//! The Refer-To of a REFER parsed by the SIP layer feeds the transfer pieces directly.

use handoff::sip::{HeaderName, Message};
use handoff::transfer::PlatformReferTo;

#[test]
fn refer_to_header_bytes_from_a_parsed_refer() {
    let refer = b"REFER sip:handoff@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.50;branch=z9hG4bK-1\r\n\
From: <sip:agent@platform.example>;tag=pf1\r\n\
To: <sip:cust@192.0.2.1>;tag=hb1\r\n\
Call-ID: p1call@platform\r\n\
CSeq: 5 REFER\r\n\
Max-Forwards: 70\r\n\
Refer-To: <sip:+1-555-123-0000@platform.example?Replaces=p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2>\r\n\
Content-Length: 0\r\n\r\n";
    let message = Message::parse(refer).expect("valid REFER");
    let raw = message.header(HeaderName::ReferTo).expect("has Refer-To");
    let refer_to = PlatformReferTo::parse_bytes(raw).expect("parses");
    assert_eq!(refer_to.target(), "sip:+1-555-123-0000@platform.example");
    assert_eq!(
        refer_to.replaces_escaped(),
        Some("p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2")
    );
    assert_eq!(
        refer_to.e164("1").map(|n| n.to_string()).ok().as_deref(),
        Some("+15551230000")
    );
}
