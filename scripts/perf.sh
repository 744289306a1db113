#!/usr/bin/env bash
# Runs perf/relay (release build): handoff's RTP relay against a bare forwarder, for N = 1,000,
# 5,000 and 10,000 calls, io_uring beside epoll, and writes perf/results/relay-<date>.md (with the
# command line). Extra arguments go to the relay tool, e.g. `scripts/perf.sh --seconds 20` or
# `--calls 2000`.
#
# As root, the tool runs in a network namespace of its own (`unshare -n`, loopback up): 10,000
# calls take 40,000 media ports, more than any range shared with other processes on the host
# can spare, and nothing else can take or disturb those ports there (media from --base-port,
# default 12000, up to 52,128; ephemeral ports moved to 60500-65000 inside).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bin handoff --example relay
target_dir="${CARGO_TARGET_DIR:-target}"

mkdir -p perf/results
out="perf/results/relay-$(date -u +%Y-%m-%d).md"
if [ -e "$out" ]; then
    out="perf/results/relay-$(date -u +%Y-%m-%d-%H%M).md"
fi
# On a shared 2-core host other tenants' processes preempt the system under test and the generator
# and the numbers measure the scheduler. SCHED_FIFO 10 (root or CAP_SYS_NICE) keeps them from
# doing so; the kernel's RT throttling still leaves 5% of each period to everyone else. Without
# the permission, fall back to nice -n -10, then to nothing.
if chrt -f 10 true 2>/dev/null; then
    priority=(chrt -f 10)
elif nice -n -10 true 2>/dev/null; then
    priority=(nice -n -10)
else
    priority=()
fi
# 10,000 calls: 4 sockets each, 40,000 in all. RLIMIT_NOFILE (20,000 here) caps each io_uring
# ring's registered-file table, so the SUT runs 2 shards (bare: 2 processes), one per CPU.
sut_cpus=0,1
if [ "$(nproc)" -lt 2 ]; then
    sut_cpus=0
fi
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    # Ephemeral ports (the generator's and the SIP sockets') above the media ports.
    netns=(unshare -n sh -c 'ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="60500 65000" && exec "$@"' sh)
else
    netns=()
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"${netns[@]}" "${priority[@]}" "$target_dir/release/examples/relay" --calls 1000,5000,10000 \
    --io uring,epoll --relay-cpu "$sut_cpus" --out "$out" "$@"
{
    echo
    echo "Host: $(nproc) CPUs, kernel $(uname -r); load average before the run: ${load_before}, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Priority: \`${priority[*]:-default}\` (SUT and generator); network namespace: \`${netns[*]:-none}\`."
    echo "Script: \`scripts/perf.sh $*\`"
} >> "$out"
echo "results: $out"
