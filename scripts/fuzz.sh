#!/usr/bin/env bash
# Fuzzes `switch::classify` and both L2 dispatch directions (fuzz/fuzz_targets/classify.rs) for
# SECONDS (default 30) on stable Rust. Installs cargo-fuzz if missing. Exits non-zero on a crash
# (panic or failed invariant); the input is then in fuzz/artifacts/classify/, reproduce it with
# `cd fuzz && cargo fuzz run classify --sanitizer none artifacts/classify/<file>`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/classify
# --sanitizer none: sanitizers need nightly (-Zsanitizer); libFuzzer's coverage instrumentation,
# debug assertions and the target's own checks work on stable. The first build takes minutes
# (bindgen + dpdk-sys are rebuilt with the fuzzing flags in fuzz/target).
exec cargo fuzz run classify --sanitizer none -- -max_total_time="$seconds" corpus/classify
