//! A blind REFER whose target is not a telephone number is refused 400 and recorded as failed;
//! neither a REFER nor a local INVITE goes out.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn non_number_blind_target_is_refused() {
    for method in [TransferMethod::Refer, TransferMethod::Local] {
        let mut attempt = TransferAttempt::start(
            ms(0),
            blind_request("<sip:sales-desk@platform.example>"),
            settings(method, ReferFailurePolicy::Local, RingbackMode::Local),
        );
        let actions = drain(&mut attempt);
        assert_eq!(
            without_bookkeeping(&actions),
            vec![TransferAction::AnswerPlatform {
                status: StatusCode::BAD_REQUEST
            }]
        );
        let record = finished(&actions).expect("recorded");
        assert_eq!(record.outcome, TransferOutcome::Failed);
        assert_eq!(record.reason, "target_not_a_number");
        assert_eq!(record.target_e164, None);
        assert!(attempt.is_done());
    }
}
