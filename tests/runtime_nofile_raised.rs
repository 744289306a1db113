//! Issue 9, protection 6: "At start-up handoff raises the soft RLIMIT_NOFILE to the hard limit,
//! and prints how many concurrent calls its sockets allow per shard." Started with a soft limit
//! of 256 (what a careless service manager leaves), the running process's soft limit equals its
//! hard limit (read back from /proc/PID/limits, the kernel's view), and the log names each
//! shard's capacity. Both backends.

mod runtime_support;

use runtime_support::{BACKENDS, Handoff, WAIT, setup};

/// (soft, hard) "Max open files" of a process, from proc(5)'s limits file.
fn open_file_limits(pid: u32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().expect("soft").to_owned(),
        fields.next().expect("hard").to_owned(),
    )
}

#[test]
fn the_soft_open_file_limit_is_raised_and_the_capacity_printed() {
    for (i, io) in BACKENDS.iter().enumerate() {
        let s = setup(io, 24400 + i as u16 * 100, 2, 30);
        let mut handoff = Handoff::start_with_soft_nofile(&s.config_path, 256);
        let line = handoff.wait_for_log("RLIMIT_NOFILE", WAIT);
        assert!(line.contains("before=256"), "{io}: {line}");
        let (soft, hard) = open_file_limits(handoff.child.id());
        assert_eq!(soft, hard, "{io}: soft limit not raised to the hard one");
        for shard in 0..2 {
            let line = handoff.wait_for_log(&format!("shard={shard} media_ports="), WAIT);
            assert!(line.contains("concurrent_calls="), "{io}: {line}");
        }
        handoff.signal("TERM");
        assert!(handoff.wait_exit(WAIT).is_some_and(|s| s.success()));
    }
}
