//! A datagram is routed to the shard its identifiers name: an in-dialog request by the To tag
//! handoff minted (even when the peer chose the Call-ID), an INVITE with Replaces by the Replaces
//! to-tag (the replaced dialog's shard). Tags are written in handoff's documented shape
//! `hf{shard:04x}{16 hex}` (src/core/ids.rs), so the expectations do not call the minting code.

use handoff::core::ShardId;
use handoff::core::ids::owner_of_datagram;

fn request(first: &str, headers: &str) -> Vec<u8> {
    format!(
        "{first}\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\n{headers}CSeq: 1 X\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn in_dialog_request_goes_to_the_shard_of_its_to_tag() {
    for shard in 0..4u16 {
        let bye = request(
            "BYE sip:h@10.0.0.10 SIP/2.0",
            &format!(
                "From: <sip:a@p>;tag=peer1\r\nTo: <sip:b@h>;tag=hf{shard:04x}000000000000abcd\r\nCall-ID: chosen-by-the-peer@10.0.0.2\r\n"
            ),
        );
        assert_eq!(owner_of_datagram(&bye, 4), ShardId(shard));
    }
}

#[test]
fn invite_with_replaces_goes_to_the_replaced_dialogs_shard() {
    for shard in 0..3u16 {
        let invite = request(
            "INVITE sip:pickup@10.0.0.10 SIP/2.0",
            &format!(
                "From: <sip:a@p>;tag=new1\r\nTo: <sip:pickup@h>\r\nCall-ID: fresh-call@10.0.0.2\r\nReplaces: old@10.0.0.2;to-tag=hf{shard:04x}00000000000000ff;from-tag=p1\r\n"
            ),
        );
        assert_eq!(owner_of_datagram(&invite, 3), ShardId(shard));
    }
}

#[test]
fn a_peer_tag_that_is_not_minted_leaves_the_call_id_hash_in_charge() {
    let a = request(
        "BYE sip:h@10.0.0.10 SIP/2.0",
        "From: <sip:a@p>;tag=x\r\nTo: <sip:b@h>;tag=carrier-tag-1\r\nCall-ID: same@c\r\n",
    );
    let b = request(
        "BYE sip:h@10.0.0.10 SIP/2.0",
        "From: <sip:a@p>;tag=y\r\nTo: <sip:b@h>;tag=carrier-tag-2\r\nCall-ID: same@c\r\n",
    );
    assert_eq!(owner_of_datagram(&a, 4), owner_of_datagram(&b, 4));
}
