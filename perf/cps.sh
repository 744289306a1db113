#!/usr/bin/env bash
# perf/cps.sh: calls per second through handoff, beside Kamailio+rtpengine and direct SIPp, in one run.
#
# For each path (direct SIPp uac -> uas; handoff io_uring; handoff epoll; Kamailio 5.6 + rtpengine)
# and each call shape (setup: INVITE/200/ACK/BYE with SDP; held: the same, held --hold seconds with
# RTP both ways), it searches the highest rate that holds --duration seconds with under 0.1% failed
# calls and at least 95% of the target rate achieved. The paths take their steps in turn (one step
# of each path, then the next round), so a change in the host's background load hits all of them.
# Every step starts its processes afresh in a private network namespace and stops them after.
# Results come from SIPp's statistics files (its per-second rows and the final one) and its
# per-call response times (-trace_rtt), CPU from /proc/<pid>/stat. The table goes to perf/results/cps-<date>.md; see perf/README.md.
#
#   perf/cps.sh                          # the full search, 60 s steps (long: an hour or more)
#   perf/cps.sh --duration 20            # 20 s steps
#   perf/cps.sh --rates 100,200 --duration 3 --shapes setup   # a smoke run: fixed rates, no search
#   perf/cps.sh --help
set -Eeuo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# render_config: handoff's config from perf/two-trunks.toml.
source "$repo/perf/config.sh"
command_line="perf/cps.sh${*:+ $*}"

# ---------------------------------------------------------------------------------------------
# Options

paths="direct,uring,epoll,kamailio"
shapes="setup,held"
duration=60
hold=5
gap_ms=100
start_rate=1000
held_start_rate=50
until=""
max_rate=20000
factor=2
resolution=10
fixed_rates=""
shards=0
kamailio_children=8
out=""
keep=0
install=1
build=1
sipp_trace=()
profile=0
sipp_buffer=4194304

usage() {
    cat <<'EOF'
perf/cps.sh [options]
  --paths LIST      direct,uring,epoll,kamailio (default: all four)
  --shapes LIST     setup,held (default: both)
  --duration S      seconds of calls per step, the time a rate must hold (default 60)
  --hold S          how long a "held" call lasts, with RTP both ways (default 5)
  --gap MS          setup shape: the pause between ACK and BYE (default 100; see perf/sipp/uac.xml)
  --start R         the ramp's first rate in calls/s, setup shape (default 1000)
  --held-start R    the same for the held shape (default 50)
  --factor F        the ramp multiplies the rate by F until a step fails (default 2)
  --max R           the highest rate tried (default 20000)
  --resolution P    then bisect until the gap is at most P% of the passing rate (default 10)
  --rates LIST      run exactly these rates per path (no search), e.g. for a smoke run
  --until HH:MM     start no step that would end after this UTC time; the table has what ran
  --shards N        handoff's shards (default 0: one per CPU)
  --kamailio-children N   Kamailio's UDP worker processes (default 8, Kamailio's own default)
  --out FILE        the markdown table (default perf/results/cps-<UTC date>[-HHMM].md)
  --keep            keep the work directory (configs, logs, SIPp statistics) after the run
  --no-install      do not install the Debian packages (fail if missing)
  --no-build        use the existing release binary
  --sipp-trace      SIPp writes every message it sends and receives (-trace_msg; with --keep)
  --sipp-buffer B   SIPp's socket send and receive buffers (-buff_size; default 4194304; SIPp's
                    own default, 65535, drops the SUT's bursts: see perf/README.md)
  --profile         perf record -e cpu-clock of handoff during each of its steps; the report
                    gets each step's top symbols (the profiler's cost is in that step's figures)
Environment: CARGO_TARGET_DIR (where the release binary is built/found).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --paths) paths=$2; shift 2 ;;
        --shapes) shapes=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --hold) hold=$2; shift 2 ;;
        --gap) gap_ms=$2; shift 2 ;;
        --start) start_rate=$2; shift 2 ;;
        --held-start) held_start_rate=$2; shift 2 ;;
        --until) until=$2; shift 2 ;;
        --factor) factor=$2; shift 2 ;;
        --max) max_rate=$2; shift 2 ;;
        --resolution) resolution=$2; shift 2 ;;
        --rates) fixed_rates=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --kamailio-children) kamailio_children=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --no-install) install=0; shift ;;
        --no-build) build=0; shift ;;
        --sipp-trace) sipp_trace=(-trace_msg); shift ;;
        --profile) profile=1; shift ;;
        --sipp-buffer) sipp_buffer=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "cps.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

IFS=, read -r -a path_list <<<"$paths"
IFS=, read -r -a shape_list <<<"$shapes"

# Addresses inside the private namespace: nothing else listens there, so they are fixed.
readonly SUT_PORT=5060 UAC_PORT=5070 UAS_PORT=5080 NG_PORT=2223
readonly UAC_MEDIA=10000 UAS_MEDIA=10100
readonly HANDOFF_MEDIA_START=20000 HANDOFF_MEDIA_END=60000
readonly RTPENGINE_MIN=20000 RTPENGINE_MAX=59999
# The namespace's ephemeral ports, clear of every fixed port above.
readonly EPHEMERAL="61000 65000"
# Pass: under 0.1% failed calls and at least 95% of the target rate.
readonly MAX_FAILED_PER_MILLE=1 MIN_ACHIEVED_PERCENT=95
CLK_TCK=$(getconf CLK_TCK)
readonly CLK_TCK

