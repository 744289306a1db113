//! What handoff sends to trunks (issue 10 items 9, 11 and 12): digest authentication toward
//! trunks (RFC 3261 section 22, RFC 8760), the trunk's `headers` on every INVITE, re-INVITE and
//! REFER, handoff's own Allow/Supported and the 202's Contact, CRLF keep-alives. Swept by
//! tests/sim_trunkreq_seed_sweep.rs under loss, duplication and reordering.
//!
//! The digest answers are checked by computing them here from RFC 7616 section 3.4.1 with the
//! hash crates directly, never with handoff's `sip::digest` (the agent and the flows share no
//! code with what they test).

use std::sync::Arc;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::scenarios::{FlowResult, PLATFORM_NUMBER, STEP_MS, establish, resources_released};
use super::transfer_flows::{
    TARGET, call_and_refer, carrier_config, carrier_hangs_up, carrier_notifies,
    carrier_takes_refer, check_record, local_transfer_succeeds, platform_refer_answered,
};
use super::{CARRIER, DialogId, PARTNER, PLATFORM, Sim, offer_sdp, standard_config};
use crate::config::{
    Config, ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod, TrunkAuth,
};
use crate::core::ShardMessage;
use crate::transfer::TransferOutcome;
use crate::vocab::ShardId;

/// The platform trunk's credentials in these flows.
pub const USER: &str = "handoff-trunk";
pub const PASSWORD: &str = "s3cret-Pa55";
/// A challenge offering SHA-256 and MD5 (RFC 8760 section 2.4: the server lists them in its
/// order of preference).
const SHA256_CHALLENGE: &str = r#"Digest realm="platform.example", nonce="n-0a1b2c", qop="auth", algorithm=SHA-256, opaque="op-1""#;
const MD5_QOP_CHALLENGE: &str =
    r#"Digest realm="carrier.example", nonce="n-3d4e5f", qop="auth", algorithm=MD5"#;
const MD5_CHALLENGE: &str = r#"Digest realm="platform.example", nonce="n-9a8b7c""#;

fn auth() -> TrunkAuth {
    TrunkAuth {
        username: USER.to_string(),
        password: PASSWORD.to_string(),
        realm: None,
    }
}

/// The standard config; the platform trunk has `auth` and `headers`.
pub fn platform_auth_config() -> Arc<Config> {
    let mut config = standard_config();
    config.trunks[1].auth = Some(auth());
    config.trunks[1]
        .headers
        .insert("X-Tenant".to_string(), "tenant-7".to_string());
    Arc::new(config)
}

/// The transfer flows' carrier config; the carrier trunk has `auth`.
pub fn carrier_auth_config() -> Arc<Config> {
    let mut config = Arc::unwrap_or_clone(carrier_config(
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Auto,
        RingbackTone::Us,
    ));
    config.trunks[0].auth = Some(auth());
    Arc::new(config)
}

fn standard() -> Arc<Config> {
    Arc::new(standard_config())
}

