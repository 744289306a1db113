//! Attended transfer in refer mode with the two calls on different shards (real binary, 2
//! shards, both backends): the carrier's REFER on A1 carries a Replaces naming call 2 as the
//! carrier knows it (A2's Call-ID, its own tag as to-tag, handoff's as from-tag); the carrier
//! hangs up A1 and A2 and handoff tears down B1 and B2; the audit says attended, refer,
//! handed_off.

mod e2e_support;

use e2e_support::{BACKENDS, Options, start};
use handoff::core::ids::shard_of_minted;
use handoff::demo::flows::{attended_transfer, replaces_for};

#[test]
fn attended_refer_translates_replaces_across_shards() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let mut options = Options::new(io, 8940 + i as u16 * 40);
        options.shards = 2;
        let mut e2e = start(&options);
        let seen = attended_transfer(&mut e2e.cast, "+15552220000", 2, true)
            .unwrap_or_else(|e| panic!("{io}: {e}"));
        assert_ne!(
            shard_of_minted(&seen.b1_handoff_tag),
            shard_of_minted(&seen.b2_handoff_tag),
            "{io}: the two calls on different shards"
        );
        let refer = seen
            .carrier_refer
            .clone()
            .expect("REFER reached the carrier");
        let refer_to = refer.header("refer-to").unwrap_or_default();
        let expected = replaces_for(&seen);
        assert!(
            refer_to.contains(&expected),
            "{io}: Refer-To {refer_to}, expected {expected}"
        );
        assert_eq!(seen.platform_refer_status, Some(202), "{io}");
        assert_eq!(seen.platform_byes, 2, "{io}: B1 and B2 torn down");
        let records = e2e.transfer_records(1);
        assert_eq!(records.len(), 1, "{io}: {records:?}");
        assert_eq!(records[0]["kind"], "attended", "{}", records[0]);
        assert_eq!(records[0]["method"], "refer", "{}", records[0]);
        assert_eq!(records[0]["outcome"], "handed_off", "{}", records[0]);
        e2e.stop();
    }
}