log() { printf '%s cps: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Set-up: packages, binary, namespace, work directory

# Installs the Debian packages a path needs, only those not installed yet.
ensure_packages() {
    local wanted=(sip-tester procps iproute2) missing=() pkg
    if has_path kamailio; then wanted+=(kamailio rtpengine-daemon); fi
    if [ "$profile" = 1 ]; then wanted+=(linux-perf); fi
    for pkg in "${wanted[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$install" = 1 ] || die "missing packages: ${missing[*]} (run without --no-install)"
    log "installing ${missing[*]}"
    # The packages' services must not start on their own (they would take the host's 5060):
    # policy-rc.d exit 101 forbids it for the duration of the install (Debian's convention). A
    # subshell whose exit puts the host's own policy back, whether the install worked or not.
    (
        policy=/usr/sbin/policy-rc.d
        saved=""
        if [ -e "$policy" ]; then saved=$(mktemp); cp -p "$policy" "$saved"; fi
        trap 'if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi' EXIT
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
    )
    # The Debian packages enable their services for the next boot; this script runs its own
    # instances, and a boot-time Kamailio would hold the host's 5060. Only for what it installed.
    local service
    for service in kamailio rtpengine-daemon; do
        if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
            if systemctl disable "$service" >/dev/null 2>&1; then
                log "disabled the $service service (installed for this harness)"
            fi
        fi
    done
}

has_path() { [[ ",$paths," == *",$1,"* ]]; }
has_handoff() { has_path uring || has_path epoll; }

build_handoff() {
    target=${CARGO_TARGET_DIR:-$repo/target}
    handoff_bin=$target/release/handoff
    if [ "$build" = 1 ] && has_handoff; then
        (cd "$repo" && nice cargo build --release --bin handoff)
    fi
    if has_handoff; then
        [ -x "$handoff_bin" ] || die "no release binary at $handoff_bin"
    fi
}

ns=""
work=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM ERR
    [ "$rc" = 0 ] || log "stopping (exit status $rc)"
    if [ -n "$ns" ]; then
        stop_namespace_processes
        ip netns del "$ns" 2>/dev/null || true
    fi
    if [ -n "$work" ]; then
        if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
            log "work directory kept: $work"
        else
            rm -rf "$work"
        fi
    fi
    exit "$rc"
}

# Every process in our namespace is one this script started: TERM them, then KILL what is left.
stop_namespace_processes() {
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    wait_until 5 namespace_empty || {
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
        wait_until 5 namespace_empty || true
    }
}
namespace_empty() { [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; }

make_namespace() {
    ns="cps-$$"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="$EPHEMERAL"
    # Calls take file descriptors (SIPp's RTP streams, handoff's media sockets).
    ulimit -n "$(ulimit -Hn)"
}

# Background starts call `ip netns exec` directly, never through a function: `$!` must be the
# process itself (ip execs the command), not a subshell left in the host namespace.

# ---------------------------------------------------------------------------------------------
# Waiting for conditions (never a fixed sleep)

# wait_until SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds, or fails after SECONDS.
wait_until() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}

# Whether process PID has a UDP socket bound to PORT in its namespace's table.
udp_bound() {
    local pid=$1 port
    port=$(printf ':%04X ' "$2")
    [ -r "/proc/$pid/net/udp" ] && grep -q -- "$port" "/proc/$pid/net/udp"
}
alive() { kill -0 "$1" 2>/dev/null; }
exited() { ! alive "$1"; }

# wait_bound NAME PID PORT LOG: the process bound its port, or its log is shown and the run stops.
wait_bound() {
    local name=$1 pid=$2 port=$3 logfile=$4
    if ! wait_until 20 bound_or_dead "$pid" "$port" || ! alive "$pid"; then
        tail -n 30 "$logfile" >&2 || true
        die "$name (pid $pid) did not bind UDP port $port"
    fi
}
bound_or_dead() { udp_bound "$1" "$2" || ! alive "$1"; }

# ---------------------------------------------------------------------------------------------
# CPU accounting

# "utime stime" (clock ticks) of PID and all its descendants (Kamailio's workers are processes;
# handoff's shards and rtpengine's workers are threads, counted in their process's line).
tree_ticks() {
    local root=$1
    ps -e -o pid=,ppid= | awk -v root="$root" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            for (i = 1; i <= NR; i++) {
                p = pids[i]; q = p
                while (q != "" && q != 0 && q != root) q = parent[q]
                if (q == root) print p
            }
        }' | while read -r pid; do
        # Fields after the ")" that closes comm: utime and stime are the 12th and 13th.
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086 # split into fields on purpose
        set -- ${stat##*) }
        echo "${12} ${13}"
    done | awk '{ u += $1; s += $2 } END { print u + 0, s + 0 }'
}

# ---------------------------------------------------------------------------------------------
# The systems under test

sut_pids=()      # name=pid of the processes whose CPU is the SUT's
handoff_pid=""

start_handoff() {
    local io=$1 dir=$2
    # perf/cps.sh: handoff between the SIPp uac (trunk "carrier") and uas (trunk "platform").
    render_config "$dir/handoff.toml" listen="127.0.0.1:$SUT_PORT" admin=off shards="$shards" \
        io="$io" media_start=$HANDOFF_MEDIA_START media_end=$HANDOFF_MEDIA_END \
        audit="$dir/audit.jsonl" carrier="127.0.0.1:$UAC_PORT" platform="127.0.0.1:$UAS_PORT" \
        sbc_extra=
    ip netns exec "$ns" "$handoff_bin" --config "$dir/handoff.toml" --log-level warn \
        </dev/null >"$dir/handoff.log" 2>&1 &
    local pid=$!
    sut_pids=("handoff=$pid")
    handoff_pid=$pid
    wait_bound handoff "$pid" "$SUT_PORT" "$dir/handoff.log"
}

