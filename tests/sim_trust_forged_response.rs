//! A response is accepted only from the address its request was sent to: a host that forges the
//! platform's 200 OK (right branch, its own tag and SDP) does not answer the caller.

use handoff::metrics::DropReason;
use handoff::sim::{Sim, SimOptions, trust_flows};

#[test]
fn forged_200_is_dropped_and_counted() {
    let mut sim = Sim::new(SimOptions::default().seed(82));
    trust_flows::forged_response(&mut sim).unwrap();
    assert_eq!(
        sim.metrics()
            .dropped_count(DropReason::ResponseFromWrongSource),
        3
    );
}
