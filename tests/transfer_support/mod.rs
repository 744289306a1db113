//! Shared fixtures for the tests/transfer_*.rs files (not a test target itself).
#![allow(dead_code)]

use std::collections::BTreeMap;

use handoff::config::{ReferFailurePolicy, RingbackMode, RingbackTone, TransferMethod, Trunk};
use handoff::core::Time;
use handoff::transfer::{
    PlatformReferTo, TransferAction, TransferAttempt, TransferRecord, TransferRequest,
    TransferSettings, WallClock,
};

/// 2026-11-21T12:00:00.000Z at monotonic time zero.
pub const WALL_CLOCK: WallClock = WallClock {
    at: Time::ZERO,
    unix_ms: 1_795_262_400_000,
};

pub const REFER_TIMEOUT_MS: u64 = 4_000;

pub fn ms(millis: u64) -> Time {
    Time::from_millis(millis)
}

pub fn carrier_trunk(
    method: TransferMethod,
    on_refer_failure: ReferFailurePolicy,
    ringback: RingbackMode,
) -> Trunk {
    let mut headers = BTreeMap::new();
    headers.insert("X-Carrier-Account".to_owned(), "acme-42".to_owned());
    Trunk {
        name: "carrier-a".to_owned(),
        peer: "192.0.2.10:5060".parse().expect("literal address"),
        sources: std::sync::Arc::new(handoff::sources::SourceSet::default()),
        role: handoff::config::TrunkRole::Carrier,
        carrier_refer: handoff::config::CarrierReferPolicy::Reject,
        transfer: method,
        on_refer_failure,
        refer_domain: Some("carrier-a.example".to_owned()),
        jurisdiction: None,
        country_code: "1".to_owned(),
        codecs: vec!["PCMU".to_owned()],
        ringback,
        ringback_tone: RingbackTone::Us,
        headers,
        transfer_targets: Default::default(),
        trust_identity: true,
        conversation_header: false,
        media_networks: Default::default(),
        limits: Default::default(),
        refer_hook: None,
        transfer_timeout_s: None,
        handoff_bye_after_ms: None,
        refer_response: handoff::vocab::StatusCode::ACCEPTED,
        auth: None,
    }
}

pub fn settings(
    method: TransferMethod,
    on_refer_failure: ReferFailurePolicy,
    ringback: RingbackMode,
) -> TransferSettings {
    TransferSettings::for_trunk(
        &carrier_trunk(method, on_refer_failure, ringback),
        REFER_TIMEOUT_MS,
    )
}

pub fn blind_request(refer_to: &str) -> TransferRequest {
    TransferRequest {
        conversation: "conv-7".to_owned(),
        refer_to: PlatformReferTo::parse(refer_to).expect("test Refer-To parses"),
        translated_replaces: None,
        referred_by: Some("<sip:agent7@platform.example>".to_owned()),
        p_asserted_identity: None,
        handoff_identity: "<sip:handoff@192.0.2.1>".to_owned(),
        notify_platform: true,
        wall_clock: WALL_CLOCK,
        source: Some("192.0.2.7:5060".parse().unwrap()),
        extension: Default::default(),
    }
}

/// A blind REFER to +1 555 987 6543, sent as a national number.
pub fn start_blind(
    now: Time,
    method: TransferMethod,
    on_refer_failure: ReferFailurePolicy,
    ringback: RingbackMode,
) -> TransferAttempt {
    TransferAttempt::start(
        now,
        blind_request("<sip:5559876543@platform.example>"),
        settings(method, on_refer_failure, ringback),
    )
}

pub fn drain(attempt: &mut TransferAttempt) -> Vec<TransferAction> {
    std::iter::from_fn(|| attempt.poll_action()).collect()
}

pub fn finished(actions: &[TransferAction]) -> Option<&TransferRecord> {
    actions.iter().find_map(|action| match action {
        TransferAction::Finished(record) => Some(&**record),
        _ => None,
    })
}

/// The actions without timers and records, for comparing flows.
pub fn without_bookkeeping(actions: &[TransferAction]) -> Vec<TransferAction> {
    actions
        .iter()
        .filter(|a| {
            !matches!(
                a,
                TransferAction::ArmTimer { .. } | TransferAction::Finished(_)
            )
        })
        .cloned()
        .collect()
}
