//! The start-up host report reads kernel formats: cpu lists as /sys/devices/system/cpu/isolated
//! writes them (Documentation/admin-guide/cputopology.rst: "0-3,8"), and CapEff in
//! /proc/self/status (a hex mask; CAP_NET_ADMIN is bit 12, capability.h).

use handoff::runtime::host::{effective_capability, parse_cpu_list};

#[test]
fn cpu_lists_in_the_kernels_format() {
    assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
    assert_eq!(parse_cpu_list("\n"), Vec::<usize>::new());
    assert_eq!(parse_cpu_list("2-3\n"), vec![2, 3]);
    assert_eq!(parse_cpu_list("0-2,8,10-11"), vec![0, 1, 2, 8, 10, 11]);
    // Garbage and reversed ranges are skipped, not a panic.
    assert_eq!(parse_cpu_list("x,5-3,7"), vec![7]);
    assert_eq!(
        parse_cpu_list("0-18446744073709551615"),
        Vec::<usize>::new()
    );
}

#[test]
fn cap_net_admin_is_bit_12_of_cap_eff() {
    let root = "Name:\thandoff\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
    let user = "Name:\thandoff\nCapEff:\t0000000000000000\n";
    let only_net_admin = "CapEff:\t0000000000001000\n";
    assert!(effective_capability(root, 12));
    assert!(!effective_capability(user, 12));
    assert!(effective_capability(only_net_admin, 12));
    assert!(!effective_capability("no such line", 12));
}
