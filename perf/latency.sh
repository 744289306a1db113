#!/usr/bin/env bash
# perf/latency.sh: the relay's added latency at half of the maximum load (issue 12: "added relay
# latency p99 < 200 µs at 50% of the maximum load"), with perf/relay.
#
#   perf/latency.sh [--search 1000,1500,2000,2500,3000] [--calls N] [--rounds 5]
#                   [--sut-cpu 1] [--gen-cpu 0] [--cpu-dma-latency US] [--isolate] [--out FILE]
#                   [--no-build]
#
# Root only (a network namespace of its own, SCHED_FIFO 10 as scripts/perf.sh). The system under
# test (handoff with one shard, or the bare forwarder) is pinned to --sut-cpu, the generator (its
# sender and receiver) to --gen-cpu, so neither takes the other's CPU.
# 1. The maximum load: perf/relay at each N of --search (50 packets/s per direction per call,
#    handoff and bare, io_uring and epoll); the maximum is the highest N where every row holds
#    (all calls with media, < 0.01% loss, >= 95% of the target offered and relayed).
#    --calls N skips the search and measures at N.
# 2. --rounds rounds at half of it (or at --calls): the generator alone (`--io loopback`: its own
#    floor), then bare and handoff on both backends.
# Latency is read from the `hop` columns: the send stamp to the kernel's receive stamp on the
# generator's socket (perf/README.md), i.e. without the generator's receiver thread's wake-up.
# The table gives every round and, per row, the median over the rounds.
#
# --cpu-dma-latency US holds /dev/cpu_dma_latency at US for the run (the PM QoS request tuned's
# latency-performance profile makes): idle CPUs then stay in shallow idle states (0: poll), so a
# wake-up does not pay a deep C-state's or, in a VM, a halted vCPU's exit latency.
#
# --isolate moves every thread that may move off --sut-cpu for the run and puts each back after
# (what `tuna --isolate` or isolcpus= do on an edge host): on this kernel (PREEMPT_NONE) a
# SCHED_FIFO thread that wakes waits for whatever kernel thread runs on its CPU to reach a
# scheduling point, e.g. kdamond.0 (DAMON) for up to ~1 ms, kworkers for up to 3 ms.
set -euo pipefail

command_line="perf/latency.sh${*:+ $*}"
search=1000,1500,2000,2500,3000 calls="" rounds=5 sut_cpu=1 gen_cpu=0 dma="" out="" build=1 isolate=0
repo=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
    case $1 in
        --search) search=$2; shift 2 ;;
        --calls) calls=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --sut-cpu) sut_cpu=$2; shift 2 ;;
        --gen-cpu) gen_cpu=$2; shift 2 ;;
        --cpu-dma-latency) dma=$2; shift 2 ;;
        --isolate) isolate=1; shift ;;
        --out) out=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "perf/latency.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "perf/latency.sh: run as root (network namespace, SCHED_FIFO)" >&2; exit 2; }
cd "$repo"
if [ "$build" = 1 ]; then
    nice cargo build --release --bin handoff --example relay
fi
relay="${CARGO_TARGET_DIR:-target}/release/examples/relay"
[ -n "$out" ] || out="perf/results/latency-$(date -u +%Y-%m-%d-%H%M).md"
work=$(mktemp -d)
restore_affinity() { # puts every thread --isolate moved back on the CPUs it had
    [ -f "$work/affinity" ] || return 0
    while read -r tid mask; do taskset -pc "$mask" "$tid" >/dev/null 2>&1 || true; done <"$work/affinity"
}
trap 'restore_affinity; rm -rf "$work"; [ -n "${dma_pid:-}" ] && kill "$dma_pid" 2>/dev/null || true' EXIT

isolation=none
if [ "$isolate" = 1 ]; then
    # What `tuna --cpus=SUT --isolate` or isolcpus= give a deployment: every thread that may move
    # (user processes, kdamond, unbound kworkers...) leaves the SUT's CPU for the run; per-CPU
    # kernel threads cannot and stay. Threads started later (the tool, handoff) inherit the mask
    # from this shell, and the tool pins the SUT's thread to --sut-cpu itself.
    others=$(seq 0 $(($(nproc --all) - 1)) | grep -vx "$sut_cpu" | paste -sd, -)
    for tid in $(ps -eLo tid=); do
        mask=$(taskset -pc "$tid" 2>/dev/null | sed 's/.*: //') || continue
        [ -n "$mask" ] && echo "$tid $mask"
    done >"$work/affinity.all"
    moved=0 stayed=0
    while read -r tid mask; do
        if taskset -pc "$others" "$tid" >/dev/null 2>&1; then
            echo "$tid $mask" >>"$work/affinity"
            moved=$((moved + 1))
        else
            stayed=$((stayed + 1))
        fi
    done <"$work/affinity.all"
    isolation="$moved threads moved to cpu $others for the run ($stayed per-CPU kernel threads cannot move)"
    echo "latency: isolation: $isolation" >&2
fi

if [ -n "$dma" ]; then
    # The request holds while the file stays open; it ends with the holder.
    python3 -c 'import os, struct, sys, time
fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
os.write(fd, struct.pack("i", int(sys.argv[1])))
time.sleep(1e9)' "$dma" &
    dma_pid=$!
