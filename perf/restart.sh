#!/usr/bin/env bash
# perf/restart.sh: how long a supervisor's restart of handoff takes, with the default media range.
#
# For each backend form (io_uring; io_uring in its Linux 5.15 forms, HANDOFF_URING_WITHOUT=all;
# epoll) it runs the release binary with the default `media_ports` ([20000, 40000): 20,000
# ports) and 2 shards, in a private network namespace, and restarts it --cycles times as a
# supervisor does: SIGTERM, wait for the exit, start the new process at once
# (perf/restart.py). Before each stop the running process has its whole media pool open.
# Reported per cycle, then as p50/p90/max:
#   stop -> serving   SIGTERM to the old process -> the new one's "serving" log line
#   stop -> answers   SIGTERM -> the first 200 to an OPTIONS sent every millisecond
#   TERM -> exit      the old process
#   exec -> serving   the new process
#   stop -> pool      SIGTERM -> the new process's media pool complete (every pair open)
# A cycle whose logs say "in use", or whose old process exits non-zero, fails the run.
#
#   perf/restart.sh                      # 20 cycles per form, writes perf/results/restart-<date>.md
#   perf/restart.sh --cycles 5 --forms uring
#   perf/restart.sh --binary /tmp/handoff-old --out /tmp/old.md    # another build, same protocol
set -Eeuo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
command_line="perf/restart.sh${*:+ $*}"
cycles=20
forms="uring,uring-5.15,epoll"
shards=2
binary=""
out=""
build=1

usage() {
    cat <<'EOF'
perf/restart.sh [options]
  --cycles N     stop/start cycles per form (default 20)
  --forms LIST   uring,uring-5.15,epoll (default: all three)
  --shards N     handoff's shards (default 2)
  --binary PATH  the handoff binary to measure (default: the release build, built first)
  --no-build     do not build (use the existing release binary)
  --out FILE     the markdown report (default perf/results/restart-<UTC date>.md)
Environment: CARGO_TARGET_DIR (where the release binary is built/found).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) cycles=$2; shift 2 ;;
        --forms) forms=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --binary) binary=$2; build=0; shift 2 ;;
        --no-build) build=0; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "$binary" ]; then
    binary=$target/release/handoff
fi
if [ "$build" = 1 ]; then
    (cd "$repo" && cargo build --release --bin handoff)
fi
[ -x "$binary" ] || { echo "no handoff binary at $binary" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
command -v unshare >/dev/null || { echo "unshare (util-linux) is needed" >&2; exit 1; }
out=${out:-$repo/perf/results/restart-$(date -u +%Y-%m-%d).md}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

config() { # io
    cat <<EOF
[sbc]
listen = "127.0.0.1:43060"
advertise = "127.0.0.1"
admin = "off"
options_interval_s = 0
shards = $shards
io = "$1"
audit = "$work/audit.jsonl"
drain_s = 30
# media_ports: the default, [20000, 40000)

[[trunk]]
name = "carrier"
peer = "127.0.0.1:5080"
transfer = "refer"
country_code = "1"

[[trunk]]
name = "platform"
role = "platform"
peer = "127.0.0.1:5070"
transfer = "refer"
country_code = "1"

[[route]]
from = "carrier"
to = "platform"
EOF
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=()
status=0
for form in ${forms//,/ }; do
    case "$form" in
        uring) io=uring; without="" ;;
        uring-5.15) io=uring; without=all ;;
        epoll) io=epoll; without="" ;;
        *) echo "unknown form $form" >&2; exit 2 ;;
    esac
    config "$io" > "$work/$form.toml"
    echo "== $form" >&2
    # A private network namespace: nothing else holds the ports, and the media range may
    # overlap the ephemeral range (the driver's only socket has a fixed port).
    if ! unshare -n sh -c 'ip link set lo up && exec python3 "$@"' sh \
        "$repo/perf/restart.py" "$binary" "$work/$form.toml" 127.0.0.1 43060 "$form" "$without" \
        "$cycles" > "$work/$form.jsonl"; then
        status=1
    fi
    cat "$work/$form.jsonl" >&2
    results+=("$form")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work" "$out" "$command_line" "$load_before" "$load_after" "$(uname -r)" "$(nproc)" \
    "${results[@]}" <<'PY'
import json, sys
work, out, command, load_before, load_after, kernel, cpus, *forms = sys.argv[1:]
lines = []
lines.append(f"# Restart with the default media range (issue 12), {__import__('datetime').datetime.utcnow():%Y-%m-%d %H:%M} UTC\n")
lines.append(f"Command: `{command}`  ")
lines.append(f"Host: {cpus} CPUs shared with other tenants' builds, Linux {kernel}; load average "
             f"(1/5/15 min) {load_before} before, {load_after} after.  ")
lines.append("handoff: release build, 2 shards, `media_ports` default [20000, 40000) (20,000 ports, "
             "10,000 per shard), `--log-level info`, in a private network namespace. Each cycle: "
             "SIGTERM to a handoff whose media pool is complete, wait for its exit, start the new "
             "one at once (perf/restart.py).\n")
lines.append("| form | cycles | stop -> serving p50 / p90 / max (ms) | stop -> first OPTIONS answered p50 / max | TERM -> exit p50 / max | exec -> serving p50 / max | stop -> media pool complete p50 / max | failures |")
lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
for form in forms:
    rows, summary = [], None
    for line in open(f"{work}/{form}.jsonl"):
        obj = json.loads(line)
        if "summary" in obj:
            summary = obj["summary"]
        else:
            rows.append(obj)
    if summary is None:
        lines.append(f"| {form} | - | run failed | | | | | |")
        continue
    def cell(key, full=False):
        v = summary.get(key)
        if not v:
            return "-"
        return f"{v['p50']} / {v['p90']} / {v['max']}" if full else f"{v['p50']} / {v['max']}"
    lines.append(f"| {form} | {summary['cycles']} | {cell('stop_to_serving_ms', True)} | "
                 f"{cell('stop_to_answer_ms')} | {cell('term_to_exit_ms')} | "
                 f"{cell('exec_to_serving_ms')} | {cell('stop_to_pool_ms')} | "
                 f"{len(summary['failures'])} |")
lines.append("")
lines.append("Per cycle, stop -> serving (ms):\n")
for form in forms:
    vals = []
    for line in open(f"{work}/{form}.jsonl"):
        obj = json.loads(line)
        if "cycle" in obj:
            vals.append(str(obj["stop_to_serving_ms"]))
    lines.append(f"- {form}: {', '.join(vals)}")
lines.append("")
with open(out, "w") as f:
    f.write("\n".join(lines))
print(out)
PY
exit $status
