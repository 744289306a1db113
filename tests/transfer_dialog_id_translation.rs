//! Dialog identifiers are rewritten to the other side of the B2BUA, seen from the receiver:
//! golden before/after strings for Replaces (header and inside a Refer-To URI) and
//! Target-Dialog, both written from the recipient's point of view (RFC 3891 section 3,
//! RFC 4538 section 3). Unknown dialogs pass unchanged.
//!
//! The setup (issue 5, attended transfer). Call 2: the platform placed B2 to handoff (platform is
//! UAC: From tag pf2, To tag hb2, Call-ID p2call@platform); handoff placed A2 to the carrier
//! (handoff is UAC: Call-ID ha2@handoff, From tag ha2tag, To tag cx2). Call 1: B1 is
//! p1call@platform (From pf1 = platform, To hb1 = handoff), A1 is c1call@carrier (the carrier
//! was UAC: From cx1, To ha1 = handoff).

use handoff::transfer::dialog_ids::{
    DialogId, DialogIdForm, TargetDialog, target_dialog_beside_replaces, translate,
};

/// handoff's view of its legs (local = handoff's tag) and what each is bridged to.
fn bridged(seen: &DialogId) -> Option<DialogId> {
    let b2 = DialogId::new("p2call@platform", "hb2", "pf2");
    let a2 = DialogId::new("ha2@handoff", "ha2tag", "cx2");
    let b1 = DialogId::new("p1call@platform", "hb1", "pf1");
    let a1 = DialogId::new("c1call@carrier", "ha1", "cx1");
    [(&b2, &a2), (&a2, &b2), (&b1, &a1), (&a1, &b1)]
        .into_iter()
        .find(|(from, _)| *from == seen)
        .map(|(_, to)| to.clone())
}

#[test]
fn replaces_in_the_refer_to_names_a2_for_the_carrier() {
    // The platform addresses the eventual INVITE's receiver (handoff): to-tag = hb2 (handoff's).
    let before = "p2call%40platform%3Bto-tag%3Dhb2%3Bfrom-tag%3Dpf2";
    // The receiver is now the carrier end of A2: to-tag = cx2 (the carrier's), from-tag = ours.
    let after = "ha2%40handoff%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2tag";
    assert_eq!(
        translate(DialogIdForm::ReplacesInUri, before, bridged),
        after
    );
}

#[test]
fn replaces_header_on_an_invite_from_the_carrier_names_b2_for_the_platform() {
    // The carrier INVITEs handoff replacing A2: to-tag = handoff's tag on A2.
    let before = "ha2@handoff;to-tag=ha2tag;from-tag=cx2;early-only";
    // Toward the platform, the receiver's (platform's) tag pf2 becomes the to-tag.
    let after = "p2call@platform;to-tag=pf2;from-tag=hb2;early-only";
    assert_eq!(
        translate(DialogIdForm::ReplacesHeader, before, bridged),
        after
    );
}

/// RFC 4538 section 3: "The "remote-tag" header field parameter MUST be present and MUST
/// contain the tag that would be viewed as the remote tag from the perspective of the recipient
/// of the new request. The "local-tag" header field parameter MUST be present and MUST contain
/// the tag that would be viewed as the local tag from the perspective of the recipient of the
/// new request."
#[test]
fn target_dialog_is_rewritten_from_the_recipients_point_of_view() {
    // The platform sends on B1 to handoff: local-tag = the recipient's (handoff's) hb1,
    // remote-tag = the platform's own pf1.
    let before = "p1call@platform;local-tag=hb1;remote-tag=pf1";
    // handoff sends on A1 to the carrier: local-tag = the recipient's (carrier's) cx1,
    // remote-tag = handoff's ha1.
    let after = "c1call@carrier;local-tag=cx1;remote-tag=ha1";
    assert_eq!(
        translate(DialogIdForm::TargetDialogHeader, before, bridged),
        after
    );
    // Extra parameters ride along (td-param = ... / generic-param, RFC 4538 section 7).
    assert_eq!(
        translate(
            DialogIdForm::TargetDialogHeader,
            "p1call@platform;remote-tag=pf1;local-tag=hb1;x=1",
            bridged
        ),
        "c1call@carrier;local-tag=cx1;remote-tag=ha1;x=1"
    );
}

