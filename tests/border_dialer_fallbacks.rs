//! Against the real binary, both backends, 2 shards: the dialer flows of
//! `src/sim/dialer_flows.rs` other than the plain handoff (`border_dialer_refer`). The platform
//! calls a customer out through the carrier (so the customer's leg is handoff's leg B), the
//! agent REFERs the call with a target in the US international dialling form, and what differs
//! is what the carrier and the target answer, or the carrier trunk's transfer settings. The
//! carrier, the platform and the partner (the target's trunk) are raw `sipwire` agents.

mod border_support;
mod runtime_support;

use std::net::SocketAddr;
use std::time::Duration;

use border_support::{
    DialledCall, IDENTITY, Leg, REFERRED_BY, SiteOptions, TransferSite, assert_status,
    customer_and_partner_hear_each_other, customer_ends_bridged_call, hangs_up, is_request,
    notifies_until, partner_answers, partner_invited, platform_dials, platform_hangs_up,
    platform_refer_answer, transfer_record, transfer_site,
};
use runtime_support::BACKENDS;
use runtime_support::call::WAIT;
use runtime_support::ua::response;

const CUSTOMER: &str = "+15557654321";
/// The agent's target in the US international dialling form (011 + 44 ...), not E.164.
const REFER_TO: &str = "<sip:011442071234567@platform.example>";
const TARGET_E164: &str = "+442071234567";

fn site(io: &'static str, media: u16, transfer: &str) -> TransferSite {
    transfer_site(
        io,
        &SiteOptions {
            media,
            drain_s: 30,
            carrier: &[
                transfer,
                "headers = { \"X-Carrier-Account\" = \"acct-42\" }",
            ],
            partner_codecs: "[\"PCMU\"]",
        },
    )
}

/// The platform dials [`CUSTOMER`]; the carrier answers; both ACKs arrive.
fn dialer_call(site: &TransferSite, call_id: &str) -> DialledCall {
    platform_dials(
        site,
        CUSTOMER,
        call_id,
        ("ptag", "ctag"),
        site.carrier.rtp_port(),
    )
}

/// The agent REFERs the customer to the target.
fn agent_refers(site: &TransferSite, call: &DialledCall) {
    let refer = call.platform.request(
        "REFER",
        site.platform.ua.addr(),
        &[
            format!("Refer-To: {REFER_TO}"),
            format!("Referred-By: {REFERRED_BY}"),
            format!("P-Asserted-Identity: {IDENTITY}"),
        ],
    );
    site.platform.ua.send(site.sip, &refer);
}

/// The carrier gets the REFER in its own dialog, the target in E.164 at its own host, and
/// answers `status`.
fn carrier_answers_refer(site: &TransferSite, call: &DialledCall, status: u16, reason: &str) {
    let io = site.io;
    let (refer, src) = site
        .carrier
        .ua
        .expect(&format!("{io}: REFER at the carrier"), WAIT, |m| {
            is_request(m, "REFER", &call.carrier.call_id)
        });
    assert_eq!(
        refer.header("refer-to"),
        Some(format!("<sip:{TARGET_E164}@{}>", site.carrier.ua.addr()).as_str()),
        "{io}"
    );
    assert_eq!(refer.header("referred-by"), Some(REFERRED_BY), "{io}");
    assert_eq!(refer.header("p-asserted-identity"), Some(IDENTITY), "{io}");
    // The carrier trunk's `headers` go on every REFER toward it.
    assert_eq!(refer.header("x-carrier-account"), Some("acct-42"), "{io}");
    site.carrier.ua.send(
        src,
        &response(&refer, status, reason, "ctag", site.carrier.ua.addr(), ""),
    );
}

/// The record's target fields: the agent's target as sent, and in E.164.
fn assert_targets(record: &serde_json::Value, io: &str) {
    assert_eq!(record["trunk"], "carrier", "{io}: {record}");
    assert_eq!(record["kind"], "blind", "{io}: {record}");
    assert_eq!(
        record["target"], "sip:011442071234567@platform.example",
        "{io}: {record}"
    );
    assert_eq!(record["target_e164"], TARGET_E164, "{io}: {record}");
}

/// The customer is still with the agent: the platform's BYE reaches the carrier.
fn agent_hangs_up(site: &TransferSite, call: &DialledCall) {
    platform_hangs_up(site, &call.carrier, &call.platform);
}

/// After leg C is up: the platform hears 200 and leaves; the customer and the partner hear each
/// other; the customer's BYE reaches the partner.
fn bridged_then_customer_hangs_up(
    site: &TransferSite,
    call: &DialledCall,
    c: &Leg,
    leg_c_port: SocketAddr,
) {
    let io = site.io;
    let (_, seen) = notifies_until(&site.platform.ua, 200, WAIT);
    assert!(!seen.iter().any(|s| *s >= 300), "{io}: NOTIFYs {seen:?}");
    hangs_up(
        site,
        &site.platform.ua,
        &call.platform,
        "answer to the agent's BYE",
    );
    site.carrier
        .ua
        .expect_none(Duration::from_millis(100), |m| {
            is_request(m, "BYE", &call.carrier.call_id)
        });

    customer_and_partner_hear_each_other(site, call.handoff_rtp_for_carrier, leg_c_port);
    customer_ends_bridged_call(site, &call.carrier, c);
}

