#!/usr/bin/env bash
# With io = "uring" on a host that refuses io_uring, handoff must say so clearly and exit non-zero,
# never fall back to epoll silently. The host refusal is simulated with the kernel's own switch
# (kernel.io_uring_disabled = 2), so this runs alone, after the test suite, and restores the switch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

switch=/proc/sys/kernel/io_uring_disabled
[ -e "$switch" ] || { echo "error: $switch is missing (kernel older than 6.6?); cannot simulate a host without io_uring" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

cargo build --quiet --bin handoff
work=$(mktemp -d)
before=$(cat "$switch")
restore() { echo "$before" | as_root tee "$switch" >/dev/null; rm -rf "$work"; }
trap restore EXIT

cat >"$work/uring.toml" <<TOML
[sbc]
listen = "127.0.0.1:45991"
io = "uring"
media_ports = [46000, 46100]
audit = "-"
TOML

echo 2 | as_root tee "$switch" >/dev/null
set +e
RUST_BACKTRACE=0 timeout 10 target/debug/handoff --config "$work/uring.toml" >"$work/out" 2>&1
status=$?
set -e
echo "$before" | as_root tee "$switch" >/dev/null

if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
    echo "FAIL: handoff kept running (status $status) although io_uring was refused:" >&2
    cat "$work/out" >&2
    exit 1
fi
if ! grep -q 'io_uring is not available on this host' "$work/out" || ! grep -q 'io = "epoll"' "$work/out"; then
    echo "FAIL: the error does not say io_uring is unavailable and how to use epoll:" >&2
    cat "$work/out" >&2
    exit 1
fi
echo "ok: io_uring refused -> clear error, exit status $status, no silent fallback"
