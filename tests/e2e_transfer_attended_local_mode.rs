//! Attended transfer in local mode with the two calls on different shards (real binary, 2
//! shards, both backends): no REFER reaches the carrier; handoff joins A1 and A2 itself, NOTIFYs 200 on
//! B1 and ends B1 and B2; the customer's and the partner's legs get no BYE; the audit says
//! attended, local. The RTP between A1 and A2 after the join (both ways, through handoff's
//! ports) is checked by `border_attended::attended_local_join_relays_rtp_both_ways_across_shards`,
//! whose raw agents own their media sockets.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::core::ids::shard_of_minted;
use handoff::demo::flows::{CARRIER, attended_transfer};

#[test]
fn attended_local_joins_the_calls_across_shards() {
    for io in BACKENDS {
        attended_local_joins_the_calls_across_shards_on(io);
    }
}

fn attended_local_joins_the_calls_across_shards_on(io: &'static str) {
    let mut options = Options::new(io, 9020);
    options.shards = 2;
    options.transfer = "local";
    let mut e2e = start(&options);
    let seen = attended_transfer(&mut e2e.cast, "+15552220000", 2, false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        shard_of_minted(&seen.b1_handoff_tag),
        shard_of_minted(&seen.b2_handoff_tag),
        "the two calls on different shards"
    );
    assert!(
        !e2e.cast[CARRIER]
            .ladder
            .iter()
            .any(|s| s.what.starts_with("REFER")),
        "no REFER to the carrier"
    );
    assert_eq!(seen.platform_refer_status, Some(202));
    assert!(
        seen.platform_notifies.contains(&200),
        "{:?}",
        seen.platform_notifies
    );
    assert_eq!(seen.platform_byes, 2, "B1 and B2 ended");
    assert!(!seen.customer_got_bye, "A1/A2 kept");
    let records = e2e.transfer_records(1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["kind"], "attended", "{}", records[0]);
    assert_eq!(records[0]["method"], "local", "{}", records[0]);
    let ts = records[0]["ts"].as_str().unwrap_or_default();
    assert!(
        !ts.starts_with("1970"),
        "record stamped with the wall clock: {ts}"
    );
    e2e.stop();
}
