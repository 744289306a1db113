//! scripts/pin-nic-queues.sh reads /proc/interrupts and /sys as drivers lay them out and plans
//! (or writes) IRQ affinity and XPS so that NIC queue i lands on shard cpu i mod n. The
//! /proc/interrupts fixtures follow the vector names the drivers register: ixgbe
//! `IFACE-TxRx-N` (plus a link vector named `IFACE`), i40e `i40e-IFACE-TxRx-N` (plus
//! `i40e-PCI:misc`), mlx5 `mlx5_compN@pci:ADDR` (found through the device's msi_irqs, with
//! `mlx5_async0` left alone). This VM's loopback has no queues, so the script runs here on a
//! fake /proc and /sys (PIN_NIC_PROC, PIN_NIC_SYS).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct FakeHost {
    dir: tempfile::TempDir,
}

impl FakeHost {
    /// A /proc with `interrupts` from the fixture and an irq/N dir per listed IRQ, and a /sys with
    /// `tx_queues` transmit queues for `iface` (and its device's `msi` vectors, if any).
    fn new(fixture: &str, iface: &str, irqs: &[u32], tx_queues: usize, msi: &[u32]) -> FakeHost {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        fs::create_dir_all(&proc).unwrap();
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/interrupts")
                .join(fixture),
        )
        .unwrap();
        fs::write(proc.join("interrupts"), text).unwrap();
        for irq in irqs {
            let d = proc.join("irq").join(irq.to_string());
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("smp_affinity_list"), "0-3\n").unwrap();
        }
        let net = dir.path().join("sys/class/net").join(iface);
        for q in 0..tx_queues {
            let d = net.join(format!("queues/tx-{q}"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("xps_cpus"), "00000000\n").unwrap();
        }
        if !msi.is_empty() {
            let d = net.join("device/msi_irqs");
            fs::create_dir_all(&d).unwrap();
            for irq in msi {
                fs::write(d.join(irq.to_string()), "msix\n").unwrap();
            }
        }
        FakeHost { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pin-nic-queues.sh"))
            .args(args)
            .env("PIN_NIC_PROC", self.dir.path().join("proc"))
            .env("PIN_NIC_SYS", self.dir.path().join("sys"))
            .output()
            .expect("run bash")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel))
            .unwrap()
            .trim()
            .to_owned()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ixgbe_queues_are_planned_round_robin_over_the_shard_cpus_and_nothing_is_written_in_a_dry_run() {
    let host = FakeHost::new("ixgbe-4q.txt", "eth0", &[57, 58, 59, 60, 61, 62], 4, &[]);
    let out = host.run(&["--dry-run", "--cpus", "2,3", "eth0"]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    for line in [
        "rx queue 0: irq 57 (eth0-TxRx-0) -> cpu 2",
        "rx queue 1: irq 58 (eth0-TxRx-1) -> cpu 3",
        "rx queue 2: irq 59 (eth0-TxRx-2) -> cpu 2",
        "rx queue 3: irq 60 (eth0-TxRx-3) -> cpu 3",
        "tx queue 0: xps_cpus -> cpu 2 (mask 00000004)",
        "tx queue 3: xps_cpus -> cpu 3 (mask 00000008)",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
    // The link vector (`eth0`) and another interface's queue (`eth10-TxRx-0`) are not queues of eth0.
    assert!(!plan.contains("irq 61"), "{plan}");
    assert!(!plan.contains("irq 62"), "{plan}");
    assert!(plan.contains("dry run, nothing written"), "{plan}");
    assert_eq!(host.read("proc/irq/57/smp_affinity_list"), "0-3");
    assert_eq!(
        host.read("sys/class/net/eth0/queues/tx-0/xps_cpus"),
        "00000000"
    );
}

#[test]
fn applying_writes_irq_affinity_and_xps_masks() {
    let host = FakeHost::new("ixgbe-4q.txt", "eth0", &[57, 58, 59, 60, 61, 62], 4, &[]);
    let out = host.run(&["--cpus", "2,3", "eth0"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(host.read("proc/irq/57/smp_affinity_list"), "2");
    assert_eq!(host.read("proc/irq/58/smp_affinity_list"), "3");
    assert_eq!(host.read("proc/irq/60/smp_affinity_list"), "3");
    assert_eq!(host.read("proc/irq/61/smp_affinity_list"), "0-3");
    assert_eq!(
        host.read("sys/class/net/eth0/queues/tx-1/xps_cpus"),
        "00000008"
    );
}

#[test]
fn a_cpu_past_31_gets_a_comma_grouped_mask() {
    let host = FakeHost::new("ixgbe-4q.txt", "eth0", &[57, 58, 59, 60], 1, &[]);
    let out = host.run(&["--cpus", "33", "eth0"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        host.read("sys/class/net/eth0/queues/tx-0/xps_cpus"),
        "00000002,00000000"
    );
}

#[test]
fn i40e_vectors_carry_the_driver_prefix_and_the_misc_vector_is_left_alone() {
    let host = FakeHost::new("i40e-2q.txt", "ens1f0", &[24, 25, 26], 2, &[]);
    let out = host.run(&["--dry-run", "--cpus", "1", "ens1f0"]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    assert!(
        plan.contains("rx queue 0: irq 25 (i40e-ens1f0-TxRx-0) -> cpu 1"),
        "{plan}"
    );
    assert!(
        plan.contains("rx queue 1: irq 26 (i40e-ens1f0-TxRx-1) -> cpu 1"),
        "{plan}"
    );
    assert!(!plan.contains("irq 24"), "{plan}");
}

#[test]
fn mlx5_completion_vectors_are_found_through_the_devices_msi_irqs() {
    // Only 90..=93 belong to this port; 94 is the second port's.
    let host = FakeHost::new(
        "mlx5-3q.txt",
        "enp59s0f0",
        &[90, 91, 92, 93, 94],
        3,
        &[90, 91, 92, 93],
    );
    let out = host.run(&["--cpus", "4,5,6", "enp59s0f0"]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    assert!(
        plan.contains("rx queue 0: irq 91 (mlx5_comp0@pci:0000:3b:00.0) -> cpu 4"),
        "{plan}"
    );
    assert!(
        plan.contains("rx queue 2: irq 93 (mlx5_comp2@pci:0000:3b:00.0) -> cpu 6"),
        "{plan}"
    );
    assert!(!plan.contains("irq 90"), "async vector planned:\n{plan}");
    assert!(!plan.contains("irq 94"), "other port planned:\n{plan}");
    assert_eq!(host.read("proc/irq/92/smp_affinity_list"), "5");
    assert_eq!(host.read("proc/irq/94/smp_affinity_list"), "0-3");
}

#[test]
fn the_cpus_come_from_the_sbc_table_of_the_config() {
    let host = FakeHost::new("ixgbe-4q.txt", "eth0", &[57, 58, 59, 60], 0, &[]);
    let config = host.path("handoff.toml");
    fs::write(
        &config,
        "[sbc]\nlisten = \"10.0.0.1:5060\"\ncpus = [6, 7]  # shard cores\n\n[[trunk]]\nname = \"x\"\ncpus = [1]\n",
    )
    .unwrap();
    let out = host.run(&["--dry-run", "--config", config.to_str().unwrap(), "eth0"]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    assert!(plan.contains("irq 57 (eth0-TxRx-0) -> cpu 6"), "{plan}");
    assert!(plan.contains("irq 58 (eth0-TxRx-1) -> cpu 7"), "{plan}");
}

#[test]
fn a_config_without_cpus_is_a_clear_error() {
    let host = FakeHost::new("ixgbe-4q.txt", "eth0", &[57], 0, &[]);
    let config = host.path("handoff.toml");
    fs::write(&config, "[sbc]\nlisten = \"10.0.0.1:5060\"\n").unwrap();
    let out = host.run(&["--dry-run", "--config", config.to_str().unwrap(), "eth0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no sbc.cpus"),
        "{out:?}"
    );
}

#[test]
fn an_interface_without_queue_interrupts_says_so() {
    let host = FakeHost::new("loopback-only.txt", "lo", &[], 0, &[]);
    let out = host.run(&["--dry-run", "--cpus", "0", "lo"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("found no receive-queue interrupts for lo"),
        "{out:?}"
    );
}