/// The `name=value` parameters of a Digest credentials value, unquoted.
fn digest_params(value: &str) -> Vec<(String, String)> {
    let rest = value.trim().strip_prefix("Digest").unwrap_or("").trim();
    rest.split(", ")
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            Some((
                name.trim().to_string(),
                value.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

fn hex_hash(algorithm: &str, data: &str) -> String {
    let bytes: Vec<u8> = if algorithm == "SHA-256" {
        Sha256::digest(data.as_bytes()).to_vec()
    } else {
        Md5::digest(data.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks credentials `value` for `method` against the challenge's realm/nonce/algorithm/qop,
/// recomputing the response (RFC 7616 section 3.4.1, RFC 2617 3.2.2.1 without qop).
fn check_credentials(
    sim: &Sim,
    value: &str,
    method: &str,
    realm: &str,
    nonce: &str,
    algorithm: &str,
    qop: bool,
) -> FlowResult {
    let params = digest_params(value);
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    ensure!(sim, get("username") == USER, "username in {value}");
    ensure!(sim, get("realm") == realm, "realm in {value}");
    ensure!(sim, get("nonce") == nonce, "nonce in {value}");
    ensure!(sim, get("algorithm") == algorithm, "algorithm in {value}");
    let ha1 = hex_hash(algorithm, &format!("{USER}:{realm}:{PASSWORD}"));
    let ha2 = hex_hash(algorithm, &format!("{method}:{}", get("uri")));
    let expected = if qop {
        ensure!(
            sim,
            get("qop") == "auth" && get("nc") == "00000001" && !get("cnonce").is_empty(),
            "qop/nc/cnonce in {value}"
        );
        hex_hash(
            algorithm,
            &format!("{ha1}:{nonce}:00000001:{}:auth:{ha2}", get("cnonce")),
        )
    } else {
        ensure!(
            sim,
            get("qop").is_empty(),
            "qop without qop offered: {value}"
        );
        hex_hash(algorithm, &format!("{ha1}:{nonce}:{ha2}"))
    };
    ensure!(
        sim,
        get("response") == expected,
        "response {} != {expected} in {value}",
        get("response")
    );
    Ok(())
}

/// The carrier calls the platform's number; returns the carrier's dialog.
fn carrier_calls(sim: &mut Sim, extra: &[(&str, &str)]) -> DialogId {
    sim.ua(CARRIER)
        .invite_with(PLATFORM_NUMBER, Some(offer_sdp("10.0.0.1", 4000)), extra)
}

fn platform_takes(sim: &mut Sim, method: &str) -> Result<super::RequestId, String> {
    ensure!(
        sim,
        sim.run_until(|s| s.ua_ref(PLATFORM).has_request(method), STEP_MS),
        "platform got no {method}"
    );
    sim.ua(PLATFORM)
        .take_request(method)
        .ok_or_else(|| format!("{method} vanished"))
}

fn header(sim: &Sim, agent: usize, id: super::RequestId, name: &str) -> String {
    sim.ua_ref(agent)
        .incoming(id)
        .header(name)
        .unwrap_or_default()
}

/// RFC 3261 section 22.2 / 8.1.3.5: the platform challenges handoff's INVITE with 407 offering
/// SHA-256 and MD5; handoff ACKs the 407, sends the INVITE again with the same Call-ID and From
/// tag, CSeq + 1, a Proxy-Authorization answering the SHA-256 challenge (qop=auth), and the
/// call is set up on that INVITE.
pub fn invite_answered_after_proxy_challenge(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls(sim, &[]);
    let first = platform_takes(sim, "INVITE")?;
    sim.ua(PLATFORM).answer_with(
        first,
        407,
        None,
        &[
            ("Proxy-Authenticate", MD5_CHALLENGE),
            ("Proxy-Authenticate", SHA256_CHALLENGE),
        ],
    );
    let second = platform_takes(sim, "INVITE")?;
    let (call_id, from, cseq) = (
        header(sim, PLATFORM, first, "Call-ID"),
        header(sim, PLATFORM, first, "From"),
        header(sim, PLATFORM, first, "CSeq"),
    );
    ensure!(
        sim,
        header(sim, PLATFORM, second, "Call-ID") == call_id
            && header(sim, PLATFORM, second, "From") == from,
        "the resubmitted INVITE is not the same dialog attempt"
    );
    let seq = |c: &str| c.split(' ').next().and_then(|n| n.parse::<u32>().ok());
    let second_cseq = header(sim, PLATFORM, second, "CSeq");
    ensure!(
        sim,
        seq(&second_cseq) == seq(&cseq).map(|n| n + 1),
        "CSeq {cseq} then {second_cseq}"
    );
    ensure!(
        sim,
        header(sim, PLATFORM, second, "Via") != header(sim, PLATFORM, first, "Via"),
        "the resubmitted INVITE reuses the branch"
    );
    let credentials = header(sim, PLATFORM, second, "Proxy-Authorization");
    check_credentials(
        sim,
        &credentials,
        "INVITE",
        "platform.example",
        "n-0a1b2c",
        "SHA-256",
        true,
    )?;
    ensure!(
        sim,
        credentials.contains("opaque=\"op-1\""),
        "opaque not returned: {credentials}"
    );
    ensure!(
        sim,
        header(sim, PLATFORM, second, "X-Tenant") == "tenant-7",
        "trunk header missing on the resubmitted INVITE"
    );
    let callee = sim
        .ua_ref(PLATFORM)
        .incoming(second)
        .dialog
        .ok_or("no dialog")?;
    sim.ua(PLATFORM)
        .answer(second, 200, Some(offer_sdp("10.0.0.2", 5000)));
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call not established after the challenge");
    let statuses = sim.ua_ref(CARRIER).statuses(caller, "INVITE");
    ensure!(
        sim,
        !statuses.contains(&407) && !statuses.contains(&401),
        "the challenge reached the caller: {statuses:?}"
    );
    ensure!(
        sim,
        sim.shards()
            .iter()
            .map(|s| s.stats().auth_challenges_answered)
            .sum::<u64>()
            == 1,
        "challenges answered not counted once"
    );
    hang_up(sim, caller, callee)
}

/// A re-INVITE relayed to the platform is challenged (RFC 3261 section 22: any request but
/// ACK/CANCEL): handoff answers it, the carrier gets the platform's 200, never the 407.
pub fn reinvite_answered_after_challenge(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(CARRIER)
        .reinvite(caller, offer_sdp("10.0.0.1", 4002));
    let first = platform_takes(sim, "INVITE")?;
    sim.ua(PLATFORM).answer_with(
        first,
        407,
        None,
        &[("Proxy-Authenticate", SHA256_CHALLENGE)],
    );
    let second = platform_takes(sim, "INVITE")?;
    ensure!(
        sim,
        sim.ua_ref(PLATFORM).incoming(second).dialog == Some(callee),
        "the resubmitted re-INVITE is outside the platform's dialog"
    );
    let credentials = header(sim, PLATFORM, second, "Proxy-Authorization");
    check_credentials(
        sim,
        &credentials,
        "INVITE",
        "platform.example",
        "n-0a1b2c",
        "SHA-256",
        true,
    )?;
    ensure!(
        sim,
        header(sim, PLATFORM, second, "X-Tenant") == "tenant-7",
        "trunk header missing on the resubmitted re-INVITE"
    );
    sim.ua(PLATFORM)
        .answer(second, 200, Some(offer_sdp("10.0.0.2", 5002)));
    let answered = sim.run_until(
        |s| {
            s.ua_ref(CARRIER)
                .statuses(caller, "INVITE")
                .iter()
                .filter(|c| **c == 200)
                .count()
                >= 2
                || s.ua_ref(CARRIER)
                    .statuses(caller, "INVITE")
                    .iter()
                    .any(|c| *c >= 300)
        },
        STEP_MS,
    );
    let statuses = sim.ua_ref(CARRIER).statuses(caller, "INVITE");
    ensure!(
        sim,
        answered && !statuses.iter().any(|c| *c >= 300),
        "carrier's re-INVITE got {statuses:?}"
    );
    sim.run_for(2_000);
    hang_up(sim, caller, callee)
}

/// The carrier hangs up; the platform gets the BYE; the call is over.
fn hang_up(sim: &mut Sim, caller: DialogId, callee: DialogId) -> FlowResult {
    sim.ua(CARRIER).bye(caller);
    let done = sim.run_until(
        |s| {
            s.ua_ref(PLATFORM).dialog(callee).bye_received
                && s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200)
        },
        STEP_MS,
    );
    ensure!(sim, done, "BYE not relayed/answered");
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "call still active"
    );
    resources_released(sim)
}

/// RFC 3261 section 22.2: a second challenge to the request that carried our credentials means
/// they were refused; handoff does not answer again. The caller is refused with 403 (the
/// challenge is the trunk's, not the caller's) and the call ends. The answer without qop (the
/// platform offers none: RFC 2069 compatibility) is checked too.
pub fn invite_challenged_twice_refuses_caller(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls(sim, &[]);
    let first = platform_takes(sim, "INVITE")?;
    sim.ua(PLATFORM)
        .answer_with(first, 401, None, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let second = platform_takes(sim, "INVITE")?;
    let credentials = header(sim, PLATFORM, second, "Authorization");
    check_credentials(
        sim,
        &credentials,
        "INVITE",
        "platform.example",
        "n-9a8b7c",
        "MD5",
        false,
    )?;
    sim.ua(PLATFORM)
        .answer_with(second, 401, None, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let refused = sim.run_until(
        |s| s.ua_ref(CARRIER).final_status(caller, "INVITE").is_some(),
        STEP_MS,
    );
    let status = sim.ua_ref(CARRIER).final_status(caller, "INVITE");
    ensure!(
        sim,
        refused && status == Some(403),
        "caller got {status:?}, expected 403"
    );
    sim.run_for(STEP_MS);
    ensure!(
        sim,
        !sim.ua_ref(PLATFORM).has_request("INVITE"),
        "handoff answered the second challenge"
    );
    let ends = sim.call_ends();
    ensure!(
        sim,
        ends.len() == 1 && ends[0].setup_status.map(|s| s.as_u16()) == Some(401),
        "call ends {ends:?}"
    );
    resources_released(sim)
}

/// Issue 10 item 9: the carrier challenges handoff's REFER (401, MD5, qop=auth); handoff sends
/// the REFER again with Authorization (CSeq + 1 in the carrier's dialog), the carrier accepts,
/// and the transfer is handed off. The platform's 202 carries a Contact (item 11).
pub fn refer_answered_after_challenge(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    let first = carrier_takes_refer(sim, &t)?;
    sim.ua(CARRIER)
        .answer_with(first, 401, None, &[("WWW-Authenticate", MD5_QOP_CHALLENGE)]);
    let second = carrier_takes_refer(sim, &t)?;
    let credentials = header(sim, CARRIER, second, "Authorization");
    check_credentials(
        sim,
        &credentials,
        "REFER",
        "carrier.example",
        "n-3d4e5f",
        "MD5",
        true,
    )?;
    sim.ua(CARRIER).answer(second, 202, None);
    platform_refer_answered(sim, &t, 202)?;
    let callee = t.callee;
    let accepted = sim
        .ua_ref(PLATFORM)
        .responses
        .iter()
        .find(|r| r.method == "REFER" && r.status == 202 && r.dialog == Some(callee))
        .map(|r| String::from_utf8_lossy(&r.bytes).into_owned())
        .unwrap_or_default();
    ensure!(
        sim,
        accepted.contains("\r\nContact: <sip:"),
        "202 without Contact:\n{accepted}"
    );
    carrier_notifies(sim, &t, 100, false)?;
    t.await_notify(sim, 100)?;
    carrier_notifies(sim, &t, 200, true)?;
    t.await_notify(sim, 200)?;
    carrier_hangs_up(sim, &t, PLATFORM)?;
    check_record(
        sim,
        TransferOutcome::HandedOff,
        Some(202),
        Some(200),
        None,
        "carrier_bye",
    )?;
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "call still active"
    );
    resources_released(sim)
}

/// A second challenge to the REFER is a refusal: the local fallback calls the target.
pub fn refer_challenged_twice_falls_back(sim: &mut Sim) -> FlowResult {
    let mut t = call_and_refer(sim, true)?;
    for _ in 0..2 {
        let refer = carrier_takes_refer(sim, &t)?;
        sim.ua(CARRIER).answer_with(
            refer,
            407,
            None,
            &[("Proxy-Authenticate", MD5_QOP_CHALLENGE)],
        );
    }
    platform_refer_answered(sim, &t, 202)?;
    let partner = local_transfer_succeeds(sim, &mut t)?;
    check_record(
        sim,
        TransferOutcome::FallbackLocal,
        Some(407),
        None,
        Some(200),
        "refer_rejected",
    )?;
    carrier_hangs_up(sim, &t, PARTNER)?;
    ensure!(
        sim,
        sim.ua_ref(PARTNER).dialog(partner).bye_received,
        "leg C not BYEd"
    );
    ensure!(
        sim,
        sim.run_until(|s| s.calls_active() == 0, STEP_MS),
        "call still active"
    );
    let _ = TARGET;
    resources_released(sim)
}

/// handoff's own BYE is challenged (RFC 3261 section 22: any request but ACK/CANCEL): it is
/// sent again with credentials and the platform's leg ends.
pub fn bye_answered_after_challenge(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    sim.ua(PLATFORM).manual_bye = true;
    sim.ua(CARRIER).bye(caller);
    let first = platform_takes(sim, "BYE")?;
    sim.ua(PLATFORM).answer_with(
        first,
        407,
        None,
        &[("Proxy-Authenticate", SHA256_CHALLENGE)],
    );
    let second = platform_takes(sim, "BYE")?;
    let credentials = header(sim, PLATFORM, second, "Proxy-Authorization");
    check_credentials(
        sim,
        &credentials,
        "BYE",
        "platform.example",
        "n-0a1b2c",
        "SHA-256",
        true,
    )?;
    sim.ua(PLATFORM).answer(second, 200, None);
    let _ = callee;
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).final_status(caller, "BYE") == Some(200) && s.calls_active() == 0,
            STEP_MS
        ),
        "call not ended"
    );
    resources_released(sim)
}

/// Issue 10 item 12: the platform trunk's `headers` are on the initial INVITE and on a
/// re-INVITE relayed to it, not on its BYE; item 11: the INVITE carries handoff's own Allow and
/// Supported, not the carrier's (which listed SUBSCRIBE), and the carrier's 200 OK carries
/// handoff's Allow and Supported, not the platform's.
pub fn trunk_headers_and_own_capabilities(sim: &mut Sim) -> FlowResult {
    let caller = carrier_calls(
        sim,
        &[
            (
                "Allow",
                "INVITE, ACK, BYE, CANCEL, SUBSCRIBE, NOTIFY, REFER",
            ),
            ("Supported", "100rel, norefersub, from-change"),
        ],
    );
    let invite = platform_takes(sim, "INVITE")?;
    let allow = header(sim, PLATFORM, invite, "Allow");
    let supported = header(sim, PLATFORM, invite, "Supported");
    ensure!(
        sim,
        allow.contains("REFER") && !allow.contains("SUBSCRIBE"),
        "platform's INVITE Allow: {allow:?}"
    );
    ensure!(
        sim,
        supported.contains("replaces") && !supported.contains("norefersub"),
        "platform's INVITE Supported: {supported:?}"
    );
    ensure!(
        sim,
        header(sim, PLATFORM, invite, "X-Tenant") == "tenant-7",
        "trunk header missing on the initial INVITE"
    );
    let callee = sim
        .ua_ref(PLATFORM)
        .incoming(invite)
        .dialog
        .ok_or("no dialog")?;
    sim.ua(PLATFORM).answer_with(
        invite,
        200,
        Some(offer_sdp("10.0.0.2", 5000)),
        &[
            ("Allow", "INVITE, ACK, BYE, SUBSCRIBE"),
            ("Supported", "gruu"),
        ],
    );
    let up = sim.run_until(
        |s| {
            s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0
        },
        STEP_MS,
    );
    ensure!(sim, up, "call not established");
    let ok = sim
        .ua_ref(CARRIER)
        .responses
        .iter()
        .find(|r| r.method == "INVITE" && r.status == 200)
        .map(|r| String::from_utf8_lossy(&r.bytes).into_owned())
        .unwrap_or_default();
    ensure!(
        sim,
        ok.contains("\r\nAllow: ") && !ok.contains("SUBSCRIBE"),
        "carrier's 200 OK Allow:\n{ok}"
    );
    ensure!(
        sim,
        ok.contains("\r\nSupported: ") && !ok.contains("gruu"),
        "carrier's 200 OK Supported:\n{ok}"
    );
    // A re-INVITE from the carrier reaches the platform with the trunk's header.
    sim.ua(CARRIER)
        .reinvite(caller, offer_sdp("10.0.0.1", 4002));
    let reinvite = platform_takes(sim, "INVITE")?;
    ensure!(
        sim,
        header(sim, PLATFORM, reinvite, "X-Tenant") == "tenant-7",
        "trunk header missing on the re-INVITE"
    );
    sim.ua(PLATFORM)
        .answer(reinvite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).statuses(caller, "INVITE").len() >= 2
                || s.ua_ref(CARRIER).final_status(caller, "INVITE") == Some(200),
            STEP_MS
        ),
        "re-INVITE not answered"
    );
    sim.run_for(2_000);
    hang_up(sim, caller, callee)?;
    let bye = sim
        .ua_ref(PLATFORM)
        .all_incoming()
        .find(|r| r.method == "BYE")
        .map(|r| r.header("X-Tenant"));
    ensure!(
        sim,
        bye == Some(None),
        "trunk header on the BYE, or no BYE: {bye:?}"
    );
    Ok(())
}

