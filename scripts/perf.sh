#!/usr/bin/env bash
# Runs perf/relay (release build): handoff's RTP relay against a bare forwarder, for N = 1,000 and
# 5,000 calls, io_uring beside epoll, and writes perf/results/relay-<date>.md (with the command line).
# Extra arguments go to the relay tool, e.g. `scripts/perf.sh --seconds 20` or `--calls 2000`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bin handoff --example relay

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
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"${priority[@]}" target/release/examples/relay --calls 1000,5000 --io uring,epoll --out "$out" "$@"
{
    echo
    echo "Host: $(nproc) CPUs, kernel $(uname -r); load average before the run: ${load_before}, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Priority: \`${priority[*]:-default}\` (SUT and generator)."
    echo "Script: \`scripts/perf.sh $*\`"
} >> "$out"
echo "results: $out"
