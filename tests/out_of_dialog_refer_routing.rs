//! An out-of-dialog REFER (RFC 5589 section 6.1) belongs to the shard holding the dialog its
//! Target-Dialog names: `owner_of_datagram` reads the `local-tag` (the recipient's, handoff's,
//! tag by RFC 4538 section 3), also when the header is folded as RFC 4538 section 10 and RFC
//! 5589 section 6.1 print it (local-tag on either line). A REFER in a dialog (To tag) and a
//! local-tag handoff did not mint keep the usual rules.

use handoff::core::ShardId;
use handoff::core::ids::{IdMinter, owner_of_datagram, shard_for_call_id};

fn refer(to_tag: Option<&str>, target_dialog: &str) -> Vec<u8> {
    let to = match to_tag {
        Some(tag) => format!("<sip:sbc@10.0.0.10>;tag={tag}"),
        None => "<sip:sbc@10.0.0.10>".to_owned(),
    };
    format!(
        "REFER sip:sbc@10.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKna9\r\n\
         To: {to}\r\nFrom: <sip:transferor@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710\r\nCSeq: 314159 REFER\r\nRequire: tdialog\r\n\
         Target-Dialog: {target_dialog}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn out_of_dialog_refer_goes_to_the_shard_of_its_target_dialog() {
    let tag = IdMinter::new(ShardId(5), 9).tag();
    let hashed = shard_for_call_id("a84b4c76e66710", 8);
    assert_ne!(hashed, ShardId(5), "the test needs the hash to differ");
    for value in [
        format!("090459243588173445;local-tag={tag};remote-tag=31kdl4i3k"),
        format!("090459243588173445;local-tag={tag}\r\n ;remote-tag=31kdl4i3k"),
        format!("090459243588173445\r\n  ;local-tag={tag}\r\n  ;remote-tag=6544"),
        format!("090459243588173445;remote-tag=31kdl4i3k;LOCAL-TAG = {tag}"),
    ] {
        assert_eq!(
            owner_of_datagram(&refer(None, &value), 8),
            ShardId(5),
            "{value:?}"
        );
    }
    // Not minted by handoff: the Call-ID hash, as for any request.
    let foreign = "090459243588173445;local-tag=7553452;remote-tag=31kdl4i3k";
    assert_eq!(owner_of_datagram(&refer(None, foreign), 8), hashed);
    // In a dialog: the To tag decides (here not minted: the Call-ID hash), not Target-Dialog.
    let value = format!("090459243588173445;local-tag={tag};remote-tag=31kdl4i3k");
    assert_eq!(owner_of_datagram(&refer(Some("theirs"), &value), 8), hashed);
}
