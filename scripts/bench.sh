#!/usr/bin/env bash
# Benchmark: ipvlan-switch (and the bare dpdk-wrap forwarder) against dpdk-testpmd io forwarding on the same kind of vdevs, in the
# same run, rounds interleaved. Phy = net_pcap replaying 64-byte frames (infinite_rx), slaves =
# net_null (no-rx), one forwarding lcore. Cases: IPv4 to 8 slave addresses, the same with 10%
# broadcast ARP, IPv6; plus "null-fwd": the dpdk-wrap io forwarder example (examples/fwd.rs)
# against testpmd io between two net_null ports (both directions summed), which measures
# the Rust wrappers alone. Prints Mpps (median of the per-second rates) and the ratio.
# usage: [CASES="ipv4 ipv6"] scripts/bench.sh [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-8}
ROUNDS=${2:-3}
./scripts/setup.sh >/dev/null
cargo build --release --quiet --bin ipvlan-switch --example make_pcap
cargo build --release --quiet -p dpdk-wrap --example fwd
work=$(mktemp -d /tmp/ipvsw-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)]}'; }

# Median of the rates after a 2 s warm-up, in Mpps.
run_switch() { # pcap
  local conf=$work/switch.toml
  {
    echo 'mode = "l2"'; echo 'lcores = [1]'
    echo '[eal]'; echo "args = [\"-l\", \"0,1\", \"--no-pci\", \"--in-memory\", \"--file-prefix\", \"bench-sw-$$\"]"
    echo '[phy]'; echo "device = \"net_pcap0,rx_pcap=$1,infinite_rx=1\""; echo 'mac = "02:00:00:00:00:01"'
    for i in 0 1 2 3 4 5 6 7; do
      echo '[[slave]]'; echo "name = \"s$i\""; echo "device = \"net_null$i,no-rx=1\""
      echo "addresses = [\"10.0.0.$((11 + i))/24\", \"2001:db8::$((11 + i))/64\"]"
    done
  } > "$conf"
  timeout -s INT "$((SECONDS_PER_RUN + 2))" ./target/release/ipvlan-switch --config "$conf" --stats-period 1 \
    --log-level warn 2>"$work/switch.err" >"$work/switch.out" || true
  { grep '^rates:' "$work/switch.out" || true; } | tail -n +3 | sed -E 's/.*phy rx ([0-9.]+) Mpps.*/\1/' | median
  grep -q '^rates:' "$work/switch.out" || { echo "ipvlan-switch produced no rates:" >&2; cat "$work/switch.err" >&2; }
}

run_testpmd() { # pcap (or "null-fwd")
  local vdevs=(--vdev "net_pcap0,rx_pcap=$1,infinite_rx=1" --vdev net_null0,no-rx=1) ports=0
  [ "$1" = null-fwd ] && vdevs=(--vdev net_null0 --vdev net_null1) ports="0|1"
  timeout -s INT "$((SECONDS_PER_RUN + 2))" dpdk-testpmd -l 0,1 -n 1 --no-pci --in-memory --file-prefix "bench-tp-$$" \
    "${vdevs[@]}" -- --forward-mode=io --nb-cores=1 --total-num-mbufs=32768 --stats-period 1 \
    </dev/null >"$work/testpmd.out" 2>&1 || true
  # Per stats period: the Rx-pps of the measured ports, summed.
  awk -v ports="^($ports)\$" '/NIC statistics for port/ {port = $(NF-1); if (port == 0 && n++) {print sum / 1e6; sum = 0}}
       /Rx-pps:/ && port ~ ports {sum += $2}' "$work/testpmd.out" | tail -n +3 | median
}

run_fwd() {
  ./target/release/examples/fwd "$SECONDS_PER_RUN" net_null0 net_null1 2>/dev/null >"$work/fwd.out" || true
  { grep '^rate:' "$work/fwd.out" || true; } | tail -n +3 | awk '{print $2}' | median
  grep '^inline:' "$work/fwd.out" >&2 || echo "fwd produced no output" >&2
}

declare -A make_args=([ipv4]="v4 0" [ipv4+10%bcast]="v4 10" [ipv6]="v6 0")
read -r -a cases <<<"${CASES:-null-fwd ipv4 ipv4+10%bcast ipv6}"
for c in "${!make_args[@]}"; do
  ./target/release/examples/make_pcap "$work/$c.pcap" ${make_args[$c]}
done
declare -A tp sw
for r in $(seq "$ROUNDS"); do
  for c in "${cases[@]}"; do
    if [ "$c" = null-fwd ]; then
      tp[$c]+="$(run_testpmd null-fwd) "
      sw[$c]+="$(run_fwd) "
    else
      tp[$c]+="$(run_testpmd "$work/$c.pcap") "
      sw[$c]+="$(run_switch "$work/$c.pcap") "
    fi
    echo "round $r $c: testpmd $(echo ${tp[$c]} | awk '{print $NF}') switch $(echo ${sw[$c]} | awk '{print $NF}')" >&2
  done
done
printf '%-16s %-28s %-28s %s\n' case "testpmd io Mpps (rounds)" "ours Mpps (rounds)" "ratio of medians"
for c in "${cases[@]}"; do
  t=$(echo "${tp[$c]}" | tr ' ' '\n' | grep . | median)
  s=$(echo "${sw[$c]}" | tr ' ' '\n' | grep . | median)
  printf '%-16s %-28s %-28s %.2f\n' "$c" "${tp[$c]}" "${sw[$c]}" "$(awk -v s="$s" -v t="$t" 'BEGIN {print s / t}')"
done
