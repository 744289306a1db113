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
target/release/examples/relay --calls 1000,5000 --io uring,epoll --out "$out" "$@"
{
    echo
    echo "Host: $(nproc) CPUs, kernel $(uname -r), load average before the run's end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Script: \`scripts/perf.sh $*\`"
} >> "$out"
echo "results: $out"