fi

run_relay() { # run_relay ARGS... : the tool in its own namespace, SCHED_FIFO 10
    unshare -n sh -c 'ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="60500 65000" && exec "$@"' sh \
        chrt -f 10 "$relay" --relay-cpu "$sut_cpu" --generator-cpu "$gen_cpu" --settle 0 "$@"
}

# Rows of a relay --out table: "| calls | io | SUT | ... |" -> fields by name below.
rows() { grep -E '^\| [0-9]+ \| (uring|epoll) \|' "$1" || true; }
field() { awk -F'|' -v n="$2" '{ gsub(/^ +| +$/, "", $(n + 1)); print $(n + 1) }' <<<"$1"; }
# Column numbers (1-based, after the leading |) of the relay tool's table.
C_CALLS=1 C_IO=2 C_SUT=3 C_HOP=13 C_CPU=14 C_HOLDS=18

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
search_lines=()
if [ -z "$calls" ]; then
    max=0
    for n in ${search//,/ }; do
        run_relay --calls "$n" --io uring,epoll --out "$work/search-$n.md" >"$work/search-$n.log" 2>&1 || true
        all=$(rows "$work/search-$n.md")
        holds=yes
        [ -n "$all" ] || holds=no
        while IFS= read -r row; do
            [ -n "$row" ] || continue
            [ "$(field "$row" $C_HOLDS)" = yes ] || holds=no
        done <<<"$all"
        search_lines+=("| $n | $holds |")
        echo "latency: $n calls: holds $holds" >&2
        if [ "$holds" = yes ]; then max=$n; else break; fi
    done
    [ "$max" -gt 0 ] || { echo "perf/latency.sh: not even ${search%%,*} calls hold" >&2; exit 1; }
    calls=$((max / 2))
fi
echo "latency: measuring at $calls calls, $rounds rounds" >&2

declare -A samples
round_lines=()
for r in $(seq 1 "$rounds"); do
    line=$(run_relay --calls "$calls" --io loopback 2>&1 | grep -E '^ *loopback:' | tail -1)
    hop=$(sed -E 's#.*hop p50/p99/p99.9 ([0-9]+)/([0-9]+)/([0-9]+) µs.*#\1 / \2 / \3#' <<<"$line")
    round_lines+=("| $r | - | loopback (generator alone) | $hop | - | - |")
    samples["loopback"]+="$(awk -F' / ' '{print $2}' <<<"$hop") "
    run_relay --calls "$calls" --io uring,epoll --out "$work/round-$r.md" >"$work/round-$r.log" 2>&1 || true
    while IFS= read -r row; do
        [ -n "$row" ] || continue
        io=$(field "$row" $C_IO) sut=$(field "$row" $C_SUT) hop=$(field "$row" $C_HOP)
        round_lines+=("| $r | $io | $sut | $hop | $(field "$row" $C_CPU) | $(field "$row" $C_HOLDS) |")
        samples["$io $sut"]+="$(awk -F' / ' '{print $2}' <<<"$hop") "
    done < <(rows "$work/round-$r.md")
done

median() { tr ' ' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
{
    echo "# Relay latency at half of the maximum load"
    echo
    echo "Made by \`$command_line\` on $(date -u '+%Y-%m-%d %H:%M') UTC, handoff $(git rev-parse --short HEAD)."
    echo "Host: $(nproc --all) CPUs, kernel $(uname -r); load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "cpu_dma_latency request: ${dma:-none}; cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo '?')."
    echo "Isolation of the SUT's CPU (\`--isolate\`): $isolation."
    echo
    echo "The SUT (handoff with 1 shard, or the bare forwarder) on cpu $sut_cpu, the generator on cpu $gen_cpu,"
    echo "SCHED_FIFO 10, 50 packets/s per direction per call, 100 µs slots, 10 s windows."
    echo "Latency: the \`hop\` (send stamp -> the kernel's receive stamp on the generator's socket), in µs."
    if [ ${#search_lines[@]} -gt 0 ]; then
        echo
        echo "## The maximum load (every row of both SUTs and both backends holds)"
        echo
        echo "| calls | holds |"
        echo "| ---: | --- |"
        printf '%s\n' "${search_lines[@]}"
    fi
    echo
    echo "## Median p99 over the rounds, at $calls calls"
    echo
    echo "| io | SUT | hop p99 µs (median of $rounds) | every round's p99 |"
    echo "| --- | --- | ---: | --- |"
    for key in loopback "uring bare" "uring handoff" "epoll bare" "epoll handoff"; do
        [ -n "${samples[$key]:-}" ] || continue
        io=${key%% *} sut=${key#* }
        [ "$key" = loopback ] && io=- sut="loopback (generator alone)"
        echo "| $io | $sut | $(median <<<"${samples[$key]}") | ${samples[$key]% } |"
    done
    echo
    echo "## Every round"
    echo
    echo "| round | io | SUT | hop p50 / p99 / p99.9 µs | SUT CPU, cores | holds |"
    echo "| ---: | --- | --- | --- | ---: | --- |"
    printf '%s\n' "${round_lines[@]}"
} >"$out"
echo "latency: results: $out" >&2