start_kamailio() {
    local dir=$1
    ip netns exec "$ns" rtpengine --config-file=none --foreground --log-stderr --log-level=3 \
        --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG_PORT \
        --port-min=$RTPENGINE_MIN --port-max=$RTPENGINE_MAX --num-threads="$(nproc)" \
        --delete-delay=0 \
        --pidfile="$dir/rtpengine.pid" </dev/null >"$dir/rtpengine.log" 2>&1 &
    local rtpengine=$!
    wait_bound rtpengine "$rtpengine" "$NG_PORT" "$dir/rtpengine.log"
    # -DD: stay in the foreground (the workers are its children); -E: log to stderr;
    # -n: UDP workers (Kamailio's default 8: a worker waits for rtpengine's answer to each
    # offer/answer, so more workers than CPUs keep the CPUs busy); -m/-M: shared/private MB.
    ip netns exec "$ns" kamailio -DD -E -f "$repo/perf/peers/kamailio.cfg" -Y "$dir" -n "$kamailio_children" -m 512 -M 16 \
        </dev/null >"$dir/kamailio.log" 2>&1 &
    local kamailio=$!
    sut_pids=("kamailio=$kamailio" "rtpengine=$rtpengine")
    wait_bound kamailio "$kamailio" "$SUT_PORT" "$dir/kamailio.log"
}

start_sut() {
    local path=$1 dir=$2
    sut_pids=()
    handoff_pid=""
    case "$path" in
        direct) ;;
        uring|epoll) start_handoff "$path" "$dir" ;;
        kamailio) start_kamailio "$dir" ;;
        *) die "unknown path $path" ;;
    esac
}

# Checks every SUT process is still alive (a crash fails the step loudly, it is not a "rate").
sut_alive() {
    local entry
    for entry in "${sut_pids[@]}"; do
        alive "${entry#*=}" || return 1
    done
}

sut_ticks() {
    local entry
    for entry in "${sut_pids[@]}"; do
        echo "${entry%%=*} $(tree_ticks "${entry#*=}")"
    done
}

# ---------------------------------------------------------------------------------------------
# SIPp

# run_sipp NAME DIR ARGS...: starts SIPp in the namespace, in the background. A bash wrapper waits
# for it and writes the CPU it used (its cutime+cstime, in ticks) to DIR/NAME.cpu, so the CPU of a
# SIPp that has exited is exact. Sets sipp_wrapper to the wrapper's pid.
run_sipp() {
    local name=$1 dir=$2; shift 2
    # shellcheck disable=SC2016 # the wrapper's own $@, $$ and $CPU_FILE
    STEP_DIR=$dir CPU_FILE="$dir/$name.cpu" ip netns exec "$ns" bash -c '
        cd "$STEP_DIR"
        sipp "$@" && rc=0 || rc=$?
        stat=$(cat /proc/$$/stat); set -- ${stat##*) }
        echo $(( ${14} + ${15} )) > "$CPU_FILE"
        exit "$rc"' sipp "$@" \
        -buff_size "$sipp_buffer" -trace_stat -stf "$dir/$name-stats.csv" -fd 1 -trace_err \
        -trace_screen -screen_file "$dir/$name-screen.txt" -nostdin "${sipp_trace[@]}" \
        </dev/null >"$dir/$name.out" 2>&1 &
    sipp_wrapper=$!
}

# The SIPp process under a wrapper.
sipp_pid() { ps -o pid= --ppid "$1" | awk 'NR == 1 { print $1 }'; }
has_sipp() { [ -n "$(sipp_pid "$1")" ]; }

# field CSV NAME: NAME's value in the last row of a SIPp statistics CSV (the row written at exit).
field() {
    awk -F';' -v want="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) col = i; next }
        NF > 1 { last = $col }
        END { print last }' "$1"
}

# The uac's run time in seconds, to the microsecond: CurrentTime - StartTime of the last row (each
# is "date<TAB>time<TAB>epoch.micro"; the ElapsedTime columns have whole seconds only).
elapsed_seconds() {
    local start now
    start=$(field "$1" "StartTime" | awk -F'\t' '{ print $NF }')
    now=$(field "$1" "CurrentTime" | awk -F'\t' '{ print $NF }')
    awk -v a="$start" -v b="$now" 'BEGIN { printf "%.3f", b - a }'
}

# placement_rate CSV TOTAL: the rate at which the uac placed its calls, from its periodic rows
# (-fd 1): calls created between the first row with any and the last row before all TOTAL were,
# over the time between those rows. Nothing when fewer than two such rows exist (a short run).
# Unlike calls over the whole run time, the slow answers to the last calls do not count in it.
placement_rate() {
    awk -F';' -v total="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "CurrentTime") tc = i; if ($i == "OutgoingCall(C)") cc = i }; next }
        NF > 1 {
            n = split($tc, parts, "\t"); t = parts[n] + 0; c = $cc + 0
            if (c > 0 && c < total) { if (!seen) { t0 = t; c0 = c; seen = 1 }; t1 = t; c1 = c }
        }
        END { if (seen && t1 > t0) printf "%.0f", (c1 - c0) / (t1 - t0) }' "$1"
}

# percentiles FILE: "p50 p99" in ms of the response times in a SIPp -trace_rtt file. SIPp measures
# them in whole milliseconds: "<1" is a response within the same millisecond.
percentiles() {
    local file=$1
    [ -s "$file" ] || { echo "- -"; return; }
    awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$file" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "- -"; exit }
            i50 = int(NR * 0.50 + 0.999); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1
            printf "%s %s\n", (v[i50] < 1 ? "<1" : v[i50]), (v[i99] < 1 ? "<1" : v[i99])
        }'
}

# summarize_profile DIR TITLE: the profile's top symbols (with their DSO: [kernel.kallsyms] is
# the kernel), as a markdown section.
summarize_profile() {
    local dir=$1 title=$2
    echo "### handoff, $title"
    echo
    echo "$(perf report -i "$dir/perf.data" --stdio 2>/dev/null | awk '/^# Samples/ && !done { sub(/^# /, ""); print; done = 1 }'); by DSO:" \
        "$(perf report -i "$dir/perf.data" --stdio --sort dso 2>/dev/null \
            | awk '!/^#/ && NF > 0 && n++ < 4 { printf "%s%s %s", (n > 1 ? ", " : ""), $2, $1 }')"
    echo
    echo '```'
    perf report -i "$dir/perf.data" --stdio --sort dso,sym --percent-limit 0.7 2>/dev/null \
        | awk '!/^#/ && NF > 0 && n++ < 30' || true
    echo '```'
    echo
}

# ---------------------------------------------------------------------------------------------
# Datagrams each UDP socket of the namespace dropped (receive queue full), sampled every 0.5 s
# until killed: "port inode drops" lines, the newest last. A socket's count ends with the socket,
# so the step's figure per port is the highest count each socket (inode) reached, summed.
sample_udp_drops() {
    local file=$1
    while true; do
        # ss filters in the kernel: the SUT's media sockets (thousands) are not listed.
        ip netns exec "$ns" ss -Hunmae "( sport = :$SUT_PORT or sport = :$UAC_PORT or sport = :$UAS_PORT )" 2>/dev/null \
            | awk '/ino:/ { n = split($4, a, ":"); port = a[n]; for (i = 5; i <= NF; i++) if ($i ~ /^ino:/) { sub(/^ino:/, "", $i); ino = $i } }
                   /skmem:/ { if (match($0, /,d[0-9]+\)/)) print port, ino, substr($0, RSTART + 2, RLENGTH - 3) }' >>"$file" || true
        sleep 0.5
    done
}

