#!/usr/bin/env bash
# Installs what ipvlan-switch needs on Debian 12 and reserves hugepages. Idempotent; run as root.
set -euo pipefail

HUGE_MB=${HUGE_MB:-1024}   # free 2 MB hugepage memory to make sure of
APT_PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev iproute2 iputils-ping)

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

# Hugepages: a hugetlbfs mount and free 2 MB pages.
free_pages() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
total_pages() { awk '/^HugePages_Total:/ {print $2}' /proc/meminfo; }
mounted() { awk '$3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; }
want=$((HUGE_MB / 2))
if ! mounted || [ "$(free_pages)" -lt "$want" ]; then
  # Never shrink a reservation others may use: keep the pages in use, add what is missing.
  pages=$(( $(total_pages) - $(free_pages) + want ))
  [ "$pages" -ge "$(total_pages)" ] || pages=$(total_pages)
  echo "setup: reserving $((pages * 2)) MB of 2 MB hugepages on /dev/hugepages"
  mkdir -p /dev/hugepages
  dpdk-hugepages.py -p 2M --setup "$((pages * 2))M" ||
    die "could not reserve hugepages (is /proc/sys/vm writable here?); DPDK can still run with --no-huge in its EAL args"
fi
mounted || die "hugetlbfs is not mounted: mount -t hugetlbfs nodev /dev/hugepages"
[ "$(free_pages)" -gt 0 ] || die "no free hugepages: echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
echo "setup: ok ($(free_pages) free 2 MB hugepages, DPDK $(pkg-config --modversion libdpdk))"
