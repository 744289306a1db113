#!/usr/bin/env bash
# Issue 12, "no socket syscalls per call": SIPp's built-in uac -> handoff -> SIPp's built-in uas
# (INVITE/100/180/200/ACK/BYE with SDP, no RTP, calls not held), at RATE calls/s for SECONDS, in
# a private network namespace (run as root: unshare -n). Prints the calls that succeeded and
# failed, and handoff's own CPU time (utime + stime of the whole process, /proc/PID/stat) per
# successful call: compare two binaries (before/after) side by side.
#
#   perf/pool-cps.sh HANDOFF_BINARY IO RATE SECONDS [MEDIA_PORTS]
#   e.g. unshare -n perf/pool-cps.sh target/release/handoff uring 2000 10
set -eu
# render_config: handoff's config from perf/two-trunks.toml.
source "$(dirname "$0")/config.sh"
bin=$1 io=$2 rate=$3 seconds=$4 ports=${5:-20000}
work=$(mktemp -d)
ip link set lo up
render_config "$work/h.toml" listen=127.0.0.1:5060 admin=off shards=2 io="$io" \
    media_start=20000 media_end=$((20000 + ports)) audit="$work/audit.jsonl" \
    carrier=127.0.0.1:5080 platform=127.0.0.1:5070 sbc_extra=
"$bin" --config "$work/h.toml" --log-level warn 2>"$work/handoff.log" &
hpid=$!
sleep 1
sipp -i 127.0.0.1 -p 5070 -mp 7000 -nostdin -sn uas >/dev/null 2>&1 &
uas=$!
sleep 0.5
ticks() { awk '{print $14 + $15}' /proc/$hpid/stat; }
t0=$(ticks)
calls=$((rate * seconds))
sipp -i 127.0.0.1 -p 5080 -mp 7100 -nostdin -sn uac -s 15551234567 -m $calls -r $rate \
  -timeout $((seconds + 30))s -trace_stat -stf "$work/uac.csv" 127.0.0.1:5060 >/dev/null 2>&1 || true
t1=$(ticks)
kill $uas 2>/dev/null || true
kill -TERM $hpid; wait $hpid || true
hz=$(getconf CLK_TCK)
head -1 "$work/uac.csv" | tr ';' '\n' | grep -n -E '^SuccessfulCall\(C\)$|^FailedCall\(C\)$' >"$work/cols" || true
okcol=$(grep SuccessfulCall "$work/cols" | cut -d: -f1)
failcol=$(grep FailedCall "$work/cols" | cut -d: -f1)
ok=$(tail -1 "$work/uac.csv" | cut -d';' -f"$okcol")
failed=$(tail -1 "$work/uac.csv" | cut -d';' -f"$failcol")
cpu_ms=$(( (t1 - t0) * 1000 / hz ))
us_per_call=$(awk -v c=$cpu_ms -v n=$ok 'BEGIN { if (n > 0) printf "%.1f", c * 1000 / n; else print "-" }')
echo "io=$io rate=$rate seconds=$seconds ok=$ok failed=$failed handoff_cpu_ms=$cpu_ms cpu_us_per_call=$us_per_call"
rm -rf "$work"
