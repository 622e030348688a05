#!/usr/bin/env bash
# Instructions per packet of the forwarding lcore, counted under callgrind: deterministic where
# the benchmark's clock is not (on a shared VM the same build varies 2x in cycles per packet from
# one run to the next, while its instruction count repeats to the decimal). Counted: everything
# Worker::run executes, PMDs included, divided by the packets the phy received or sent; split by
# object, so the switch's own instructions show apart from the PMDs'. Cases as in bench.sh:
# ipv4, ipv6 (phy net_pcap -> 8 net_null slaves), l2-out, l3-out (one slave -> phy net_null).
# Not a rate: a cache miss costs one instruction here, and valgrind runs ~50x slower. Use it to
# compare builds (BASELINE=path/to/another/ipvlan-switch), then confirm with bench.sh.
# KEEP=dir keeps each run's callgrind output there (dir/CASE.BINARY.callgrind), for
# callgrind_annotate --auto=yes (the release build has line tables); VALGRIND_ARGS adds options
# (--dump-instr=yes: counts per instruction, for callgrind_annotate or objdump).
# usage: [CASES="ipv4 l3-out"] [BASELINE=bin] [KEEP=dir] scripts/instructions.sh [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-20}
command -v valgrind >/dev/null || { apt-get install -y -q valgrind || { apt-get update -q && apt-get install -y -q valgrind; }; } >/dev/null
cargo build --release --quiet --bin ipvlan-switch --example make_pcap
source scripts/bench-conf.sh
work=$(mktemp -d /tmp/ipvsw-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Valgrind cannot follow DPDK's hugepage mappings: ordinary memory instead.
memory='"--no-huge", "-m", "1024"'

count() { # case binary
  local c=$1 bin=$2 conf=$work/$1.toml
  case $c in
    ipv4) ./target/release/examples/make_pcap "$work/$c.pcap" v4 0 8 ;;
    ipv6) ./target/release/examples/make_pcap "$work/$c.pcap" v6 0 8 ;;
    l2-out | l3-out) ./target/release/examples/make_pcap "$work/$c.pcap" "$c" ;;
    *) echo "unknown case $c" >&2; return 1 ;;
  esac
  case $c in
    l?-out) out_conf "${c%-out}" "$work/$c.pcap" "instr-$$" "$memory" >"$conf" ;;
    *) switch_conf "$work/$c.pcap" 8 0 "instr-$$" "$memory" >"$conf" ;;
  esac
  # --fair-sched: the polling lcore would otherwise starve the thread that handles SIGINT.
  # shellcheck disable=SC2086 # VALGRIND_ARGS is a list of options
  timeout -s INT "$SECONDS_PER_RUN" valgrind --tool=callgrind --fair-sched=yes ${VALGRIND_ARGS:-} \
    --callgrind-out-file="$work/callgrind.out" --collect-atstart=no \
    '--toggle-collect=switch::datapath::Worker::run' \
    "$bin" --config "$conf" --stats-period 1000 --log-level warn >"$work/out" 2>"$work/err" || true
  # The final counters: the largest rx_packets or tx_packets of any port is the packets forwarded.
  local packets
  packets=$(awk '/^port /{on=1; next} on && NF > 5 {if ($2 + 0 > m) m = $2 + 0; if ($4 + 0 > m) m = $4 + 0} END {print m + 0}' "$work/out")
  [ "$packets" -gt 0 ] || { echo "$c: no packets counted" >&2; tail -5 "$work/err" >&2; return 1; }
  printf '%-8s %-12s %9d packets  %s\n' "$c" "$(basename "$bin")" "$packets" \
    "$(python3 scripts/callgrind_per_packet.py "$work/callgrind.out" "$packets")"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work/callgrind.out" "$KEEP/$c.$(basename "$bin").callgrind"; fi
}

for c in ${CASES:-ipv4 ipv6 l2-out l3-out}; do
  count "$c" ./target/release/ipvlan-switch
  if [ -n "${BASELINE:-}" ]; then count "$c" "$BASELINE"; fi
done
