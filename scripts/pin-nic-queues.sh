#!/usr/bin/env bash
# Pins a network interface's receive-queue interrupts (IRQ affinity) and its transmit queues (XPS)
# to the CPUs handoff's shards run on, so the core that takes a packet off the NIC is the core
# whose shard handles it: no cross-core cache traffic, no shared softirq.
#
#   scripts/pin-nic-queues.sh [--dry-run] [--config FILE | --cpus 2,3] IFACE
#
# Queue i goes to cpus[i mod n]. The CPUs come from `sbc.cpus` in handoff's config (--config,
# default /etc/handoff/handoff.toml) or from --cpus. --dry-run prints the plan and writes nothing.
#
# How queues are found, in order:
#   1. /proc/interrupts lines whose name is the interface's queue vector: IFACE-TxRx-N,
#      IFACE-rx-N, IFACE-N, DRIVER-IFACE-TxRx-N (ixgbe, i40e, ice, igb, bnxt_en, ena...);
#   2. otherwise the device's MSI vectors (/sys/class/net/IFACE/device/msi_irqs) whose
#      /proc/interrupts name is a completion or input queue (mlx5_comp*, virtioN-input.*).
#      Management and async vectors are left alone.
# Transmit queues: /sys/class/net/IFACE/queues/tx-N/xps_cpus gets the mask of cpus[N mod n].
#
# irqbalance rewrites IRQ affinity every 10 s: the script warns when it runs (stop it, or list the
# IRQs in IRQBALANCE_BANNED_CPULIST / --banirq). Loopback and virtual interfaces have no queue
# IRQs: the script says so and exits 1.
#
# Testing: PIN_NIC_PROC and PIN_NIC_SYS replace /proc and /sys (tests/scripts_pin_nic_queues.rs
# runs the script on recorded /proc/interrupts files).
set -euo pipefail

PROC=${PIN_NIC_PROC:-/proc}
SYS=${PIN_NIC_SYS:-/sys}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

dry_run=0
config=/etc/handoff/handoff.toml
cpus_arg=""
iface=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) dry_run=1 ;;
    --config) config=${2:?--config needs a file}; shift ;;
    --cpus) cpus_arg=${2:?--cpus needs a list}; shift ;;
    -h | --help) usage ;;
    -*) echo "pin-nic-queues: unknown option $1" >&2; usage ;;
    *) [ -z "$iface" ] || usage; iface=$1 ;;
    esac
    shift
done
[ -n "$iface" ] || usage

