#!/usr/bin/env bash
# The demo: the embedded default configuration (a TAP phy `ipvl0`, vhost-user slaves a and b),
# a tiny QEMU guest on each slave's socket, and the TAP's kernel side in a network namespace
# as "the LAN" (10.0.0.1, so the host's own routes are left alone). Guest a (10.0.0.11) pings
# the LAN; guest b (10.0.0.12) pings guest a, then the LAN; every frame goes through the
# switch. Both guests use the master's MAC, as ipvlan slaves do. Needs root; about a minute
# here (the guests boot under TCG). Exits 0 when both guests report success.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
GUEST=/var/tmp/ipvsw-guest
tests/guest/make-guest.sh $GUEST >/dev/null ||
  { apt-get update -q && tests/guest/make-guest.sh $GUEST >/dev/null; }
cargo build --release --quiet --bin ipvlan-switch
switch_bin=./target/release/ipvlan-switch

work=$(mktemp -d /tmp/ipvsw-demo.XXXXXX)
lan=ipvsw-demo-lan
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${switch:-}" ]; then kill -INT "$switch" 2>/dev/null && wait "$switch" || true; fi
  ip netns del $lan 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the switch (embedded default configuration)"
$switch_bin --log-level warn > "$work/switch.out" 2> "$work/switch.err" &
switch=$!
for _ in $(seq 300); do
  grep -q '^ipvlan-switch: forwarding' "$work/switch.out" && break
  kill -0 $switch 2>/dev/null || { cat "$work/switch.err"; exit 1; }
  sleep 0.1
done
cat "$work/switch.out"

echo "== the LAN: ipvl0's kernel side in namespace $lan, 10.0.0.1/24"
ip netns add $lan
ip link set ipvl0 netns $lan
ip -n $lan link set ipvl0 address 02:00:00:00:00:99
ip -n $lan addr add 10.0.0.1/24 dev ipvl0
ip -n $lan link set ipvl0 up
ip -n $lan link set lo up

boot() { # slave ip peer linger-seconds command
  # The QEMU options the switch printed for this slave; vectors=0 because QEMU 7.2 under TCG
  # crashes with vhost-user and MSI-X (on a KVM host leave it out).
  local options
  options=$(sed -n "s/^ipvlan-switch: slave $1: attach a guest with qemu-system-x86_64 \.\.\. //p" "$work/switch.out")
  local append="console=ttyS0 panic=-1 quiet ipv6.disable=1 guest_count=3 guest_timeout=100"
  append+=" guest_ip=$2 guest_peer=$3 guest_linger=$4 guest_cmd=$(printf %s "$5" | base64 -w0)"
  # shellcheck disable=SC2086 # the options are words
  qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
    -accel tcg -cpu max -smp 1 -m 1G -kernel $GUEST/vmlinuz -initrd $GUEST/initrd.img \
    -append "$append" -serial "file:$work/$1.console" $options,romfile=,vectors=0 \
    </dev/null >/dev/null 2>"$work/$1.qemu-err" &
  pids+=($!)
}

echo "== booting guest a (pings the LAN) and guest b (pings guest a, then the LAN)"
boot a 10.0.0.11/24 10.0.0.1 30 true
boot b 10.0.0.12/24 10.0.0.11 0 'ping -c 3 -w 10 10.0.0.1'

result() { grep -m1 -a 'GUEST-RESULT:' "$work/$1.console" 2>/dev/null || true; }
for _ in $(seq 120); do
  [ -n "$(result a)" ] && [ -n "$(result b)" ] && break
  sleep 1
done
status=0
for guest in a b; do
  line=$(result $guest)
  echo "guest $guest: ${line:-no result}"
  grep -a -E 'PING|packets transmitted|round-trip' "$work/$guest.console" | sed "s/^/  $guest| /" || true
  [[ "$line" == *"GUEST-RESULT: ok"* ]] || status=1
done

echo "== ipvlan-switch ctl show ports; ipvlan-switch ctl show stats"
$switch_bin ctl show ports
$switch_bin ctl show stats
[ $status -eq 0 ] && echo "== demo: both guests reached each other and the LAN through the switch"
exit $status
