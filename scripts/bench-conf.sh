# The switch configurations of the benchmark cases, shared by bench.sh (timed runs) and
# instructions.sh (instructions counted under callgrind). Each prints a config on stdout; the
# last argument is the EAL's memory arguments as TOML strings ('"--in-memory"' for hugepages,
# '"--no-huge", "-m", "1024"' under valgrind). One forwarding lcore, always --no-pci.

# Slave k owns 10.0.k/200.11+k%200 and 2001:db8::11+k (hex), as make_pcap addresses them.
slave_conf() { # k backing
  printf '[[slave]]\nname = "s%d"\n%s\naddresses = ["10.0.%d.%d/16", "2001:db8::%x/64"]\n' \
    "$1" "$2" $(($1 / 200)) $((11 + $1 % 200)) $((0x11 + $1))
  # The mDNS group the "+10%mdns" case sends to: two members.
  if [ "$1" -lt 2 ]; then echo 'multicast = ["01:00:5e:00:00:fb"]'; fi
}

eal_conf() { # file-prefix memory-args
  echo '[eal]'; echo "args = [\"-l\", \"0,1\", \"--no-pci\", $2, \"--file-prefix\", \"$1\"]"
}

# Mode l2: the phy (net_pcap replaying pcap) to busy net_null slaves and idle ring slaves.
switch_conf() { # pcap busy-slaves idle-slaves file-prefix memory-args
  local i
  echo 'mode = "l2"'; echo 'lcores = [1]'
  eal_conf "$4" "$5"
  echo '[phy]'; echo "device = \"net_pcap0,rx_pcap=$1,infinite_rx=1\""; echo 'mac = "02:00:00:00:00:01"'
  for i in $(seq 0 $(($2 - 1))); do slave_conf "$i" "device = \"net_null$i,no-rx=1\""; done
  for i in $(seq "$2" $(($2 + $3 - 1))); do slave_conf "$i" "ring = \"r$i\""; done
}

# One slave (net_pcap replaying pcap) to the outside through the phy (net_null), mode l2 or
# l3 (1,000 /24 routes through a static neighbour).
out_conf() { # l2|l3 pcap file-prefix memory-args
  local i
  echo "mode = \"$1\""; echo 'lcores = [1]'
  eal_conf "$3" "$4"
  echo '[phy]'; echo 'device = "net_null0,no-rx=1"'; echo 'mac = "02:00:00:00:00:01"'
  if [ "$1" = l3 ]; then
    echo 'addresses = ["10.0.0.1/24"]'
    for i in $(seq 0 999); do printf '[[route]]\nto = "20.%d.%d.0/24"\nvia = "10.0.0.254"\n' $((i / 250)) $((i % 250)); done
    printf '[[neighbour]]\nip = "10.0.0.254"\nmac = "02:00:00:00:00:fe"\n'
  fi
  printf '[[slave]]\nname = "s"\ndevice = "net_pcap1,rx_pcap=%s,infinite_rx=1"\naddresses = ["10.0.0.11/24"]\n' "$2"
}
