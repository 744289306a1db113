//! The audit record serialises with exactly the issue's field names, nulls included.

mod transfer_support;

use handoff::config::{ReferFailurePolicy, RingbackMode, TransferMethod};
use handoff::vocab::StatusCode;
use transfer_support::*;

#[test]
fn record_json_has_the_audit_fields() {
    let mut attempt = start_blind(
        ms(10_000),
        TransferMethod::Refer,
        ReferFailurePolicy::Local,
        RingbackMode::Off,
    );
    attempt.on_refer_response(ms(10_040), StatusCode::FORBIDDEN);
    attempt.on_fallback_response(ms(12_345), StatusCode::BUSY_HERE, false);
    let actions = drain(&mut attempt);
    let record = finished(&actions).expect("recorded");
    assert_eq!(
        record.to_json(),
        concat!(
            r#"{"type":"transfer","ts":"2026-11-21T12:00:12.345Z","conversation":"conv-7","#,
            r#""trunk":"carrier-a","source":"192.0.2.7:5060","kind":"blind","method":"refer","#,
            r#""target":"sip:5559876543@platform.example","target_e164":"+15559876543","#,
            r#""outcome":"failed","refer_status":403,"notify_status":null,"fallback_status":486,"#,
            r#""reason":"fallback_failed","duration_ms":2345}"#
        )
    );
}
