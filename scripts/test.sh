#!/usr/bin/env bash
# Installs what is missing, then runs every check: format, lints, the whole test suite (one
# process per test: DPDK's EAL initialises once per process), after a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The QEMU guests' kernel and initramfs (downloaded Debian packages, cached; needs apt lists).
tests/guest/make-guest.sh /var/tmp/ipvsw-guest ||
  { apt-get update -q && tests/guest/make-guest.sh /var/tmp/ipvsw-guest; }
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
./scripts/fuzz.sh 30
cargo nextest run --workspace --no-fail-fast
