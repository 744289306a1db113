#!/usr/bin/env bash
# Everything CI checks, runnable on a fresh Debian machine: installs what the tests need (idempotent),
# then runs fmt, clippy and every test. Works as root, or as a user with sudo.
#
# Extend it at the two hook points below: APT_PACKAGES (system packages tests need) and
# EXTRA_STEPS (more checks after the standard ones).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- hook point 1: Debian packages the tests need -------------------------------------------------
# sip-tester: SIPp, used by the end-to-end call tests. sipvicious: svmap/svwar/svcrack, used by
# scripts/attack.sh. systemd: systemd-analyze, which checks config/handoff.service. chromium:
# headless Chromium, which loads the admin dashboard in tests/e2e_admin_dashboard.rs (it fails
# without it). strace: tests/runtime_media_pool.rs counts handoff's socket system calls per call
# with it (it fails without it). (tshark is optional and not installed.)
APT_PACKAGES=(
    sip-tester
    sipvicious
    systemd
    chromium
    strace
)

# --- hook point 2: extra steps, run in order after the standard ones ------------------------------
# Each entry is "description|command". Example:
#   "fuzz the SIP parser for 60 s|scripts/fuzz.sh 60"
# (A host refusing io_uring is tests/runtime_uring_refused.rs, part of the tests: a seccomp filter on
# the handoff process alone, no longer the machine-wide kernel.io_uring_disabled switch, which broke
# every other io_uring user on a shared machine while it was set.)
EXTRA_STEPS=(
    "attack: SIPVicious (svmap, svwar, svcrack) against handoff in a private network namespace: still up, nothing routed, RSS growth < 5 MB, the scanners found nothing|scripts/attack.sh"
    "fuzz: build the seven cargo-fuzz targets (one per parser, plus whole datagrams through a shard) and run each 20 s (says why and runs the proptests with more cases if cargo-fuzz cannot run)|scripts/fuzz-ci.sh"
)

step() {
    printf '\n==> %s\n' "$*"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: need root or sudo to run: $*" >&2
        exit 1
    fi
}

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_packages() {
    local missing=()
    local package
    for package in "${APT_PACKAGES[@]}"; do
        if ! is_installed "$package"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all present: ${APT_PACKAGES[*]}"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing packages ${missing[*]} and no apt-get to install them" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_rust_components() {
    if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
        echo "rustfmt and clippy present"
        return
    fi
    if ! command -v rustup >/dev/null 2>&1; then
        echo "error: cargo fmt/clippy missing and no rustup to add them" >&2
        exit 1
    fi
    rustup component add rustfmt clippy
}

step "system packages (${APT_PACKAGES[*]})"
install_packages

step "rust components (rustfmt, clippy)"
command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found; install Rust 1.95 via rustup" >&2; exit 1; }
install_rust_components
cargo --version

step "format check: cargo fmt --check"
cargo fmt --all --check

# --workspace: the package and sipwire/ (the test agents' SIP codec).
step "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# cargo-nextest (on the machine image; `cargo install cargo-nextest --locked` otherwise) runs every
# test binary in parallel, each test in its own process: the suite's wall time is about a third of
# `cargo test`'s, which runs the binaries one after another. Without it, cargo test does the same
# work more slowly. Bench targets (harness = false) run once in test mode, without `--bench`.
# --workspace: the package and sipwire/ (the test agents' SIP codec).
if cargo nextest --version >/dev/null 2>&1; then
    step "tests: cargo nextest run --workspace (lib, bins, integration tests)"
    cargo nextest run --workspace --no-fail-fast
    step "bench smoke: cargo test --benches"
    cargo test --benches
else
    step "tests: cargo test --workspace --all-targets (cargo-nextest not installed)"
    cargo test --workspace --all-targets --no-fail-fast
fi

step "doc tests: cargo test --workspace --doc"
cargo test --workspace --doc

for entry in ${EXTRA_STEPS[@]+"${EXTRA_STEPS[@]}"}; do
    step "${entry%%|*}"
    bash -c "${entry#*|}"
done

printf '\n==> all checks passed\n'