# The shard CPUs, as a space-separated list.
shard_cpus() {
    if [ -n "$cpus_arg" ]; then
        echo "$cpus_arg" | tr ',' ' '
        return
    fi
    if [ ! -r "$config" ]; then
        echo "pin-nic-queues: cannot read $config; give --config FILE or --cpus LIST" >&2
        exit 2
    fi
    # `cpus = [2, 3]` in the [sbc] table (comments stripped).
    local line
    line=$(awk '
        /^[[:space:]]*\[/ { in_sbc = ($0 ~ /^[[:space:]]*\[sbc\][[:space:]]*(#.*)?$/) }
        in_sbc && /^[[:space:]]*cpus[[:space:]]*=/ { sub(/#.*/, ""); print; exit }
    ' "$config")
    if [ -z "$line" ]; then
        echo "pin-nic-queues: $config has no sbc.cpus; pin the shards first (sbc.cpus = [...]) or give --cpus" >&2
        exit 2
    fi
    echo "$line" | sed 's/.*\[//; s/\].*//' | tr ',' ' '
}

read -r -a cpus <<<"$(shard_cpus)"
for cpu in "${cpus[@]}"; do
    if ! [[ "$cpu" =~ ^[0-9]+$ ]]; then
        echo "pin-nic-queues: '$cpu' is not a cpu number" >&2
        exit 2
    fi
done
[ "${#cpus[@]}" -gt 0 ] || { echo "pin-nic-queues: no cpus" >&2; exit 2; }

# "IRQ NAME" lines for the interface's receive queues, in queue order.
queue_irqs() {
    local by_name
    by_name=$(awk -v ifc="$iface" '
        $1 ~ /^[0-9]+:$/ {
            irq = substr($1, 1, length($1) - 1)
            name = $NF
            # IFACE-TxRx-N, IFACE-rx-N, IFACE-N, or DRIVER-IFACE-TxRx-N; not IFACE-tx-N.
            if (name ~ ("(^|-)" ifc "-(TxRx|Tx-Rx|rx|RxTx|fp)?-?[0-9]+$") && name !~ /-tx-[0-9]+$/) {
                n = name; sub(/.*-/, "", n)
                print n, irq, name
            }
        }' "$PROC/interrupts" | sort -n | awk '{ print $2, $3 }')
    if [ -n "$by_name" ]; then
        echo "$by_name"
        return
    fi
    local msi="$SYS/class/net/$iface/device/msi_irqs"
    # virtio-net: the device is virtioN, its PCI function (the parent) holds the vectors.
    [ -d "$msi" ] || msi="$SYS/class/net/$iface/device/../msi_irqs"
    [ -d "$msi" ] || return 0
    local irqs
    irqs=$(ls "$msi" | sort -n | tr '\n' ' ')
    awk -v list=" $irqs" '
        $1 ~ /^[0-9]+:$/ {
            irq = substr($1, 1, length($1) - 1)
            if (index(list, " " irq " ") == 0) next
            name = $NF
            if (name ~ /^mlx[0-9]+_comp[0-9]+/ || name ~ /-input\.[0-9]+$/ || name ~ /[Rr]x/) print irq, name
        }' "$PROC/interrupts"
}

mapfile -t queues < <(queue_irqs)
if [ "${#queues[@]}" -eq 0 ]; then
    echo "pin-nic-queues: found no receive-queue interrupts for $iface in $PROC/interrupts (loopback, a bridge or a veth has none; on a VM, check the virtio driver)" >&2
    exit 1
fi

# A hex CPU mask as the kernel writes them: 32-bit groups separated by commas.
cpu_mask() {
    local cpu=$1 groups=$(( $1 / 32 + 1 )) out="" g
    for (( g = groups - 1; g >= 0; g-- )); do
        local word=0
        if [ "$g" -eq $(( cpu / 32 )) ]; then word=$(( 1 << (cpu % 32) )); fi
        out+=$(printf '%08x' "$word")
        [ "$g" -eq 0 ] || out+=","
    done
    echo "$out"
}

write() {
    local value=$1 file=$2
    if [ "$dry_run" -eq 1 ]; then
        return
    fi
    if ! printf '%s\n' "$value" >"$file" 2>/dev/null; then
        echo "pin-nic-queues: could not write $value to $file" >&2
        failed=1
    fi
}

failed=0
mode=$([ "$dry_run" -eq 1 ] && echo "plan (dry run, nothing written)" || echo "applying")
echo "pin-nic-queues: $iface, ${#queues[@]} receive queues, shard cpus ${cpus[*]}: $mode"
i=0
for entry in "${queues[@]}"; do
    irq=${entry%% *}
    name=${entry#* }
    cpu=${cpus[$(( i % ${#cpus[@]} ))]}
    echo "rx queue $i: irq $irq ($name) -> cpu $cpu"
    write "$cpu" "$PROC/irq/$irq/smp_affinity_list"
    i=$(( i + 1 ))
done
i=0
for xps in "$SYS/class/net/$iface/queues"/tx-*/xps_cpus; do
    [ -e "$xps" ] || break
    queue=${xps%/xps_cpus}
    queue=${queue##*/tx-}
    cpu=${cpus[$(( queue % ${#cpus[@]} ))]}
    echo "tx queue $queue: xps_cpus -> cpu $cpu (mask $(cpu_mask "$cpu"))"
    write "$(cpu_mask "$cpu")" "$xps"
done
if pgrep -x irqbalance >/dev/null 2>&1; then
    echo "pin-nic-queues: warning: irqbalance is running and will move these IRQs again; stop it (systemctl disable --now irqbalance) or ban these IRQs" >&2
fi
exit "$failed"