/// Issue 10 item 12: a reload that changes a trunk's `headers` is on the next new call's INVITE
/// (each call keeps the config snapshot it started with; the new call takes the new one).
pub fn reload_changes_trunk_headers_on_new_calls(sim: &mut Sim) -> FlowResult {
    let (caller, callee) = establish(sim)?;
    let mut config = Arc::unwrap_or_clone(sim.config.clone());
    config.trunks[1]
        .headers
        .insert("X-Tenant".to_string(), "tenant-8".to_string());
    let config = Arc::new(config);
    for shard in 0..sim.shards().len() {
        sim.send_shard_message(ShardId(shard as u16), ShardMessage::Config(config.clone()));
    }
    sim.config = config;
    hang_up(sim, caller, callee)?;
    let caller = carrier_calls(sim, &[]);
    let invite = platform_takes(sim, "INVITE")?;
    ensure!(
        sim,
        header(sim, PLATFORM, invite, "X-Tenant") == "tenant-8",
        "the new call's INVITE has X-Tenant {:?}, not the reloaded value",
        header(sim, PLATFORM, invite, "X-Tenant")
    );
    let callee = sim
        .ua_ref(PLATFORM)
        .incoming(invite)
        .dialog
        .ok_or("no dialog")?;
    sim.ua(PLATFORM)
        .answer(invite, 200, Some(offer_sdp("10.0.0.2", 5000)));
    ensure!(
        sim,
        sim.run_until(
            |s| s.ua_ref(CARRIER).dialog(caller).is_confirmed()
                && s.ua_ref(PLATFORM).dialog(callee).acks_received > 0,
            STEP_MS
        ),
        "second call not established"
    );
    hang_up(sim, caller, callee)
}

