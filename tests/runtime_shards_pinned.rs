//! With `cpus` configured, shard i's thread runs pinned to cpus[i] (checked in /proc from the
//! outside, on the running binary). The CPUs are listed in reverse so the pinning is not the
//! scheduler's default by accident.

mod runtime_support;

use std::time::Duration;

use runtime_support::{Handoff, WAIT, setup};

fn shard_affinity(pid: u32, shard: usize) -> Option<String> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if comm.trim() == format!("shard-{shard}") {
            let status = std::fs::read_to_string(task.join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned());
        }
    }
    None
}

#[test]
fn each_shard_thread_is_pinned_to_its_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "this test needs 2 CPUs (the project's machines have 2)"
    );
    let s = setup("uring", 9200, 2, 30);
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    std::fs::write(
        &s.config_path,
        text.replace("shards = 2\n", "shards = 2\ncpus = [1, 0]\n"),
    )
    .unwrap();
    let mut handoff = Handoff::start(&s.config_path);
    let pid = handoff.child.id();
    // A thread pins itself as it starts; give it a moment.
    let deadline = std::time::Instant::now() + WAIT;
    let pinned = || {
        (
            shard_affinity(pid, 0).unwrap_or_default(),
            shard_affinity(pid, 1).unwrap_or_default(),
        )
    };
    while pinned() != ("1".into(), "0".into()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pinned(), ("1".into(), "0".into()));
    handoff.signal("TERM");
    assert!(handoff.wait_exit(WAIT).is_some_and(|st| st.success()));
}