# udp_drops FILE: "uac/uas/SUT" datagrams dropped by the SIPp uac's, the uas's and the SUT's SIP
# sockets over the step (the SUT's reuseport sockets summed).
udp_drops() {
    local file=$1
    [ -s "$file" ] || { echo "-"; return; }
    awk -v uac="$UAC_PORT" -v uas="$UAS_PORT" -v sut="$SUT_PORT" '
        { port = $1 + 0; key = port " " $2; if ($3 + 0 > max[key]) max[key] = $3 + 0; p[key] = port }
        END { for (k in max) total[p[k]] += max[k]; printf "%d/%d/%d", total[uac], total[uas], total[sut] }' "$file"
}

# One step: PATH SHAPE RATE -> one line of results in $steps_file

step_number=0
run_step() {
    local path=$1 shape=$2 rate=$3
    step_number=$((step_number + 1))
    local dir="$work/step-$step_number-$path-$shape-$rate"
    mkdir -p "$dir"
    local calls=$((rate * duration))
    local pause_ms=$gap_ms scenario="$repo/perf/sipp/uac.xml" echo_args=()
    if [ "$shape" = held ]; then
        pause_ms=$((hold * 1000))
        scenario="$repo/perf/sipp/uac_held.xml"
        echo_args=(-rtp_echo)
        cp "$work/cps_pcmu.raw" "$dir/"
    fi
    log "step $step_number: $path $shape $rate calls/s for ${duration}s ($calls calls)"

    start_sut "$path" "$dir"
    sample_udp_drops "$dir/udp-drops.txt" &
    local drop_sampler=$!
    local target_port=$SUT_PORT
    [ "$path" = direct ] && target_port=$UAS_PORT

    # The uas answers every call; it exits once it has seen all of them (-m), or is told to.
    run_sipp uas "$dir" -sf "$repo/perf/sipp/uas.xml" \
        -i 127.0.0.1 -p "$UAS_PORT" -mi 127.0.0.1 -mp "$UAS_MEDIA" "${echo_args[@]}" -m "$calls" \
        -timeout "$((duration + hold + 120))s"
    local uas_wrapper=$sipp_wrapper uas
    wait_until 10 has_sipp "$uas_wrapper" || die "the uas did not start"
    uas=$(sipp_pid "$uas_wrapper")
    wait_bound "sipp uas" "$uas" "$UAS_PORT" "$dir/uas.out"

    local profiler=""
    if [ "$profile" = 1 ] && [ -n "$handoff_pid" ]; then
        perf record -q -e cpu-clock -F 999 -p "$handoff_pid" -o "$dir/perf.data" \
            </dev/null >"$dir/perf.log" 2>&1 &
        profiler=$!
    fi
    # SIPp writes the response times in batches of rtt_freq calls and drops the last partial
    # batch at exit: batches of up to 200 (a write per batch, not per call), at most 1/10 s of calls.
    local rtt_freq=$((rate / 10))
    [ "$rtt_freq" -gt 200 ] && rtt_freq=200
    [ "$rtt_freq" -lt 1 ] && rtt_freq=1
    local before after
    before=$(sut_ticks)
    # The uac places `calls` calls at `rate` per second; -l bounds the calls in flight (3 s of
    # calls beyond their length), so an SUT that stops answering slows the rate instead of piling up.
    run_sipp uac "$dir" -sf "$scenario" -s 1000 \
        -i 127.0.0.1 -p "$UAC_PORT" -mi 127.0.0.1 -mp "$UAC_MEDIA" \
        -r "$rate" -rp 1000 -m "$calls" -l "$((rate * (pause_ms / 1000 + 3)))" -d "$pause_ms" \
        -recv_timeout 10s -timeout "$((duration + hold + 120))s" \
        -trace_rtt -rtt_freq "$rtt_freq" 127.0.0.1:"$target_port"
    local uac_wrapper=$sipp_wrapper uac_rc=0
    wait "$uac_wrapper" || uac_rc=$?
    after=$(sut_ticks)
    if [ -n "$profiler" ]; then
        kill -INT "$profiler" 2>/dev/null || true
        wait "$profiler" || true
        summarize_profile "$dir" "$path $shape $rate/s" >>"$work/profiles.md"
    fi
    local crashed=""
    sut_alive || crashed="crashed"

    # The uas has seen every call unless some failed: give it its timewait, then tell it to quit
    # (SIGUSR1: SIPp's graceful stop, which still writes the final statistics row).
    if ! wait_until 10 exited "$uas_wrapper"; then
        kill -USR1 "$uas" 2>/dev/null || true
        wait_until 10 exited "$uas_wrapper" || kill -KILL "$uas" 2>/dev/null || true
    fi
    wait "$uas_wrapper" 2>/dev/null || true
    kill "$drop_sampler" 2>/dev/null || true
    wait "$drop_sampler" 2>/dev/null || true
    stop_namespace_processes

    record_step "$path" "$shape" "$rate" "$dir" "$uac_rc" "$crashed" "$before" "$after"
}