/// RFC 5626 section 4.4.1: "\r\n\r\n" from a trunk is a keep-alive ping. handoff sends nothing
/// back over UDP, reports no rejection, and counts it as a keep-alive, not an error.
pub fn crlf_keepalives_ignored(sim: &mut Sim) -> FlowResult {
    for _ in 0..5 {
        sim.ua(CARRIER).send_raw(b"\r\n\r\n".to_vec());
        sim.run_for(200);
    }
    sim.run_for(2_000);
    let rejected = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, crate::core::Event::RequestRejected { .. }))
        .count();
    ensure!(sim, rejected == 0, "{rejected} keep-alives rejected");
    ensure!(
        sim,
        sim.ua_ref(CARRIER).received.is_empty(),
        "handoff answered a keep-alive"
    );
    let counted: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().keepalives_received)
        .sum();
    let errors: u64 = sim
        .shards()
        .iter()
        .map(|s| s.stats().rejected_malformed + s.stats().requests_rejected)
        .sum();
    ensure!(
        sim,
        (1..=10).contains(&counted),
        "{counted} keep-alives counted"
    );
    ensure!(sim, errors == 0, "{errors} keep-alives counted as errors");
    // A call still works afterwards.
    let (caller, callee) = establish(sim)?;
    hang_up(sim, caller, callee)
}

