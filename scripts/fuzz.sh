#!/usr/bin/env bash
# Runs one cargo-fuzz target for a while: scripts/fuzz.sh [TARGET] [SECONDS]
#   TARGET: sip_message (default), sip_uri, sdp_rewrite, transfer_headers, config_text or
#   core_datagrams; SECONDS: default 60.
# Installs cargo-fuzz when missing. Uses the nightly toolchain when one is installed;
# otherwise stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags) and no sanitizer.
set -euo pipefail

target=${1:-sip_message}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

case "$target" in
  sip_message) seeds=tests/fixtures/rfc4475 ;;
  sip_uri) seeds=fuzz/seeds/sip_uri ;;
  sdp_rewrite) seeds=fuzz/seeds/sdp_rewrite ;;
  transfer_headers) seeds=fuzz/seeds/transfer_headers ;;
  config_text) seeds=fuzz/seeds/config_text ;;
  core_datagrams) seeds=fuzz/seeds/core_datagrams ;;
  *) echo "unknown fuzz target '$target' (sip_message | sip_uri | sdp_rewrite | transfer_headers | config_text | core_datagrams)" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

corpus=fuzz/corpus/$target
mkdir -p "$corpus"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  runner=(cargo +nightly fuzz run)
else
  export RUSTC_BOOTSTRAP=1
  runner=(cargo fuzz run --sanitizer none)
fi

# libFuzzer exits non-zero on a crash and leaves the input under fuzz/artifacts/$target/.
exec "${runner[@]}" "$target" "$corpus" "$seeds" -- -max_total_time="$seconds" -max_len=8192
