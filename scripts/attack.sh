#!/usr/bin/env bash
# SIPVicious against handoff, inside a private network namespace (traffic never leaves its
# loopback). Runs svmap (OPTIONS and INVITE sweeps), svwar (extension enumeration) and svcrack
# (password guessing) against a handoff with the default `sbc.unknown_source = "drop"`, then checks:
#   1. handoff is still running;
#   2. no call was routed for the scanner: the platform trunk's peer received nothing, and the
#      audit log holds no call record;
#   3. handoff's RSS grew by less than 5 MB over the scans;
#   4. the scanners saw no answer: each one's final output says "found nothing" and lists no
#      device, extension or password;
#   5. (control) the same svmap against a handoff with `unknown_source = "reject"` does find it,
#      so "found nothing" above means silence, not a scanner that cannot scan.
# Plus: handoff's info-level refusal line (the fail2ban format) names the scanner's address.
#
# Bounded: fixed extension/password ranges, every tool under `timeout`. Never skips: a missing
# tool is installed with apt-get (root or sudo) or the script fails saying so.
#
# Usage: scripts/attack.sh            (builds target/debug/handoff if needed)
#        HANDOFF_BIN=path scripts/attack.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

fail() {
    echo "attack.sh: FAIL: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        fail "need root or sudo to run: $*"
    fi
}

# --- tools: install or fail, never skip --------------------------------------------------------
need_package() { # command package
    command -v "$1" >/dev/null 2>&1 && return
    echo "attack.sh: $1 missing; installing Debian package $2"
    command -v apt-get >/dev/null 2>&1 || fail "$1 missing and no apt-get to install $2"
    if ! apt-cache show "$2" >/dev/null 2>&1; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" \
        || fail "could not install $2 (needed for $1)"
    command -v "$1" >/dev/null 2>&1 || fail "$2 installed but $1 still not found"
}
need_package svmap sipvicious
need_package svwar sipvicious
need_package svcrack sipvicious
need_package unshare util-linux
need_package ip iproute2
need_package python3 python3

# --- the namespace ------------------------------------------------------------------------------
if [ "${HANDOFF_ATTACK_IN_NS:-}" != 1 ]; then
    if [ -z "${HANDOFF_BIN:-}" ]; then
        cargo build --quiet --bin handoff
        HANDOFF_BIN="$ROOT/target/debug/handoff"
    fi
    [ -x "$HANDOFF_BIN" ] || fail "no handoff binary at $HANDOFF_BIN"
    export HANDOFF_BIN
    if [ "$(id -u)" -eq 0 ]; then
        exec env HANDOFF_ATTACK_IN_NS=1 unshare --net -- "$0" "$@"
    fi
    exec env HANDOFF_ATTACK_IN_NS=1 unshare --net --map-root-user -- "$0" "$@"
fi
ip link set lo up || fail "cannot bring up lo in the private namespace"

WORK=$(mktemp -d /tmp/handoff-attack.XXXXXX)
export HOME="$WORK/home" # SIPVicious keeps its session files under ~/.sipvicious
mkdir -p "$HOME"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

SIP_PORT=27060
CARRIER_PORT=27070
PLATFORM_PORT=27080

