//! Whatever order events arrive in (loss, reordering, duplicates), a transfer keeps its promises:
//! the platform never gets a 2xx before the carrier's (unless handoff transfers locally), gets one
//! answer at most, no NOTIFY outside the subscription or after its BYE; one record at most;
//! ringback starts and stops in turn; the target is INVITEd once at most (never two calls from
//! handoff) and a CANCEL only follows that INVITE; once told the transfer succeeded, the platform
//! is told nothing else; nothing panics.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferRequest};
use handoff::vocab::StatusCode;
use proptest::prelude::*;
use transfer_support::*;

#[derive(Clone, Debug)]
enum Event {
    ReferResponse(StatusCode),
    Notify(StatusCode),
    Fallback(StatusCode, bool),
    JoinResult(StatusCode),
    CarrierBye,
    TransferorBye,
    Timer,
}

fn status() -> impl Strategy<Value = StatusCode> {
    prop_oneof![
        Just(100u16),
        Just(180),
        Just(183),
        Just(200),
        Just(202),
        Just(403),
        Just(481),
        Just(486),
        Just(503),
        Just(603),
        // Any status code (RFC 3261 section 7.2: 100..=699).
        100u16..700,
    ]
    .prop_map(|code| StatusCode::new(code).expect("100..=699"))
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        status().prop_map(Event::ReferResponse),
        status().prop_map(Event::Notify),
        (status(), any::<bool>()).prop_map(|(s, sdp)| Event::Fallback(s, sdp)),
        status().prop_map(Event::JoinResult),
        Just(Event::CarrierBye),
        Just(Event::TransferorBye),
        Just(Event::Timer),
    ]
}

fn method() -> impl Strategy<Value = TransferMethod> {
    prop_oneof![Just(TransferMethod::Refer), Just(TransferMethod::Local)]
}

fn policy() -> impl Strategy<Value = ReferFailurePolicy> {
    prop_oneof![
        Just(ReferFailurePolicy::Local),
        Just(ReferFailurePolicy::Reject)
    ]
}

fn ringback() -> impl Strategy<Value = RingbackMode> {
    prop_oneof![
        Just(RingbackMode::Auto),
        Just(RingbackMode::Local),
        Just(RingbackMode::Off)
    ]
}

fn request(attended: bool) -> TransferRequest {
    let mut request = blind_request("<sip:5559876543@platform.example>");
    if attended {
        request.translated_replaces = Some("c%40h%3Bto-tag%3Da%3Bfrom-tag%3Db".to_owned());
    }
    request
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn promises_hold_for_any_event_order(
        method in method(),
        policy in policy(),
        ringback in ringback(),
        attended in any::<bool>(),
        // Mostly short gaps; now and then a long one (a carrier silent for minutes, the
        // transfer timeout).
        events in proptest::collection::vec(
            (event(), prop_oneof![9 => 0u64..6_000, 1 => 6_000u64..130_000]),
            0..14,
        ),
    ) {
        let mut now = 0;
        let mut attempt =
            TransferAttempt::start(ms(now), request(attended), settings(method, policy, ringback));
        let mut batches = vec![(None, drain(&mut attempt))];
        for (event, advance) in &events {
            now += advance;
            let at = ms(now);
            match event {
                Event::ReferResponse(s) => attempt.on_refer_response(at, *s),
                Event::Notify(s) => attempt.on_notify_sipfrag(at, *s),
                Event::Fallback(s, sdp) => attempt.on_fallback_response(at, *s, *sdp),
                Event::JoinResult(s) => attempt.on_local_join_result(at, *s),
                Event::CarrierBye => attempt.on_bye_from_carrier(at),
                Event::TransferorBye => attempt.on_transferor_bye(at),
                Event::Timer => attempt.on_timer(at),
            }
            batches.push((Some(event.clone()), drain(&mut attempt)));
        }

        let mut carrier_accepted = false;
        let mut answers = 0;
        let mut platform_subscribed = false;
        let mut platform_gone = false;
        let mut records = 0;
        let mut ringing = false;
        let mut fallback_invites = 0;
        let mut told_success = false;
        for (event, actions) in &batches {
            match event {
                Some(Event::ReferResponse(s)) if s.is_success() => carrier_accepted = true,
                Some(Event::Notify(_)) => carrier_accepted = true,
                Some(Event::TransferorBye) => platform_gone = true,
                _ => {}
            }
            let goes_local = actions.iter().any(|a| matches!(
                a,
                TransferAction::StartFallbackInvite { .. } | TransferAction::StartLocalJoin
            ));
            for action in actions {
                match action {
                    TransferAction::AnswerPlatform { status } => {
                        answers += 1;
                        prop_assert!(!platform_gone, "answer after the platform's BYE");
                        if status.is_success() {
                            prop_assert!(
                                carrier_accepted || goes_local,
                                "2xx to the platform before the carrier's: {batches:?}"
                            );
                            platform_subscribed = true;
                        }
                    }
                    TransferAction::RelayNotify { .. } | TransferAction::NotifyPlatform { .. } => {
                        prop_assert!(platform_subscribed && !platform_gone, "NOTIFY outside the subscription: {batches:?}");
                        prop_assert!(!told_success, "NOTIFY after the final 2xx: {batches:?}");
                        if let TransferAction::RelayNotify { status, subscription_ends: true }
                        | TransferAction::NotifyPlatform { status, subscription_ends: true } = action
                        {
                            told_success = status.is_success();
                        }
                    }
                    TransferAction::StartFallbackInvite { .. } => {
                        fallback_invites += 1;
                        prop_assert!(fallback_invites == 1, "target INVITEd twice: {batches:?}");
                    }
                    TransferAction::CancelFallbackInvite => {
                        prop_assert!(fallback_invites == 1, "CANCEL without an INVITE: {batches:?}");
                    }
                    TransferAction::TearDownPlatformLeg => {
                        prop_assert!(!platform_gone, "BYE to a platform leg already gone");
                        platform_gone = true;
                    }
                    TransferAction::StartRingback => {
                        prop_assert!(!ringing && ringback != RingbackMode::Off);
                        ringing = true;
                    }
                    TransferAction::StopRingback => {
                        prop_assert!(ringing);
                        ringing = false;
                    }
                    TransferAction::SendRefer { .. } => {
                        prop_assert_eq!(method, TransferMethod::Refer);
                    }
                    TransferAction::Finished(_) => records += 1,
                    _ => {}
                }
            }
        }
        prop_assert!(answers <= 1, "platform answered {} times", answers);
        prop_assert!(records <= 1, "{} records", records);
        if attempt.is_done() {
            prop_assert_eq!(records, 1, "done without a record");
            prop_assert!(!ringing, "done while ringback still plays");
        }
    }
}