# Reads the step's SIPp files, writes its line to $steps_file and sets step_pass.
record_step() {
    local path=$1 shape=$2 rate=$3 dir=$4 uac_rc=$5 crashed=$6 before=$7 after=$8
    local stats="$dir/uac-stats.csv" uas_stats="$dir/uas-stats.csv"
    [ -s "$stats" ] || { tail -n 20 "$dir/uac.out" >&2; die "the uac wrote no statistics ($dir)"; }
    local created ok failed retrans uas_retrans elapsed p50 p99
    created=$(field "$stats" "TotalCallCreated")
    ok=$(field "$stats" "SuccessfulCall(C)")
    failed=$(field "$stats" "FailedCall(C)")
    retrans=$(field "$stats" "Retransmissions(C)")
    uas_retrans=$( [ -s "$uas_stats" ] && field "$uas_stats" "Retransmissions(C)" || echo "?")
    elapsed=$(elapsed_seconds "$stats")
    local rtt=("$dir"/uac*_rtt.csv)
    read -r p50 p99 < <(percentiles "${rtt[0]}")
    # Calls that were never placed or never ended count as failed too.
    local lost=$(( rate * duration - ok ))
    [ "$lost" -lt "$failed" ] && lost=$failed
    # Achieved rate: the rate the uac placed its calls at (placement_rate) times the share that
    # succeeded; for a run too short for that, successful calls over the uac's run time less the
    # last call's length (the hold, or the setup shape's gap).
    local achieved
    local length_ms=$gap_ms placed
    [ "$shape" = held ] && length_ms=$((hold * 1000))
    placed=$(placement_rate "$stats" "$((rate * duration))")
    if [ -n "$placed" ]; then
        achieved=$(awk -v p="$placed" -v ok="$ok" -v c="$created" 'BEGIN { printf "%.0f", (c > 0) ? p * ok / c : 0 }')
    else
        achieved=$(awk -v ok="$ok" -v e="$elapsed" -v ms="$length_ms" \
            'BEGIN { t = e - ms / 1000; if (t <= 0) t = e; printf "%.0f", ok / t }')
    fi
    local uac_cpu uas_cpu
    uac_cpu=$(cat "$dir/uac.cpu" 2>/dev/null || echo 0)
    uas_cpu=$(cat "$dir/uas.cpu" 2>/dev/null || echo 0)
    # SUT CPU: ticks over the step, as cores (over the uac's elapsed time) and µs per successful call.
    local sut_cpu="" name bu bs au as
    while read -r name bu bs; do
        [ -n "$name" ] || continue
        read -r au as < <(awk -v n="$name" '$1 == n { print $2, $3 }' <<<"$after")
        sut_cpu+="$name:$((au - bu)):$((as - bs)) "
    done <<<"$before"
    # handoff's audit has each call's relayed RTP packets: their sum, against what the held calls
    # sent (50 packets/s each way for the hold).
    local media="-"
    if [ -s "$dir/audit.jsonl" ] && [ "$shape" = held ]; then
        media=$(grep -o '"[ab]_to_[ab]_packets":[0-9]*' "$dir/audit.jsonl" \
            | awk -F: -v want=$((ok * hold * 100)) '{ s += $2 } END { printf "%d of %d", s, want }')
    fi
    # What the SUT logged at warning level or above during the step (its start-up lines aside).
    local logged
    logged=$(cat "$dir"/handoff.log "$dir"/kamailio.log "$dir"/rtpengine.log 2>/dev/null \
        | grep -cE ' (WARN|ERROR) |(ERROR|WARNING|CRITICAL):|\[(err|crit|warn)' || true)
    local load sut_field=${sut_cpu% }
    load=$(cut -d' ' -f1 /proc/loadavg)
    [ -n "$sut_field" ] || sut_field=-
    local pass=1 why=""
    if [ -n "$crashed" ]; then pass=0; why="SUT crashed"; fi
    if [ $((lost * 1000)) -ge $((rate * duration * MAX_FAILED_PER_MILLE)) ]; then
        pass=0; why+="${why:+, }$lost failed"
    fi
    if [ $((achieved * 100)) -lt $((rate * MIN_ACHIEVED_PERCENT)) ]; then
        pass=0; why+="${why:+, }achieved $achieved"
    fi
    [ "$uac_rc" -le 1 ] || { pass=0; why+="${why:+, }uac exit $uac_rc"; }
    step_pass=$pass
    # path shape rate pass achieved created ok lost retrans uas_retrans p50 p99 elapsed uac_ticks
    # uas_ticks why sut(name:utime:stime ...) load media logged drops(uac/uas/SUT)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$path" "$shape" "$rate" "$pass" "$achieved" "$created" "$ok" "$lost" "$retrans" \
        "$uas_retrans" "$p50" "$p99" "$elapsed" "$uac_cpu" "$uas_cpu" "${why:--}" "$sut_field" \
        "$load" "$media" "$logged" "$(udp_drops "$dir/udp-drops.txt")" >>"$steps_file"
    log "  -> $([ "$pass" = 1 ] && echo pass || echo "FAIL ($why)"): achieved $achieved/s, $ok ok, $lost failed, retrans $retrans/$uas_retrans, INVITE->200 p50 $p50 p99 $p99 ms, SUT ticks ${sut_cpu% }"
}