/// Every flow of this file, with the config it runs on (tests/sim_trunkreq_seed_sweep.rs).
pub const FLOWS: &[super::transfer_flows::NamedFlow] = &[
    (
        "invite_answered_after_proxy_challenge",
        platform_auth_config,
        invite_answered_after_proxy_challenge,
    ),
    (
        "invite_challenged_twice_refuses_caller",
        platform_auth_config,
        invite_challenged_twice_refuses_caller,
    ),
    (
        "refer_answered_after_challenge",
        carrier_auth_config,
        refer_answered_after_challenge,
    ),
    (
        "refer_challenged_twice_falls_back",
        carrier_auth_config,
        refer_challenged_twice_falls_back,
    ),
    (
        "reinvite_answered_after_challenge",
        platform_auth_config,
        reinvite_answered_after_challenge,
    ),
    (
        "bye_answered_after_challenge",
        platform_auth_config,
        bye_answered_after_challenge,
    ),
    (
        "trunk_headers_and_own_capabilities",
        platform_auth_config,
        trunk_headers_and_own_capabilities,
    ),
    (
        "reload_changes_trunk_headers_on_new_calls",
        platform_auth_config,
        reload_changes_trunk_headers_on_new_calls,
    ),
    ("crlf_keepalives_ignored", standard, crlf_keepalives_ignored),
];
