#!/usr/bin/env bash
# Issue 12, "Steering": how the calls of ONE trunk (SIPp's built-in uac on one ip:port) spread
# over handoff's shards, under sbc.sip_steering = "hash" and "cpu".
#
#   perf/spread.sh [--rate 2000] [--duration 20] [--modes hash,cpu] [--io uring,epoll]
#                  [--bin target/release/handoff] [--no-build] [--out FILE]
#
# Root only. Per backend and mode: a private network namespace (`spread-PID`), handoff with
# `shards = 2`, `cpus = [0, 1]`, admin on; SIPp uas (trunk "platform") and SIPp uac (trunk
# "carrier", every call from 127.0.0.1:41070) placing RATE calls/s for DURATION s (INVITE/100/
# 180/200/ACK/BYE with SDP, no RTP). Ports: 41000-41999 only (SIP 41060, admin 41090, uac 41070,
# uas 41080, SIPp media 41010/41020, handoff media 41100-41899, ephemeral 41900-41999).
# Reports per shard, from handoff's /metrics after the uac exits: SIP datagrams read
# (handoff_shard_sip_datagrams_read_total), passed on to their owner
# (handoff_shard_sip_datagrams_passed_total), calls owned (handoff_shard_calls_started_total),
# and the shard thread's CPU (utime + stime of /proc/PID/task/TID/stat, thread "shard-N", over
# the uac's run). Writes a Markdown table to stdout and to --out when given.
# Waits are on conditions (a port bound, /readyz answering, a process gone), never fixed sleeps.
set -euo pipefail

rate=2000 duration=20 modes=hash,cpu ios=uring,epoll out="" build=1
repo=$(cd "$(dirname "$0")/.." && pwd)
# render_config: handoff's config from perf/two-trunks.toml.
source "$repo/perf/config.sh"
bin=""
while [ $# -gt 0 ]; do
    case $1 in
        --rate) rate=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --io) ios=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "spread.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "spread.sh: run as root (network namespace)" >&2; exit 2; }
command -v sipp >/dev/null || { echo "spread.sh: sipp missing (apt-get install sip-tester)" >&2; exit 2; }
if [ -z "$bin" ]; then
    target=${CARGO_TARGET_DIR:-$repo/target}
    bin=$target/release/handoff
    if [ "$build" = 1 ]; then
        (cd "$repo" && cargo build --release --bin handoff >&2)
    fi
fi
[ -x "$bin" ] || { echo "spread.sh: no handoff binary at $bin" >&2; exit 2; }

SIP=41060 ADMIN=41090 UAC=41070 UAS=41080
hz=$(getconf CLK_TCK)
ns="" work=$(mktemp -d)

