#!/usr/bin/env bash
# Benchmark: ipvlan-switch (and the bare dpdk-wrap forwarder) against dpdk-testpmd io forwarding on the same kind of vdevs, in the
# same run, rounds interleaved. Phy = net_pcap replaying 64-byte frames (infinite_rx), slaves =
# net_null (no-rx), one forwarding lcore. Cases: IPv4 to 8 slave addresses, the same with 10%
# broadcast ARP, IPv6; plus "null-fwd": the dpdk-wrap io forwarder example (examples/fwd.rs)
# against testpmd io between two net_null ports (both directions summed), which measures
# the Rust wrappers alone. Prints Mpps (median of the per-second rates) and the ratio.
# Scale cases (switch only; the ratio is to the ipv4 case, 8 busy slaves): "30-busy" spreads the
# IPv4 traffic over 30 net_null slaves; "8-busy+1016-idle" adds 1,016 idle ring slaves to the 8;
# "8-busy+1016-idle+10%mdns" sends 10 % of the frames to an mDNS group two of the 1,024 joined.
# Outbound cases: one slave (net_pcap replaying its frames to 1,000 outside networks) -> phy
# net_null: "l2-out" in mode l2 (against testpmd io), "l3-out" in mode l3 routing them by a
# table of 1,000 /24 routes through a static neighbour (switch only; the ratio is to l2-out).
# "ovs": Open vSwitch 3.1 with DPDK (Debian's openvswitch-switch-dpdk, installed if missing; a
# private ovsdb-server and ovs-vswitchd, their own run directory, PMD thread on CPU 1) doing the
# ipv4 case's dispatch: the same net_pcap phy and 8 net_null ports on a netdev bridge, 16
# OpenFlow rules (each slave's IPv4 and IPv6 address to its port, the rest dropped); measured
# as the packets its PMD received; the ratio is ours (the ipv4 case, run right after OVS) to OVS.
# BASELINE=path/to/an/older/ipvlan-switch runs that binary too, in the same rounds, for the cases
# it can run, to compare before and after (or two builds of one change).
# usage: [CASES="ipv4 ipv6"] [BASELINE=bin] scripts/bench.sh [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-8}
ROUNDS=${2:-3}
./scripts/setup.sh >/dev/null
cargo build --release --quiet --bin ipvlan-switch --example make_pcap
cargo build --release --quiet -p dpdk-wrap --example fwd
source scripts/bench-conf.sh
work=$(mktemp -d /tmp/ipvsw-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)]}'; }

# Median of the rates after a 2 s warm-up, in Mpps.
run_switch() { # pcap busy-slaves idle-slaves [binary]
  local conf=$work/switch.toml bin=${4:-./target/release/ipvlan-switch}
  switch_conf "$1" "$2" "$3" "bench-sw-$$" '"--in-memory"' >"$conf"
  timeout -s INT "$((SECONDS_PER_RUN + 2))" "$bin" --config "$conf" --stats-period 1 \
    --log-level warn 2>"$work/switch.err" >"$work/switch.out" || true
  { grep '^rates:' "$work/switch.out" || true; } | tail -n +3 | sed -E 's/.*phy rx ([0-9.]+) Mpps.*/\1/' | median
  grep -q '^rates:' "$work/switch.out" || { echo "ipvlan-switch produced no rates:" >&2; cat "$work/switch.err" >&2; }
}

# Mpps the phy sent, one slave's pcap replayed to the outside (mode l2 or l3).
run_out() { # l2|l3 pcap [binary]
  local conf=$work/out.toml bin=${3:-./target/release/ipvlan-switch}
  out_conf "$1" "$2" "bench-sw-$$" '"--in-memory"' >"$conf"
  timeout -s INT "$((SECONDS_PER_RUN + 2))" "$bin" --config "$conf" --stats-period 1 \
    --log-level warn 2>"$work/switch.err" >"$work/switch.out" || true
  { grep '^rates:' "$work/switch.out" || true; } | tail -n +3 | sed -E 's/.*phy rx [0-9.]+ Mpps tx ([0-9.]+) Mpps.*/\1/' | median
  grep -q '^rates:' "$work/switch.out" || { echo "ipvlan-switch produced no rates:" >&2; cat "$work/switch.err" >&2; }
}

