//! One conversation across the network (issue 10, real binary, both backends). With
//! `conversation_header = true` on the carrier trunk, the carrier's Refer-To carries
//! `?X-Conversation-ID=<conversation>`; a carrier that builds its INVITE from the Refer-To (RFC
//! 3261 section 19.1.1, "Header fields to be included in a request constructed from the URI")
//! sends it back, and when that call comes through handoff its `call_end` record names the
//! original conversation as `linked_conversation`. A label only: a forged or malformed value
//! joins and touches no call, and a value not shaped like a minted id is not recorded.

mod e2e_targets_support;

use e2e_targets_support::*;
use handoff::demo::agent::Dialog;
use handoff::demo::flows::DID;

fn linking(text: String) -> String {
    text.replace(
        "refer_domain = \"trunk.carrier-a.example\"\n",
        "refer_domain = \"trunk.carrier-a.example\"\nconversation_header = true\n",
    )
}

/// The carrier calls the DID with `X-Conversation-ID: {label}`; the platform answers, and
/// REFERs it to `refer_to` when given (to a name no route takes: 404, on record); the carrier
/// hangs up.
fn carrier_calls_with(e2e: &mut E2e, label: &str, refer_to: Option<&str>) {
    let call_id = e2e.cast[CARRIER]
        .invite(DID, &[("X-Conversation-ID", label)])
        .expect("INVITE");
    let invite = request_at(e2e, PLATFORM, "INVITE");
    let platform = e2e.cast[PLATFORM]
        .answer(&invite, "platform-2")
        .expect("200");
    let ok = e2e
        .cast
        .wait(CARRIER, "200 OK (INVITE)", STEP, |m| {
            m.is_response(200, "INVITE") && m.call_id() == call_id
        })
        .expect("labelled call up");
    if let Some(refer_to) = refer_to {
        e2e.cast
            .wait(PLATFORM, "ACK", STEP, |m| m.is_request("ACK"))
            .expect("ACK");
        let mut call = CallUp {
            a: Dialog::uac(&ok, 1),
            b: platform,
        };
        assert_eq!(platform_refers(e2e, &mut call, refer_to, &[]), 404);
    }
    let mut dialog = Dialog::uac(&ok, 1);
    e2e.cast[CARRIER]
        .request(&mut dialog, "BYE", &[], None)
        .expect("BYE");
    e2e.cast
        .wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))
        .expect("BYE answered");
}

#[test]
fn the_carriers_call_to_the_target_is_linked_to_the_conversation() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut e2e = start_with(io, 37800 + i as u16 * 40, linking);
        let mut call = establish(&mut e2e.cast, "platform-b").expect("call up");
        e2e.cast[PLATFORM]
            .request(
                &mut call.b,
                "REFER",
                &[("Refer-To", "<sip:+15559870000@platform.example>")],
                None,
            )
            .expect("REFER sent");
        let refer = request_at(&mut e2e, CARRIER, "REFER");
        let refer_to = refer.header("Refer-To").unwrap_or_default().to_owned();
        let conversation = refer_to
            .split("?X-Conversation-ID=")
            .nth(1)
            .and_then(|rest| rest.strip_suffix('>'))
            .unwrap_or_else(|| panic!("{io}: no conversation in {refer_to}"))
            .to_owned();
        assert!(conversation.starts_with("conv-hf"), "{refer_to}");
        // The carrier hands off: 202, NOTIFY 200, BYE.
        e2e.cast[CARRIER]
            .respond(&refer, 202, "Accepted", "", None)
            .expect("202");
        e2e.cast
            .wait(PLATFORM, "202 (REFER)", STEP, |m| {
                m.is_response(202, "REFER")
            })
            .expect("platform's REFER accepted");
        e2e.cast[CARRIER]
            .request(
                &mut call.a,
                "NOTIFY",
                &[
                    ("Event", "refer"),
                    ("Subscription-State", "terminated;reason=noresource"),
                ],
                Some(("message/sipfrag", "SIP/2.0 200 OK\r\n")),
            )
            .expect("NOTIFY");
        e2e.cast
            .wait(PLATFORM, "NOTIFY 200", STEP, |m| {
                m.is_request("NOTIFY") && m.sipfrag_status() == Some(200)
            })
            .expect("NOTIFY relayed");
        e2e.cast[CARRIER]
            .request(&mut call.a, "BYE", &[], None)
            .expect("BYE");
        e2e.cast
            .wait(CARRIER, "200 OK (BYE)", STEP, |m| m.is_response(200, "BYE"))
            .expect("BYE answered");
        // Then it calls the target (behind the platform trunk here) with the Refer-To's header
        // copied; and someone forges a label on a third call.
        carrier_calls_with(
            &mut e2e,
            &conversation,
            Some("<sip:nobody@nowhere.example>"),
        );
        carrier_calls_with(&mut e2e, "conv-<script>", None);
        let ends = records(&e2e, "call_end", 3);
        assert_eq!(ends.len(), 3, "{io}: {ends:?}");
        let linked: Vec<&serde_json::Value> = ends
            .iter()
            .filter(|r| r.get("linked_conversation").is_some())
            .collect();
        assert_eq!(linked.len(), 1, "{io}: {ends:?}");
        assert_eq!(linked[0]["linked_conversation"], conversation.as_str());
        assert_ne!(linked[0]["conversation"], conversation.as_str());
        let transfer = records(&e2e, "transfer", 2);
        assert_eq!(transfer.len(), 2, "{transfer:?}");
        assert_eq!(transfer[0]["outcome"], "handed_off", "{transfer:?}");
        assert!(
            transfer[0].get("linked_conversation").is_none(),
            "{transfer:?}"
        );
        // The linked call's own transfer carries the link.
        assert_eq!(
            transfer[1]["linked_conversation"],
            conversation.as_str(),
            "{transfer:?}"
        );
        assert_eq!(
            transfer[0]["conversation"],
            conversation.as_str(),
            "{transfer:?}"
        );
        e2e.stop();
    }
}