log() { echo "spread: $*" >&2; }
wait_until() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}
namespace_empty() { [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; }
stop_namespace() {
    [ -n "$ns" ] || return 0
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
    wait_until 10 namespace_empty || {
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        wait_until 5 namespace_empty || true
    }
    ip netns del "$ns" 2>/dev/null || true
    ns=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_namespace
    if [ "$rc" = 0 ]; then rm -rf "$work"; else log "work directory kept: $work"; fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

udp_bound() { grep -q -- "$(printf ':%04X ' "$2")" "/proc/$1/net/udp" 2>/dev/null; }
ready() { ip netns exec "$ns" curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/readyz"; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# utime + stime of the thread named $2 of process $1 (clock ticks).
thread_ticks() {
    local task
    for task in /proc/"$1"/task/*; do
        if [ "$(cat "$task/comm" 2>/dev/null)" = "$2" ]; then
            awk '{print $14 + $15}' "$task/stat"
            return
        fi
    done
    echo 0
}
process_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # metric FILE NAME SHARD
    awk -v want="$2{shard=\"$3\"}" '$1 == want { print $2 }' "$1"
}
csv_col() { # csv_col FILE COLUMN: the last row's value of COLUMN
    local col
    col=$(head -1 "$1" | tr ';' '\n' | grep -n -x -- "$2" | cut -d: -f1)
    tail -1 "$1" | cut -d';' -f"$col"
}

rows=""
run_one() {
    local io=$1 mode=$2 dir=$work/$1-$2
    mkdir -p "$dir"
    ns="spread-$$"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="41900 41999"
    render_config "$dir/handoff.toml" listen="127.0.0.1:$SIP" admin="127.0.0.1:$ADMIN" \
        shards=2 io="$io" media_start=41100 media_end=41900 audit="$dir/audit.jsonl" \
        carrier="127.0.0.1:$UAC" platform="127.0.0.1:$UAS" \
        sbc_extra="cpus = [0, 1]
sip_steering = \"$mode\""
    ip netns exec "$ns" "$bin" --config "$dir/handoff.toml" --log-level info 2>"$dir/handoff.log" &
    local hpid=$!
    wait_until 30 ready || { log "handoff not ready"; cat "$dir/handoff.log" >&2; return 1; }
    ip netns exec "$ns" sipp -i 127.0.0.1 -p $UAS -mp 41020 -nostdin -sn uas >/dev/null 2>&1 &
    local uas=$!
    wait_until 30 udp_bound "$uas" $UAS || { log "sipp uas did not bind"; return 1; }
    local steering
    steering=$(grep -o 'sip steering: [a-z]*' "$dir/handoff.log" | head -1 | cut -d' ' -f3 || true)
    local s0a s1a pa s0b s1b pb
    s0a=$(thread_ticks "$hpid" shard-0) s1a=$(thread_ticks "$hpid" shard-1) pa=$(process_ticks "$hpid")
    local calls=$((rate * duration)) t0=$SECONDS
    ip netns exec "$ns" sipp -i 127.0.0.1 -p $UAC -mp 41010 -nostdin -sn uac -s 15551234567 \
        -m "$calls" -r "$rate" -timeout $((duration + 60))s -trace_stat -stf "$dir/uac.csv" \
        127.0.0.1:$SIP >/dev/null 2>&1 || true
    local elapsed=$((SECONDS - t0))
    s0b=$(thread_ticks "$hpid" shard-0) s1b=$(thread_ticks "$hpid" shard-1) pb=$(process_ticks "$hpid")
    # The shards publish their counters at most every 200 ms: wait until every call is counted.
    local ok failed retrans
    ok=$(csv_col "$dir/uac.csv" 'SuccessfulCall(C)')
    failed=$(csv_col "$dir/uac.csv" 'FailedCall(C)')
    retrans=$(csv_col "$dir/uac.csv" 'Retransmissions(C)')
    started_all() {
        ip netns exec "$ns" curl -sf "http://127.0.0.1:$ADMIN/metrics" >"$dir/metrics.txt" || return 1
        local a b
        a=$(metric "$dir/metrics.txt" handoff_shard_calls_started_total 0)
        b=$(metric "$dir/metrics.txt" handoff_shard_calls_started_total 1)
        [ $((a + b)) -ge $((ok + failed)) ]
    }
    wait_until 10 started_all || log "$io/$mode: calls started below the uac's count (metrics as last read)"
    kill -TERM "$hpid"; wait_until 30 gone "$hpid" || true
    kill -TERM "$uas" 2>/dev/null || true
    stop_namespace
    local shard r p c cpu
    for shard in 0 1; do
        r=$(metric "$dir/metrics.txt" handoff_shard_sip_datagrams_read_total $shard)
        p=$(metric "$dir/metrics.txt" handoff_shard_sip_datagrams_passed_total $shard)
        c=$(metric "$dir/metrics.txt" handoff_shard_calls_started_total $shard)
        if [ $shard = 0 ]; then cpu=$((s0b - s0a)); else cpu=$((s1b - s1a)); fi
        rows+="| $io | $mode ($steering) | $shard | $r | $p | $c | $(awk -v t="$cpu" -v hz="$hz" -v s="$elapsed" 'BEGIN { printf "%.2f s (%.0f%%)", t / hz, 100 * t / hz / s }') |"$'\n'
    done
    rows+="| $io | $mode | all | ok $ok, failed $failed, retransmissions $retrans | | | process $(awk -v t=$((pb - pa)) -v hz="$hz" -v s="$elapsed" 'BEGIN { printf "%.2f s (%.0f%% of one core)", t / hz, 100 * t / hz / s }') over ${elapsed} s |"$'\n'
    log "$io/$mode done: ok=$ok failed=$failed"
}

IFS=, read -r -a io_list <<<"$ios"
IFS=, read -r -a mode_list <<<"$modes"
for io in "${io_list[@]}"; do
    for mode in "${mode_list[@]}"; do
        run_one "$io" "$mode"
    done
done

report() {
    echo "Command: \`perf/spread.sh --rate $rate --duration $duration --modes $modes --io $ios\`"
    echo
    echo "Host: $(nproc) cpus, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| io | sip_steering (in effect) | shard | SIP datagrams read | passed on | calls owned | shard thread CPU |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    printf '%s' "$rows"
}
if [ -n "$out" ]; then report | tee "$out"; else report; fi