run_testpmd() { # pcap (or "null-fwd")
  local vdevs=(--vdev "net_pcap0,rx_pcap=$1,infinite_rx=1" --vdev net_null0,no-rx=1) ports=0
  [ "$1" = null-fwd ] && vdevs=(--vdev net_null0 --vdev net_null1) ports="0|1"
  timeout -s INT "$((SECONDS_PER_RUN + 2))" dpdk-testpmd -l 0,1 -n 1 --no-pci --in-memory --file-prefix "bench-tp-$$" \
    "${vdevs[@]}" -- --forward-mode=io --nb-cores=1 --total-num-mbufs=32768 --stats-period 1 \
    </dev/null >"$work/testpmd.out" 2>&1 || true
  testpmd_mpps "$work/testpmd.out" Rx-pps "$ports"
}

# Mpps OVS-DPDK took from the phy over SECONDS_PER_RUN after a 2 s warm-up (the "ovs" case).
run_ovs() { # pcap
  local d=$work/ovs k
  rm -rf "$d"; mkdir -p "$d"
  (
    export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d
    vsctl() { ovs-vsctl --timeout=30 --db="unix:$d/db.sock" "$@"; }
    ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server --remote="punix:$d/db.sock" --pidfile --detach --log-file "$d/conf.db"
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true other_config:dpdk-socket-mem=512 \
      "other_config:dpdk-extra=--no-pci --in-memory --file-prefix bench-ovs-$$" \
      other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2
    /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk "unix:$d/db.sock" --pidfile --detach --log-file
    vsctl add-br br0 -- set bridge br0 datapath_type=netdev
    vsctl add-port br0 phy -- set Interface phy type=dpdk ofport_request=100 \
      "options:dpdk-devargs=net_pcap0,rx_pcap=$1,infinite_rx=1"
    for k in $(seq 0 7); do
      vsctl add-port br0 "s$k" -- set Interface "s$k" type=dpdk ofport_request=$((k + 1)) \
        "options:dpdk-devargs=net_null$k,no-rx=1"
    done
    ovs-ofctl del-flows br0
    for k in $(seq 0 7); do # slave k's addresses, as slave_conf and make_pcap give them
      ovs-ofctl add-flow br0 "priority=10,ip,nw_dst=10.0.0.$((11 + k)),actions=output:$((k + 1))"
      ovs-ofctl add-flow br0 "priority=10,ipv6,ipv6_dst=2001:db8::$(printf %x $((0x11 + k))),actions=output:$((k + 1))"
    done
    ovs-ofctl add-flow br0 "priority=0,actions=drop"
    sleep 2
    # The PMD's own live counter: the Interface table's statistics are refreshed only every 5 s
    # (stats-update-interval), which quantised the old window's figure to 0, 1 or 2 refreshes.
    pmd_received() {
      ovs-appctl -t "$(echo "$d"/ovs-vswitchd*.ctl)" dpif-netdev/pmd-stats-show |
        awk '/^pmd thread/ {pmd = 1} pmd && /packets received/ {print $3; exit}'
    }
    local before after t0 t1
    before=$(pmd_received) t0=$(date +%s.%N)
    sleep "$SECONDS_PER_RUN"
    after=$(pmd_received) t1=$(date +%s.%N)
    awk -v a="$before" -v b="$after" -v t0="$t0" -v t1="$t1" 'BEGIN {print (b - a) / (t1 - t0) / 1e6}'
  ) 2>"$work/ovs.err" || { echo "ovs failed:" >&2; tail -5 "$work/ovs.err" "$d/ovs-vswitchd.log" >&2; echo nan; }
  # Both daemons stopped and gone (a PMD thread left spinning would halve the next case).
  local pid
  for k in "$d"/*.pid; do # ovs-vswitchd-dpdk.pid, ovsdb-server.pid
    pid=$(cat "$k" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# Median over the stats periods after a 2 s warm-up of FIELD (Rx-pps or Tx-pps) summed over the
# ports matching PORTS, in Mpps, from a testpmd output file.
testpmd_mpps() { # file field ports
  testpmd_periods "$@" | tail -n +3 | median
}

# Per stats period, FIELD summed over the ports matching PORTS, in Mpps.
testpmd_periods() { # file field ports
  awk -v field="$2:" -v ports="^($3)\$" '/NIC statistics for port/ {port = $(NF-1); if (port == 0 && n++) {print sum / 1e6; sum = 0}}
       $1 == field && port ~ ports {sum += $2}' "$1"
}

# vhost cases: the backend (ipvlan-switch with a vhost slave, or testpmd with net_vhost and io
# forwarding) forwards on lcore 1 (CPU 1); the guest is testpmd with net_virtio_user on CPU 0.
# vhost-rx: phy net_pcap -> backend -> guest in rxonly, measured as what the guest's virtqueue
# took (the backend's tx on the vhost port); vhost-tx: guest in txonly -> backend -> phy
# net_null, measured at the phy's tx. Both ends are measured in the backend. The guest uses the
# master's MAC (as an ipvlan slave does): nothing is rewritten.
guest() { # socket forward-mode
  local i
  for i in $(seq 200); do [ -S "$1" ] && break; sleep 0.05; done
  timeout -s INT "$((SECONDS_PER_RUN + 1))" dpdk-testpmd --lcores 0@0,1@0 --no-pci --in-memory --single-file-segments \
    --file-prefix "bench-guest-$$" --vdev "net_virtio_user0,path=$1,queues=1,mac=02:00:00:00:00:01" -- --forward-mode="$2" --nb-cores=1 \
    --total-num-mbufs=8192 --stats-period 1 </dev/null >"$work/guest.out" 2>&1 || true
}

run_vhost() { # switch|testpmd rx|tx [switch binary]
  local sock=$work/vhost.sock phy mode=rxonly binary=${3:-./target/release/ipvlan-switch}
  phy="net_pcap0,rx_pcap=$work/vhost.pcap,infinite_rx=1"
  [ "$2" = tx ] && phy="net_null0,no-rx=1" mode=txonly
  rm -f "$sock"
  if [ "$1" = switch ]; then
    printf 'lcores = [1]\n[eal]\nargs = ["-l", "0,1", "--no-pci", "--in-memory", "--file-prefix", "bench-sw-%s"]\n' $$ >"$work/vhost.toml"
    printf '[phy]\ndevice = "%s"\nmac = "02:00:00:00:00:01"\n[[slave]]\nname = "g"\n' "$phy" >>"$work/vhost.toml"
    printf 'vhost = { socket = "%s" }\naddresses = ["10.0.0.11/24"]\n' "$sock" >>"$work/vhost.toml"
    "$binary" --config "$work/vhost.toml" \
      --stats-period 1 --log-level warn >"$work/switch.out" 2>"$work/switch.err" &
  else
    dpdk-testpmd -l 0,1 -n 1 --no-pci --in-memory --file-prefix "bench-tp-$$" \
      --vdev "net_vhost0,iface=$sock,queues=1" --vdev "$phy" -- --forward-mode=io --nb-cores=1 \
      --total-num-mbufs=32768 --stats-period 1 </dev/null >"$work/testpmd.out" 2>&1 &
  fi
  local backend=$!
  guest "$sock" "$mode"
  # The backend runs as long as the guest does, then stops.
  kill -INT "$backend" 2>/dev/null || true
  wait "$backend" || true
  # The port measured: the vhost slave (testpmd's port 0) or the phy (port 1). The backend
  # runs before and after the guest: only the periods with traffic count, the first and last
  # of them (partial) dropped.
  local port=g testpmd_port=0
  [ "$2" = tx ] && port=phy testpmd_port=1
  case "$1" in
    switch) { grep '^rates:' "$work/switch.out" || true; } |
      sed -E "s/.*$port rx [0-9.]+ Mpps tx ([0-9.]+) Mpps.*/\1/" ;;
    testpmd) testpmd_periods "$work/testpmd.out" Tx-pps "$testpmd_port" ;;
  esac | awk '$1 > 0' | sed '1d;$d' | median
}

