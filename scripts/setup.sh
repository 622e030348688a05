#!/usr/bin/env bash
# Installs what ipvlan-switch needs on Debian 12 and reserves hugepages. Idempotent; run as root.
set -euo pipefail

HUGE_MB=${HUGE_MB:-1024}   # free 2 MB hugepage memory to make sure of
APT_PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev iproute2 iputils-ping qemu-system-x86 tcpdump)

die() { echo "setup: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): DPDK needs hugepages, and tests create network namespaces"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
pkg-config --atleast-version=22.11 libdpdk || die "DPDK >= 22.11 not found by pkg-config after install"

command -v cargo >/dev/null || die "no Rust toolchain: install it with https://rustup.rs (curl ... | sh), then rerun"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Hugepages: free 2 MB pages and a hugetlbfs mount. Only ever adds pages: other processes'
# reservations (and pages of other sizes) are left alone.
pages_dir=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -d "$pages_dir" ] || die "this kernel has no 2 MB hugepages ($pages_dir); DPDK can still run with --no-huge in its EAL args"
want=$((HUGE_MB / 2))
free=$(cat "$pages_dir/free_hugepages")
if [ "$free" -lt "$want" ]; then
  total=$(( $(cat "$pages_dir/nr_hugepages") + want - free ))
  echo "setup: reserving $((want - free)) more 2 MB hugepages ($total in all)"
  echo "$total" > "$pages_dir/nr_hugepages" 2>/dev/null ||
    die "cannot write $pages_dir/nr_hugepages (is /sys writable here?); DPDK can still run with --no-huge in its EAL args"
  free=$(cat "$pages_dir/free_hugepages")
  [ "$free" -ge "$want" ] || die "only $free of $want 2 MB hugepages could be reserved (memory too fragmented or too small): free memory, or set HUGE_MB lower"
fi
if ! awk '$3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
  echo "setup: mounting hugetlbfs on /dev/hugepages"
  mkdir -p /dev/hugepages
  mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages || die "cannot mount hugetlbfs on /dev/hugepages"
fi
echo "setup: ok ($free free 2 MB hugepages, DPDK $(pkg-config --modversion libdpdk))"
