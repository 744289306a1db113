//! A blind REFER whose target is not a telephone number and that no route takes (issue 10,
//! item 4: only routable extensions and SIP URIs are transferred locally) is refused 404 and
//! recorded as failed, `target_not_a_number`; neither a REFER nor a local INVITE goes out, on a
//! `transfer = "refer"` trunk as on a `transfer = "local"` one.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::transfer::{TransferAction, TransferAttempt, TransferOutcome};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn unroutable_non_number_blind_target_is_refused() {
    for method in [TransferMethod::Refer, TransferMethod::Local] {
        let mut attempt = TransferAttempt::start(
            ms(0),
            blind_request("<sip:sales-desk@platform.example>"),
            settings(method, ReferFailurePolicy::Local, RingbackMode::Local),
        );
        let actions = drain(&mut attempt);
        assert!(
            matches!(
                without_bookkeeping(&actions).as_slice(),
                [TransferAction::RefusePlatform {
                    status: StatusCode::NOT_FOUND,
                    ..
                }]
            ),
            "{actions:?}"
        );
        let record = finished(&actions).expect("recorded");
        assert_eq!(record.outcome, TransferOutcome::Failed);
        assert_eq!(record.reason, "target_not_a_number");
        assert_eq!(record.target_e164, None);
        assert!(attempt.is_done());
    }
}
