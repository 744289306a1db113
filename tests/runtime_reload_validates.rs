//! SIGHUP re-reads the config file: an invalid file is refused with its errors logged and the
//! process keeps serving; a valid one is handed to the shards. Both backends.

mod runtime_support;

use runtime_support::{BACKENDS, Handoff, WAIT, setup};

#[test]
fn sighup_refuses_a_broken_config_and_applies_a_good_one() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 11000 + i as u16 * 100, 2, 30);
        let good = std::fs::read_to_string(&s.config_path).unwrap();
        let mut handoff = Handoff::start(&s.config_path);

        // A route naming a trunk that does not exist: validation must refuse it.
        let broken = format!("{good}\n[[route]]\nfrom = \"carrier\"\nto = \"nowhere\"\n");
        std::fs::write(&s.config_path, broken).unwrap();
        handoff.signal("HUP");
        let refused = handoff.wait_for_log("new config refused", WAIT);
        assert!(refused.contains("running config stays"), "{refused}");
        assert!(
            handoff.log.iter().any(|l| l.contains("nowhere")),
            "{io}: the validation error itself is logged:\n{}",
            handoff.log.join("\n")
        );
        assert!(
            handoff.is_running(),
            "{io}: a refused reload must not stop handoff"
        );

        // A valid change (one more route) is applied and reaches every shard.
        let changed = good.replace("to = \"platform\"", "to = \"platform\"\nprefix = \"1\"");
        std::fs::write(&s.config_path, changed).unwrap();
        handoff.signal("HUP");
        handoff.wait_for_log("configuration reloaded", WAIT);
        handoff.wait_for_log("new configuration shard=1", WAIT);
        handoff.wait_for_log("new configuration shard=0", WAIT);
        assert!(handoff.is_running());
        handoff.signal("TERM");
        let status = handoff.wait_exit(WAIT).expect("exits after SIGTERM");
        assert!(status.success());
    }
}