#[test]
fn unknown_or_malformed_values_pass_unchanged() {
    for (form, value) in [
        (
            DialogIdForm::ReplacesInUri,
            "zzz%40nowhere%3bto-tag%3dq%3Bfrom-tag%3Dr",
        ),
        (DialogIdForm::ReplacesInUri, "broken%4"),
        // Tags in the wrong orientation name no dialog of ours.
        (
            DialogIdForm::ReplacesHeader,
            "p2call@platform;to-tag=pf2;from-tag=hb2",
        ),
        (DialogIdForm::ReplacesHeader, "p2call@platform;to-tag=hb2"),
        // The sender's own tag as local-tag: not the recipient's view (RFC 4538 section 4:
        // identifiers that don't match "MUST be ignored").
        (
            DialogIdForm::TargetDialogHeader,
            "p1call@platform;local-tag=pf1;remote-tag=hb1",
        ),
    ] {
        let out = translate(form, value, bridged);
        assert!(matches!(out, std::borrow::Cow::Borrowed(_)), "{value}");
        assert_eq!(out, value);
    }
}

#[test]
fn two_step_translation_for_a_bridged_leg_on_another_shard() {
    use handoff::core::ShardId;
    use handoff::core::ids::IdMinter;
    use handoff::transfer::dialog_ids::{named_dialog, rewrite_for};

    // handoff's shard 3 answered B2, so its To tag on B2 carries shard 3.
    let handoff_tag = IdMinter::new(ShardId(3), 7).tag();
    let value = format!("p2call%40platform%3Bto-tag%3D{handoff_tag}%3Bfrom-tag%3Dpf2");
    let named = named_dialog(DialogIdForm::ReplacesInUri, &value).expect("parses");
    assert_eq!(named, DialogId::new("p2call@platform", &handoff_tag, "pf2"));
    assert_eq!(named.owning_shard(4), ShardId(3));
    // ...shard 3 answers with A2; the asking shard rewrites.
    let a2 = DialogId::new("ha2@handoff", "ha2tag", "cx2");
    assert_eq!(
        rewrite_for(DialogIdForm::ReplacesInUri, &value, &a2).as_deref(),
        Some("ha2%40handoff%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2tag")
    );
    // A dialog with no handoff-minted identifier is owned by its Call-ID's 64-bit FNV-1a hash
    // modulo the shard count (ARCHITECTURE.md, "Data flow of a call"). The values below were
    // computed outside handoff with the published FNV-1a parameters (offset basis
    // 0xcbf29ce484222325, prime 0x100000001b3; the same parameters give the reference value
    // 0xaf63dc4c8601ec8c for "a"):
    //   fnv1a("carrier-call-1") = 0xbdb21de4492e3e94 -> % 4 = 0, % 3 = 2
    //   fnv1a("carrier-call-2") = 0xbdb220e4492e43ad -> % 4 = 1
    //   fnv1a("carrier-call-3") = 0xbdb21fe4492e41fa -> % 4 = 2, % 3 = 1
    for (call_id, shards, owner) in [
        ("carrier-call-1", 4, 0),
        ("carrier-call-2", 4, 1),
        ("carrier-call-3", 4, 2),
        ("carrier-call-1", 3, 2),
        ("carrier-call-3", 3, 1),
    ] {
        let foreign = DialogId::new(call_id, "x", "y");
        assert_eq!(
            foreign.owning_shard(shards),
            ShardId(owner),
            "{call_id} on {shards} shards"
        );
    }
    // A minted tag naming a shard that no longer exists (restart with fewer shards) falls back
    // to the Call-ID hash: shard 3 of 3 does not exist, carrier-call-1 % 3 = 2.
    let stale = DialogId::new("carrier-call-1", &handoff_tag, "pf2");
    assert_eq!(stale.owning_shard(3), ShardId(2));
}

