#!/usr/bin/env bash
# Installs what is missing, builds, and runs the switch. With no arguments it runs the embedded
# default configuration (a TAP phy and two ring slaves); any arguments go to ipvlan-switch.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --bin ipvlan-switch
exec ./target/release/ipvlan-switch "$@"