write_config() { # file policy sip_port media_start audit
    cat >"$1" <<EOF
[sbc]
listen = "127.0.0.1:$3"
advertise = "127.0.0.1"
admin = "off"
shards = 1
io = "epoll"
media_ports = [$4, $(($4 + 100))]
audit = "$5"
unknown_source = "$2"

[[trunk]]
name = "carrier"
role = "carrier"
peer = "127.0.0.1:$CARRIER_PORT"
transfer = "refer"
on_refer_failure = "local"
country_code = "1"
codecs = ["PCMU", "PCMA"]

[[trunk]]
name = "platform"
role = "platform"
peer = "127.0.0.1:$PLATFORM_PORT"
transfer = "refer"
on_refer_failure = "local"
country_code = "1"
codecs = ["PCMU", "PCMA"]

[[route]]
from = "carrier"
to = "platform"

[[route]]
from = "platform"
to = "carrier"
EOF
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The platform trunk's peer: counts every datagram handoff would route to it.
python3 - "$PLATFORM_PORT" "$WORK/platform.count" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
n = 0
open(sys.argv[2], "w").write("0\n")
while True:
    s.recv(65535)
    n += 1
    open(sys.argv[2], "w").write(f"{n}\n")
PY
PIDS+=($!)

write_config "$WORK/drop.toml" drop "$SIP_PORT" 27200 "$WORK/audit.jsonl"
"$HANDOFF_BIN" check --config "$WORK/drop.toml" >/dev/null || fail "config rejected"
"$HANDOFF_BIN" --config "$WORK/drop.toml" --log-level debug 2>"$WORK/handoff.log" &
HANDOFF_PID=$!
PIDS+=("$HANDOFF_PID")
for _ in $(seq 100); do
    grep -q "serving" "$WORK/handoff.log" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
kill -0 "$HANDOFF_PID" 2>/dev/null || { cat "$WORK/handoff.log" >&2; fail "handoff did not start"; }
RSS_BEFORE=$(rss_kb "$HANDOFF_PID")

TARGET=127.0.0.1
scan() { # name command...
    local name=$1
    shift
    echo "--- $name: $*"
    timeout 120 "$@" >"$WORK/$name.out" 2>&1 || true
    tail -n 5 "$WORK/$name.out" | sed 's/^/    /'
}
scan svmap_options svmap -p"$SIP_PORT" "$TARGET"
scan svmap_invite svmap -p"$SIP_PORT" -m INVITE -e 100 "$TARGET"
scan svwar svwar --force -p"$SIP_PORT" -e100-2099 -m REGISTER "$TARGET"
scan svwar_invite svwar --force -p"$SIP_PORT" -e100-1099 -m INVITE "$TARGET"
scan svcrack svcrack -p"$SIP_PORT" -u100 -r1000-1199 "$TARGET"

# SIPVicious gives up after its first unanswered probes (its own output says so: "timed out",
# "no server response"), so it sends few datagrams. For the memory check, a bounded flood shaped
# like its probes follows: FLOOD OPTIONS/INVITE/REGISTER from 64 source ports, each a new Call-ID.
FLOOD=${HANDOFF_ATTACK_FLOOD:-5000}
SENT_BEFORE_FLOOD=$(grep -c "dropped.*reason=unknown_source" "$WORK/handoff.log" || true)
python3 - "$SIP_PORT" "$FLOOD" <<'PY'
import socket, sys
port, total = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
for s in socks:
    s.bind(("127.0.0.1", 0))
methods = ["OPTIONS", "INVITE", "REGISTER"]
for n in range(total):
    s = socks[n % len(socks)]
    lport = s.getsockname()[1]
    m = methods[n % 3]
    msg = (f"{m} sip:{100 + n % 1000}@127.0.0.1 SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{n};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: \"sipvicious\"<sip:100@1.1.1.1>;tag={n:08x}\r\n"
           f"To: \"sipvicious\"<sip:{100 + n % 1000}@127.0.0.1>\r\nCall-ID: {n}-flood@127.0.0.1\r\n"
           f"CSeq: 1 {m}\r\nContact: <sip:100@127.0.0.1:{lport}>\r\nUser-Agent: friendly-scanner\r\n"
           f"Content-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), ("127.0.0.1", port))
PY
# Until handoff has taken in the flood: its drop count stops moving (UDP may lose some), <= 60 s.
LAST=-1
for _ in $(seq 60); do
    NOW=$(grep -c "dropped.*reason=unknown_source" "$WORK/handoff.log" || true)
    [ "$NOW" -eq "$LAST" ] && break
    LAST=$NOW
    sleep 1
done
echo "--- flood: $FLOOD scanner-shaped datagrams sent; handoff logged $NOW drops in all"

# 1. still up
kill -0 "$HANDOFF_PID" 2>/dev/null || { tail -n 20 "$WORK/handoff.log" >&2; fail "handoff died under the scan"; }
RSS_AFTER=$(rss_kb "$HANDOFF_PID")
GROWTH=$((RSS_AFTER - RSS_BEFORE))

# 2. nothing routed
ROUTED=$(cat "$WORK/platform.count")
[ "$ROUTED" -eq 0 ] || fail "the platform trunk received $ROUTED datagram(s): a scan was routed"
if [ -s "$WORK/audit.jsonl" ] && grep -q '"call_end"\|"transfer"' "$WORK/audit.jsonl"; then
    fail "the audit log holds a call: $(head -n 3 "$WORK/audit.jsonl")"
fi

# 3. memory
[ "$GROWTH" -lt 5120 ] || fail "RSS grew by $GROWTH kB (>= 5 MB): $RSS_BEFORE -> $RSS_AFTER kB"

# 4. the scanners' own verdicts (their final output)
for name in svmap_options svmap_invite svwar svwar_invite svcrack; do
    out="$WORK/$name.out"
    grep -q "found nothing" "$out" || fail "$name did not report 'found nothing': $(tail -n 5 "$out")"
    if grep -q '^| ' "$out"; then
        fail "$name lists a result: $(grep '^| ' "$out" | head -n 5)"
    fi
done

# The refusal line fail2ban reads: info level, with the scanner's address.
grep -q "refused source=127.0.0.1 port=[0-9]* status=drop reason=unknown_source" "$WORK/handoff.log" \
    || fail "no info-level refusal line for the scanner in handoff's log"
LINES=$(grep -c "refused source=127.0.0.1 " "$WORK/handoff.log" || true)
DROPS=$(grep -c "dropped.*reason=unknown_source" "$WORK/handoff.log" || true) # debug, one per datagram

# 5. control: the same scanner finds a handoff that answers strangers (403).
write_config "$WORK/reject.toml" reject $((SIP_PORT + 1)) 27400 "$WORK/audit-reject.jsonl"
"$HANDOFF_BIN" --config "$WORK/reject.toml" --log-level warn 2>"$WORK/handoff-reject.log" &
PIDS+=($!)
sleep 1
scan control_svmap svmap -p$((SIP_PORT + 1)) "$TARGET"
grep -q '^| 127.0.0.1:'"$((SIP_PORT + 1))" "$WORK/control_svmap.out" \
    || fail "control: svmap did not find a handoff that answers 403; the scanner cannot be trusted: $(tail -n 5 "$WORK/control_svmap.out")"

rm -rf "$WORK" # kept on failure, for its logs
echo
echo "attack.sh: OK"
echo "  handoff up after the scans (pid $HANDOFF_PID, unknown_source = \"drop\")"
echo "  routed to the platform trunk: $ROUTED datagrams; audit call records: 0"
echo "  RSS: $RSS_BEFORE kB -> $RSS_AFTER kB (growth $GROWTH kB, limit 5120 kB)"
echo "  scanners (svmap OPTIONS/INVITE, svwar REGISTER/INVITE, svcrack): found nothing"
echo "  datagrams dropped unanswered: $DROPS (SIPVicious: $SENT_BEFORE_FLOOD, then the flood); info refusal lines for 127.0.0.1: $LINES"
echo "  control: svmap finds a handoff with unknown_source = \"reject\""