# ---------------------------------------------------------------------------------------------
# The search

# round_rate R: a rate rounded to 2 significant digits' worth of steps (10s below 1000, 100s above).
round_rate() {
    awk -v r="$1" 'BEGIN { u = (r >= 1000) ? 100 : 10; x = int(r / u + 0.5) * u; if (x < u) x = u; print x }'
}

# next_rate LO HI: the search's next rate after the highest pass LO and lowest failure HI (0 = none),
# or nothing when it is done.
next_rate() {
    local lo=$1 hi=$2 first=$3
    if [ "$hi" = 0 ]; then
        if [ "$lo" = 0 ]; then echo "$first"; return; fi
        [ "$lo" -ge "$max_rate" ] && return
        local up
        up=$(round_rate "$(awk -v l="$lo" -v f="$factor" 'BEGIN { print l * f }')")
        [ "$up" -gt "$max_rate" ] && up=$max_rate
        echo "$up"
        return
    fi
    # Done when the gap is within the resolution of the passing rate (or nothing passes at 10/s).
    if [ "$lo" = 0 ] && [ "$hi" -le 10 ]; then return; fi
    if [ "$lo" != 0 ] && [ $(( (hi - lo) * 100 )) -le $((lo * resolution)) ]; then return; fi
    local mid
    mid=$(round_rate $(( (lo + hi) / 2 )))
    if [ "$mid" -le "$lo" ] || [ "$mid" -ge "$hi" ]; then return; fi
    echo "$mid"
}