run_fwd() {
  ./target/release/examples/fwd "$SECONDS_PER_RUN" net_null0 net_null1 2>/dev/null >"$work/fwd.out" || true
  { grep '^rate:' "$work/fwd.out" || true; } | tail -n +3 | awk '{print $2}' | median
  grep '^inline:' "$work/fwd.out" >&2 || echo "fwd produced no output" >&2
}

# case -> make_pcap arguments, and busy/idle slaves.
declare -A make_args=([ipv4]="v4 0 8" [ipv4-512B]="v4 0 8 512" [ipv4+10%bcast]="v4 10 8" [ipv6]="v6 0 8" [30-busy]="v4 0 30" [8-busy+1016-idle]="v4 0 8" [8-busy+1016-idle+10%mdns]="v4-mdns 10 8" [l2-out]="l2-out" [l3-out]="l3-out")
declare -A slaves=([ipv4]="8 0" [ipv4-512B]="8 0" [ipv4+10%bcast]="8 0" [ipv6]="8 0" [30-busy]="30 0" [8-busy+1016-idle]="8 1016" [8-busy+1016-idle+10%mdns]="8 1016")
read -r -a cases <<<"${CASES:-null-fwd ipv4 ipv4-512B ipv4+10%bcast ipv6 ovs 30-busy 8-busy+1016-idle vhost-rx vhost-tx}"
if [[ " ${cases[*]} " == *" ovs "* ]] && ! [ -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ]; then
  { apt-get install -y -q openvswitch-switch-dpdk || { apt-get update -q && apt-get install -y -q openvswitch-switch-dpdk; }; } >/dev/null