/// RFC 4538 section 10, the example's REFER (message 8), sent to the caller, whose tag in the
/// dialog is `kkaz-` (message 1: `From: Caller <sip:A@example.com>;tag=kkaz-`) and the callee's
/// `6544` (message 5): "Target-Dialog: fa77as7dad8-sd98ajzz@host.example.com ;local-tag=kkaz-
/// ;remote-tag=6544". The recipient (the caller) reads local-tag as its own tag: that is the
/// dialog as it sees it. Folded as the RFC prints it, unfolded as a parser hands it over.
#[test]
fn rfc4538_section_10_names_the_dialog_as_its_recipient_sees_it() {
    for value in [
        "fa77as7dad8-sd98ajzz@host.example.com;local-tag=kkaz-;remote-tag=6544",
        "fa77as7dad8-sd98ajzz@host.example.com\r\n     ;local-tag=kkaz-\r\n     ;remote-tag=6544",
        "fa77as7dad8-sd98ajzz@host.example.com ;local-tag=kkaz- ;remote-tag=6544",
    ] {
        let parsed = TargetDialog::parse(value).expect(value);
        assert_eq!(
            parsed.receiver_view(),
            DialogId::new("fa77as7dad8-sd98ajzz@host.example.com", "kkaz-", "6544"),
            "{value:?}"
        );
    }
    // handoff in the caller's place, that dialog one of its legs bridged to another: the value
    // is recognised and rewritten for the far end of the other leg, as that far end sees it.
    let caller_leg = DialogId::new("fa77as7dad8-sd98ajzz@host.example.com", "kkaz-", "6544");
    let other = DialogId::new(
        "hf0001-0123456789abcdef@sbc",
        "hf0001aaaaaaaaaaaaaaaa",
        "far",
    );
    let lookup = |seen: &DialogId| (seen == &caller_leg).then(|| other.clone());
    assert_eq!(
        translate(
            DialogIdForm::TargetDialogHeader,
            "fa77as7dad8-sd98ajzz@host.example.com;local-tag=kkaz-;remote-tag=6544",
            lookup
        ),
        "hf0001-0123456789abcdef@sbc;local-tag=far;remote-tag=hf0001aaaaaaaaaaaaaaaa"
    );
    // The sender's view (local-tag = the REFER sender's tag) names no dialog of the recipient's.
    let sender_view = "fa77as7dad8-sd98ajzz@host.example.com;local-tag=6544;remote-tag=kkaz-";
    assert_eq!(
        translate(DialogIdForm::TargetDialogHeader, sender_view, lookup),
        sender_view
    );
}

/// RFC 5589 section 6.1: F1 is the transferee's INVITE (`From: ...;tag=7553452`), F2 the
/// transferor's 200 (`To: ...;tag=31kdl4i3k`), and F3, the transferor's REFER to the transferee
/// outside the dialog, carries "Target-Dialog: 090459243588173445;local-tag=7553452
/// ;remote-tag=31kdl4i3k": local-tag is the recipient's (the transferee's) tag.
#[test]
fn rfc5589_section_6_1_f3_names_dialog_1_as_the_transferee_sees_it() {
    let parsed =
        TargetDialog::parse("090459243588173445;local-tag=7553452\r\n ;remote-tag=31kdl4i3k")
            .expect("F3's Target-Dialog");
    assert_eq!(
        parsed.receiver_view(),
        DialogId::new("090459243588173445", "7553452", "31kdl4i3k")
    );
}

/// handoff's own Target-Dialog on its REFER to the carrier (in A1): only beside a Replaces
/// naming another dialog (RFC 5589 section 7.3's REFER carries Target-Dialog and a Replaces
/// naming another dialog), and then naming A1 as the carrier sees it (RFC 4538 section 3:
/// local-tag = the recipient's, the carrier's, tag).
#[test]
fn handoffs_target_dialog_only_beside_a_replaces_naming_another_dialog() {
    // A1 in handoff's view: Call-ID c1call@carrier, handoff's tag ha1, the carrier's cx1.
    let a1 = DialogId::new("c1call@carrier", "ha1", "cx1");
    // The Replaces for the carrier names A2 (to-tag = the carrier's own tag cx2).
    assert_eq!(
        target_dialog_beside_replaces(&a1, "ha2%40handoff%3Bto-tag%3Dcx2%3Bfrom-tag%3Dha2tag")
            .as_deref(),
        Some("c1call@carrier;local-tag=cx1;remote-tag=ha1")
    );
    // A Replaces naming A1 itself: the REFER is in that dialog already, nothing to add.
    assert_eq!(
        target_dialog_beside_replaces(&a1, "c1call%40carrier%3Bto-tag%3Dcx1%3Bfrom-tag%3Dha1"),
        None
    );
}