run_search() {
    local shape=$1 path first=$start_rate
    [ "$shape" = held ] && first=$held_start_rate
    declare -A lo hi queue
    for path in "${path_list[@]}"; do
        lo[$path]=0; hi[$path]=0; queue[$path]=${fixed_rates//,/ }
    done
    # Rounds: each path still searching takes one step, in the order given.
    local active=1 rate
    while [ "$active" = 1 ]; do
        active=0
        for path in "${path_list[@]}"; do
            if [ -n "$fixed_rates" ]; then
                rate=${queue[$path]%% *}
                [ -z "$rate" ] && continue
                queue[$path]=$(sed -E 's/^[^ ]+ ?//' <<<"${queue[$path]}")
            else
                rate=$(next_rate "${lo[$path]}" "${hi[$path]}" "$first")
                [ -z "$rate" ] && continue
            fi
            if past_deadline "$shape"; then
                log "--until $until: no time for another step; stopping here"
                out_of_time=1
                return
            fi
            active=1
            run_step "$path" "$shape" "$rate"
            write_report
            if [ "$step_pass" = 1 ]; then
                [ "$rate" -gt "${lo[$path]}" ] && lo[$path]=$rate
            else
                { [ "${hi[$path]}" = 0 ] || [ "$rate" -lt "${hi[$path]}" ]; } && hi[$path]=$rate
            fi
        done
    done
}

# Whether a step of SHAPE started now would end after --until (a step takes its duration, the
# hold, and about 10 s to start and stop its processes).
out_of_time=0
past_deadline() {
    [ -n "$until" ] || return 1
    local step=$((duration + 10)) end
    [ "$1" = held ] && step=$((step + hold))
    end=$(date -u -d "$until" +%s) || die "--until $until: not a time"
    [ $(( $(date -u +%s) + step )) -gt "$end" ]
}

# ---------------------------------------------------------------------------------------------
# The report

# Rewritten after every step, so an interrupted run still leaves its table. A subshell: its loops'
# variables must not touch the search's.
write_report() (
    {
        echo "# Calls per second: handoff beside Kamailio+rtpengine and direct SIPp"
        echo
        echo "Made by \`$command_line\` on $(date -u '+%Y-%m-%d %H:%M UTC') (started $started UTC),"
        echo "handoff $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src || echo '+changes'),"
        echo "**steps of ${duration} s**$(has_shape held && echo ", held calls last ${hold} s with RTP both ways")."
        if [ "$out_of_time" = 1 ]; then
            echo
            echo "**Cut short by \`--until $until\`:** some searches did not finish (see every step below)."
        fi
        echo
        echo "A rate **holds** when the uac's final statistics show under 0.1% failed calls (failed, or"
        echo "never completed) and at least 95% of the target rate achieved: the rate the uac placed calls"
        echo "at (from its per-second statistics rows, while it was placing them) times the share that"
        echo "succeeded. $(search_words)"
        echo
        for shape in "${shape_list[@]}"; do
            summary_table "$shape"
        done
        echo "## Every step"
        echo
        echo "| path | shape | target/s | result | achieved/s | calls | failed | retrans uac/uas | INVITE->200 p50 / p99 ms | SUT CPU, cores | uac CPU | uas CPU | RTP relayed | SUT warnings | socket drops uac/uas/SUT | load |"
        echo "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        while IFS=$'\t' read -r path shape rate pass achieved created ok lost retrans uas_retrans p50 p99 elapsed uac uas why sut load media logged drops; do
            echo "| $(path_name "$path") | $shape | $rate | $([ "$pass" = 1 ] && echo pass || echo "fail: $why") | $achieved | $created | $lost | $retrans / $uas_retrans | $p50 / $p99 | $(sut_words "$sut" "$elapsed" "$ok") | $(cores "$uac" "$elapsed") | $(cores "$uas" "$elapsed") | $media | $logged | ${drops:--} | $load |"
        done <"$steps_file"
        echo
        echo "CPU: utime+stime from /proc/<pid>/stat over the step (the SUT's processes and threads;"
        echo "Kamailio's workers summed), SIPp's from its own rusage at exit; in cores, over the uac's"
        echo "elapsed time. µs/call is the SUT's CPU time over the successful calls; kernel is its stime"
        echo "share. RTP relayed (handoff, held calls): the packets its audit records counted, of the"
        echo "100 per second of hold each call sent. SUT warnings: lines its logs have at warning level or"
        echo "above (handoff runs at --log-level warn). Socket drops: datagrams the SIP sockets of the SIPp"
        echo "uac, the uas and the SUT dropped with a full receive queue (ss -m, sampled every 0.5 s;"
        echo "SIPp's buffers: -buff_size $sipp_buffer). load: the 1-minute load average at the step's end."
        echo
        if [ -s "$work/profiles.md" ]; then
            echo "## Where handoff's time goes (perf record -e cpu-clock, --profile)"
            echo
            cat "$work/profiles.md"
        fi
        echo "## Machine"
        echo
        echo "- $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        echo "- $(versions)"
        echo "- handoff: shards = $shards (0 = one per CPU), the release binary, admin off, audit on"
        echo "- Kamailio: $kamailio_children UDP workers, 512 MB shared memory; rtpengine: $(nproc) threads, --delete-delay=0"
        echo "- everything (SUT and both SIPps) in the private network namespace $ns on loopback; no CPU pinning;"
        echo "  socket buffers: net.core.rmem_default $(sysctl -n net.core.rmem_default), rmem_max $(sysctl -n net.core.rmem_max), wmem_default $(sysctl -n net.core.wmem_default); RLIMIT_NOFILE $(ulimit -n)"
        echo "- load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "- the busiest processes over one second when the run started, and when it ended (top, % of one CPU):"
        echo
        echo '```'
        echo "$busy_before"
        if [ -n "$busy_after" ]; then
            echo "--- at the end"
            echo "$busy_after"
        fi
        echo '```'
    } >"$out"
    cp "$steps_file" "${out%.md}.tsv"
)

# The 8 busiest processes over one second (top's second sample), as "%CPU command".
busiest() {
    top -b -n 2 -d 1 -w 200 | awk '/^ *PID/ { sample++; next } sample == 2 && NF >= 12 && n++ < 8 { print $9, $12 }'

}

# The generators' and the peer's versions (their version flags exit non-zero).
versions() {
    local sipp_version kamailio_version rtpengine_version
    sipp_version=$( { sipp -v 2>&1 || true; } | awk '/SIPp v/ { for (i = 1; i <= NF; i++) if ($i ~ /^v[0-9]/) { sub(/\.$/, "", $i); print "SIPp " $i; exit } }')
    if has_path kamailio; then
        kamailio_version=$( { kamailio -v 2>&1 || true; } | awk '/^version:/ { print $3; exit }')
        rtpengine_version=$( { rtpengine --version 2>&1 || true; } | awk 'NR == 1 { print $2 }')
        echo "$sipp_version, Kamailio $kamailio_version, rtpengine $rtpengine_version (userspace forwarding, --table=-1)"
    else
        echo "$sipp_version"
    fi
}

has_shape() { [[ ",$shapes," == *",$1,"* ]]; }

search_words() {
    if [ -n "$fixed_rates" ]; then
        echo "No search: fixed rates $fixed_rates calls/s per path."
    else
        echo "The search starts at $start_rate calls/s (held: $held_start_rate), multiplies by $factor until a step fails (at most $max_rate), then bisects until the gap is within $resolution% of the passing rate; the paths take their steps in turn."
    fi
}

path_name() {
    case "$1" in
        direct) echo "direct (SIPp uac -> uas)" ;;
        uring) echo "handoff, io_uring" ;;
        epoll) echo "handoff, epoll" ;;
        kamailio) echo "Kamailio + rtpengine" ;;
    esac
}