/// The carrier refuses the dialer call's REFER (403): handoff calls the target itself (leg C,
/// the E.164 number), bridges it to the customer, tells the platform 200; the customer and the
/// partner hear each other until the customer hangs up.
#[test]
fn dialer_refer_rejected_falls_back_to_a_local_transfer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 20000 + i as u16 * 100, "on_refer_failure = \"local\"");
        let call = dialer_call(&site, &format!("dialer-403-{io}"));
        agent_refers(&site, &call);
        carrier_answers_refer(&site, &call, 403, "Forbidden");
        let accepted = platform_refer_answer(&site, &call.platform.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET_E164);
        let leg_c_port = invite.sdp_audio().expect("SDP offer on leg C");
        let c = partner_answers(&site, &invite, src);
        bridged_then_customer_hangs_up(&site, &call, &c, leg_c_port);
        let record = transfer_record(&site);
        assert_targets(&record, io);
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        assert_eq!(record["fallback_status"], 200, "{io}: {record}");
        assert_eq!(record["reason"], "refer_rejected", "{io}: {record}");
        site.stop();
    }
}

/// `on_refer_failure = "reject"`: the platform gets the carrier's 603 as it is, the target is
/// never called, and the customer stays with the agent.
#[test]
fn dialer_reject_mode_relays_the_carriers_refusal() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 20200 + i as u16 * 100, "on_refer_failure = \"reject\"");
        let call = dialer_call(&site, &format!("dialer-reject-{io}"));
        agent_refers(&site, &call);
        carrier_answers_refer(&site, &call, 603, "Decline");
        let refused = platform_refer_answer(&site, &call.platform.call_id);
        assert_status(io, &refused, 603);
        let record = transfer_record(&site);
        assert_targets(&record, io);
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["refer_status"], 603, "{io}: {record}");
        assert_eq!(record["reason"], "refer_rejected", "{io}: {record}");
        site.partner
            .ua
            .expect_none(Duration::from_millis(200), |m| m.method() == Some("INVITE"));
        agent_hangs_up(&site, &call);
        site.stop();
    }
}

/// `transfer = "local"`: no REFER reaches the carrier; handoff calls the target itself and
/// bridges it to the customer.
#[test]
fn dialer_local_mode_calls_the_target_without_a_refer() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 20400 + i as u16 * 100, "transfer = \"local\"");
        let call = dialer_call(&site, &format!("dialer-local-{io}"));
        agent_refers(&site, &call);
        let accepted = platform_refer_answer(&site, &call.platform.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET_E164);
        let leg_c_port = invite.sdp_audio().expect("SDP offer on leg C");
        let c = partner_answers(&site, &invite, src);
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| m.method() == Some("REFER"));
        bridged_then_customer_hangs_up(&site, &call, &c, leg_c_port);
        let record = transfer_record(&site);
        assert_targets(&record, io);
        assert_eq!(record["method"], "local", "{io}: {record}");
        assert_eq!(record["outcome"], "fallback_local", "{io}: {record}");
        assert_eq!(
            record["refer_status"],
            serde_json::Value::Null,
            "{io}: {record}"
        );
        assert_eq!(record["fallback_status"], 200, "{io}: {record}");
        assert_eq!(record["reason"], "local_method", "{io}: {record}");
        site.stop();
    }
}

/// The carrier refuses (403), the target is busy (486): the platform hears 486 by NOTIFY and
/// keeps its customer.
#[test]
fn dialer_fallback_to_a_busy_target_keeps_the_customer_with_the_agent() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let site = site(io, 20600 + i as u16 * 100, "on_refer_failure = \"local\"");
        let call = dialer_call(&site, &format!("dialer-busy-{io}"));
        agent_refers(&site, &call);
        carrier_answers_refer(&site, &call, 403, "Forbidden");
        let accepted = platform_refer_answer(&site, &call.platform.call_id);
        assert_status(io, &accepted, 202);
        let (invite, src) = partner_invited(&site, TARGET_E164);
        site.partner.ua.send(
            src,
            &response(
                &invite,
                486,
                "Busy Here",
                "ctag",
                site.partner.ua.addr(),
                "",
            ),
        );
        let leg_c = invite.header("call-id").expect("Call-ID on leg C");
        // RFC 3261 section 17.1.1.3: the client transaction ACKs a non-2xx final response.
        site.partner
            .ua
            .expect(&format!("{io}: ACK of the 486"), WAIT, |m| {
                is_request(m, "ACK", leg_c)
            });
        let (_, seen) = notifies_until(&site.platform.ua, 486, WAIT);
        assert!(!seen.contains(&200), "{io}: NOTIFYs {seen:?}");
        let record = transfer_record(&site);
        assert_targets(&record, io);
        assert_eq!(record["outcome"], "failed", "{io}: {record}");
        assert_eq!(record["refer_status"], 403, "{io}: {record}");
        assert_eq!(record["fallback_status"], 486, "{io}: {record}");
        assert_eq!(record["reason"], "fallback_failed", "{io}: {record}");
        site.carrier
            .ua
            .expect_none(Duration::from_millis(100), |m| {
                is_request(m, "BYE", &call.carrier.call_id)
            });
        agent_hangs_up(&site, &call);
        site.stop();
    }
}