fi
for c in "${!make_args[@]}"; do
  ./target/release/examples/make_pcap "$work/$c.pcap" ${make_args[$c]}
done
./target/release/examples/make_pcap "$work/vhost.pcap" v4 0 1
is_scale() { [[ "$1" == *busy* || "$1" == l3-out ]]; }
# What a switch-only case is compared with.
reference_of() { [ "$1" = l3-out ] && echo l2-out || echo ipv4; }
median_of() { echo "$1" | tr ' ' '\n' | grep . | median; }
declare -A tp sw base
# Ours and the baseline's runs of case $1 in round $2, the baseline first in even rounds: the VM
# drifts over a pair of runs, and it would otherwise always drift for the same one of the two.
ours_and_baseline() { # case round command [args] (the binary to run is the command's last argument)
  local c=$1 r=$2
  shift 2
  if [ -n "${BASELINE:-}" ] && ((r % 2 == 0)); then
    base[$c]+="$("$@" "$BASELINE") "
    sw[$c]+="$("$@") "
  else
    sw[$c]+="$("$@") "
    if [ -n "${BASELINE:-}" ]; then base[$c]+="$("$@" "$BASELINE") "; fi
  fi
}
for r in $(seq "$ROUNDS"); do
  for c in "${cases[@]}"; do
    if [ "$c" = null-fwd ]; then
      tp[$c]+="$(run_testpmd null-fwd) "
      sw[$c]+="$(run_fwd) "
    elif [[ "$c" == l?-out ]]; then
      [ "$c" = l2-out ] && tp[$c]+="$(run_testpmd "$work/$c.pcap") "
      ours_and_baseline "$c" "$r" run_out "${c%-out}" "$work/$c.pcap"
    elif [ "$c" = ovs ]; then
      tp[$c]+="$(run_ovs "$work/ipv4.pcap") "
      sw[$c]+="$(run_switch "$work/ipv4.pcap" ${slaves[ipv4]}) "
    elif [[ "$c" == vhost-* ]]; then
      tp[$c]+="$(run_vhost testpmd "${c#vhost-}") "
      ours_and_baseline "$c" "$r" run_vhost switch "${c#vhost-}"
    else
      is_scale "$c" || tp[$c]+="$(run_testpmd "$work/$c.pcap") "
      # (A baseline that made every slave an ethdev cannot start 1,024 slaves: it shows nan.)
      ours_and_baseline "$c" "$r" run_switch "$work/$c.pcap" ${slaves[$c]}
    fi
    echo "round $r $c: testpmd $(echo ${tp[$c]:-} | awk '{print $NF}') switch $(echo ${sw[$c]} | awk '{print $NF}') baseline $(echo ${base[$c]:-} | awk '{print $NF}')" >&2
  done
done
# The median of the per-round ratios too: rounds run their cases back to back, so a ratio within
# a round sees the same machine (this VM's speed drifts by up to 2x over minutes).
round_ratios() { # ours-list reference-list
  paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) |
    awk '$2 > 0 {print $1 / $2}' | median
}
printf '%-18s %-26s %-26s %-26s %s\n' case "testpmd io Mpps (rounds)" "ours Mpps (rounds)" "baseline Mpps (rounds)" "ratio of medians; median of round ratios"
for c in "${cases[@]}"; do
  s=$(median_of "${sw[$c]}")
  if is_scale "$c"; then
    r=$(reference_of "$c")
    t=$(median_of "${sw[$r]:-}") ratio_to="x ours $r"
  else
    t=$(median_of "${tp[$c]}") ratio_to="x testpmd"
    [ "$c" = ovs ] && ratio_to="x OVS-DPDK (its Mpps in the testpmd column)"
  fi
  reference=${tp[$c]:-}
  is_scale "$c" && reference=${sw[$(reference_of "$c")]:-}
  printf '%-18s %-26s %-26s %-26s %.2f; %.2f %s' "$c" "${tp[$c]:--}" "${sw[$c]}" "${base[$c]:--}" \
    "$(awk -v s="$s" -v t="$t" 'BEGIN {print (t > 0 ? s / t : 0)}')" "$(round_ratios "${sw[$c]}" "$reference")" "$ratio_to"
  [ -n "${base[$c]:-}" ] && printf '; baseline %.2f' "$(round_ratios "${base[$c]}" "$reference")"
  echo
done