# cores TICKS ELAPSED
cores() { awk -v t="$1" -v e="$2" -v hz="$CLK_TCK" 'BEGIN { if (e > 0) printf "%.2f", t / hz / e; else print "-" }'; }

# sut_words "name:utime:stime ..." ELAPSED OK: "handoff 0.85 (170 µs/call, 55% kernel)": cores
# per process, their sum, the CPU time per successful call and the kernel's (stime) share.
sut_words() {
    local sut=$1 elapsed=$2 ok=$3
    [ -z "$sut" ] || [ "$sut" = - ] && { echo "-"; return; }
    awk -v s="$sut" -v e="$elapsed" -v ok="$ok" -v hz="$CLK_TCK" 'BEGIN {
        n = split(s, parts, " "); total = 0; sys = 0; text = ""
        for (i = 1; i <= n; i++) {
            split(parts[i], kv, ":"); total += kv[2] + kv[3]; sys += kv[3]
            text = text (i > 1 ? " + " : "") sprintf("%s %.2f", kv[1], (kv[2] + kv[3]) / hz / e)
        }
        if (n > 1) text = text sprintf(" = %.2f", total / hz / e)
        per_call = (ok > 0) ? total / hz / ok * 1e6 : 0
        kernel = (total > 0) ? 100 * sys / total : 0
        printf "%s (%.0f µs/call, %.0f%% kernel)", text, per_call, kernel
    }'
}

# The best passing step of PATH in SHAPE, as the fields of its line (nothing if none passed).
best_step() {
    awk -F'\t' -v p="$1" -v s="$2" '$1 == p && $2 == s && $4 == 1 && $3 + 0 > best { best = $3 + 0; line = $0 }
        END { if (line != "") print line }' "$steps_file"
}
first_failure() {
    awk -F'\t' -v p="$1" -v s="$2" -v lo="$3" '$1 == p && $2 == s && $4 == 0 && $3 + 0 > lo && (min == "" || $3 + 0 < min) { min = $3 + 0; line = $3 " (" $16 ")" }
        END { print (line == "" ? "-" : line) }' "$steps_file"
}

summary_table() {
    local shape=$1 path
    if [ "$shape" = setup ]; then
        echo "## Setup and teardown (INVITE/200/ACK, BYE ${gap_ms} ms later, with SDP)"
    else
        echo "## Held calls (${hold} s, RTP 50 packets/s each way: uac rtp_stream, uas -rtp_echo)"
    fi
    echo
    echo "| path | holds (calls/s) | achieved/s | failed | retrans uac/uas | INVITE->200 p50 / p99 ms | SUT CPU, cores (µs/call) | uac / uas CPU | RTP relayed | fails at |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"
    declare -A held_rate
    for path in "${path_list[@]}"; do
        local line
        line=$(best_step "$path" "$shape")
        if [ -z "$line" ]; then
            held_rate[$path]=0
            echo "| $(path_name "$path") | none | | | | | | | | $(first_failure "$path" "$shape" 0) |"
            continue
        fi
        IFS=$'\t' read -r _ _ rate _ achieved created ok lost retrans uas_retrans p50 p99 elapsed uac uas _ sut _ media _ <<<"$line"
        held_rate[$path]=$achieved
        echo "| $(path_name "$path") | $rate | $achieved | $lost / $created | $retrans / $uas_retrans | $p50 / $p99 | $(sut_words "$sut" "$elapsed" "$ok") | $(cores "$uac" "$elapsed") / $(cores "$uas" "$elapsed") | $media | $(first_failure "$path" "$shape" "$rate") |"
    done
    echo
    local io other
    for io in uring epoll; do
        has_path "$io" || continue
        for other in direct kamailio; do
            has_path "$other" || continue
            local target=""
            if [ "$shape" = setup ]; then
                target=$([ "$other" = direct ] && echo "; issue 12's target: >= 0.7x" || echo "; issue 12's target: >= 6x")
            fi
            echo "- handoff $io / $(path_name "$other"): $(awk -v a="${held_rate[$io]}" -v b="${held_rate[$other]}" 'BEGIN { if (b > 0) printf "**%.2fx**", a / b; else print "-" }') (achieved calls/s at the highest rate each holds$target)"
        done
    done
    echo
}

# ---------------------------------------------------------------------------------------------

main() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespace, packages)"
    started=$(date -u +%H:%M)
    ensure_packages
    build_handoff
    mkdir -p "$repo/perf/results"
    if [ -z "$out" ]; then
        out="$repo/perf/results/cps-$(date -u +%Y-%m-%d).md"
        [ -e "$out" ] && out="$repo/perf/results/cps-$(date -u +%Y-%m-%d-%H%M).md"
    fi
    work=$(mktemp -d /tmp/cps.XXXXXX)
    trap cleanup EXIT
    trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
    trap 'exit 130' INT TERM
    make_namespace
    steps_file="$work/steps.tsv"
    : >"$steps_file"
    # One second of G.711 mu-law silence (0xFF) for the held calls' rtp_stream: the relays
    # under test forward the payload without looking at it.
    head -c 8000 /dev/zero | tr '\0' '\377' >"$work/cps_pcmu.raw"
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    busy_before=$(busiest)
    busy_after=""
    for shape in "${shape_list[@]}"; do
        [ "$out_of_time" = 1 ] || run_search "$shape"
    done
    busy_after=$(busiest)
    write_report
    log "results: $out"
}

main
