#!/usr/bin/env bash
# The CI fuzz step (an EXTRA_STEPS entry of scripts/test.sh): builds the cargo-fuzz targets, one
# per parser handoff exposes to peers or operators (sip_message, sip_uri, sdp_rewrite,
# transfer_headers, digest_challenge, config_text) plus core_datagrams (whole datagrams through a shard), and runs
# each for FUZZ_SECONDS (default 20) after the build. A crash fails the step and leaves the input
# under fuzz/artifacts/TARGET/ (replay: cargo fuzz run TARGET that-file).
#
# Toolchain: cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address, -Cpasses=sancov
# and friends). With a nightly toolchain installed it is used; otherwise stable rustc accepts them
# under RUSTC_BOOTSTRAP=1, which this script sets, saying so. cargo-fuzz itself is installed from
# crates.io when missing (cargo install is a no-op once it is there).
#
# When cargo-fuzz cannot be installed or the targets cannot be built, the step says exactly why
# and runs the property-test versions of the same checks with more cases instead
# (PROPTEST_CASES, release build): tests/sip_roundtrip.rs (sip_message), tests/sdp_never_panics.rs,
# tests/transfer_parsers_never_panic.rs (URI and dialog-id text) and tests/sim_core_fuzz_smoke.rs
# (core_datagrams). That fallback is a weaker check, and the step prints it as such.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

per_target=${FUZZ_SECONDS:-20}
# FUZZ_TARGETS="a b" runs only those (e.g. to finish a long run that was interrupted).
read -r -a targets <<<"${FUZZ_TARGETS:-sip_message sip_uri sdp_rewrite transfer_headers digest_challenge config_text core_datagrams}"
start=$SECONDS

seeds_of() {
    case "$1" in
        sip_message) echo tests/fixtures/rfc4475 ;;
        sip_uri) echo fuzz/seeds/sip_uri ;;
        sdp_rewrite) echo fuzz/seeds/sdp_rewrite ;;
        transfer_headers) echo fuzz/seeds/transfer_headers ;;
        digest_challenge) echo fuzz/seeds/digest_challenge ;;
        config_text) echo fuzz/seeds/config_text ;;
        core_datagrams) echo fuzz/seeds/core_datagrams ;;
    esac
}

fallback() {
    echo "fuzz: cargo-fuzz cannot run here: $1" >&2
    echo "fuzz: running the proptest versions instead (PROPTEST_CASES=${FALLBACK_CASES:-20000}, release)." >&2
    echo "fuzz: this is NOT coverage-guided fuzzing; fix the reason above to get it back." >&2
    PROPTEST_CASES=${FALLBACK_CASES:-20000} cargo test --release \
        --test sip_roundtrip --test sdp_never_panics \
        --test transfer_parsers_never_panic --test sim_core_fuzz_smoke
    exit $?
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked || fallback "'cargo install cargo-fuzz --locked' failed (offline, or no C++ compiler for libFuzzer?)"
fi
cargo fuzz --version

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    echo "fuzz: using the installed nightly toolchain"
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    echo "fuzz: no nightly toolchain; stable $(rustc --version | cut -d' ' -f2) with RUSTC_BOOTSTRAP=1, because cargo-fuzz passes -Z flags (sanitizer, sancov) that only nightly accepts otherwise"
fi

# No AddressSanitizer (-s none): the fuzzed code is safe Rust (unsafe lives only in src/runtime,
# which no target reaches), so ASan would find nothing a panic does not, and it makes the CI build
# three to four times slower on 2 cores. libFuzzer's coverage guidance stays on.
sanitizer=(--sanitizer none)

build_log=$(mktemp)
run_log=$(mktemp)
trap 'rm -f "$build_log" "$run_log"' EXIT
if ! "${fuzz[@]}" build "${sanitizer[@]}" >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    # A target that does not compile is a bug in this repository, not a toolchain limit: fail.
    if grep -qE "^error\[E[0-9]+\]|could not compile \`handoff" "$build_log"; then
        echo "fuzz: a fuzz target or handoff does not compile (output above); fix it" >&2
        exit 1
    fi
    fallback "'${fuzz[*]} build' failed (output above)"
fi
built=$((SECONDS - start))
echo "fuzz: built in ${built} s; running each of ${#targets[@]} targets for ${per_target} s"

for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    echo "fuzz: $target (${per_target} s, seeds $(seeds_of "$target"))"
    # libFuzzer exits non-zero on a crash, a leak or an over-long input: that fails the step.
    status=0
    "${fuzz[@]}" run "${sanitizer[@]}" "$target" "$corpus" "$(seeds_of "$target")" -- \
        -max_total_time="$per_target" -max_len=8192 -print_final_stats=1 >"$run_log" 2>&1 || status=$?
    grep -E '^(INFO: seed corpus|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$run_log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$run_log" >&2
        echo "fuzz: $target FAILED (exit $status); the crashing input is under fuzz/artifacts/$target/" >&2
        exit "$status"
    fi
done
echo "fuzz: all targets ran clean in $((SECONDS - start)) s"
