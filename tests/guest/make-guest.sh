#!/bin/bash
# make-guest.sh OUTDIR: the test guests of ipvlan-switch (tests/qemu_guests.rs; scripts/test.sh
# runs it). Builds OUTDIR/vmlinuz + OUTDIR/initrd.img: a Debian cloud kernel and a tiny
# busybox initramfs whose /init configures eth0 (virtio-net), runs a test,
# prints "GUEST-RESULT: ok|fail ..." on ttyS0 and powers off.
# Only needs apt-get/dpkg-deb (packages are downloaded, not installed).
# Idempotent: does nothing if the outputs are up to date (same packages, same script).
set -euo pipefail

die() { echo "make-guest: ERROR: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUT=$1
KMETA=${KMETA:-linux-image-cloud-amd64}   # override e.g. KMETA=linux-image-amd64
MODS="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net"

for t in apt-get apt-cache dpkg-deb gzip sha256sum; do
  command -v $t >/dev/null || die "'$t' not found (Debian host expected)"
done
command -v qemu-system-x86_64 >/dev/null ||
  echo "make-guest: note: qemu-system-x86_64 missing; run-guest.sh needs it:" \
       "apt-get install -y --no-install-recommends qemu-system-x86" >&2

# Resolve the versioned kernel package behind the meta package.
KPKG=$(apt-cache depends "$KMETA" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}') || true
[ -n "$KPKG" ] || die "cannot resolve '$KMETA' to a kernel package (run 'apt-get update' first?)"
KVER=${KPKG#linux-image-}
KDEBVER=$(apt-cache policy "$KPKG" | awk '/Candidate:/{print $2}')
BBDEBVER=$(apt-cache policy busybox-static | awk '/Candidate:/{print $2}')
[ -n "$BBDEBVER" ] && [ "$BBDEBVER" != "(none)" ] || die "busybox-static not in apt lists (run 'apt-get update')"

STAMP="$KPKG=$KDEBVER busybox-static=$BBDEBVER script=$(sha256sum "$0" | cut -c1-16)"
if [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "make-guest: up to date in $OUT ($STAMP)"; exit 0
fi

mkdir -p "$OUT/cache"
OUT=$(cd "$OUT" && pwd)
fetch() {  # fetch PKG VERSION -> prints path of the .deb (cached in OUT/cache)
  local f="$OUT/cache/${1}_${2//:/%3a}_amd64.deb"
  if [ ! -f "$f" ]; then
    (cd "$OUT/cache" && apt-get -q -o APT::Sandbox::User=root download "$1=$2" >&2) ||
      die "apt-get download $1=$2 failed (no access to the Debian archive? stale lists -> apt-get update)"
    [ -f "$f" ] || die "apt-get download did not produce $f"
  fi
  echo "$f"
}
KDEB=$(fetch "$KPKG" "$KDEBVER"); BBDEB=$(fetch busybox-static "$BBDEBVER")

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$KDEB" "$WORK/k"; dpkg-deb -x "$BBDEB" "$WORK/bb"
R=$WORK/root; mkdir -p "$R"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$WORK/bb/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
for m in $MODS; do
  f=$(find "$WORK/k/lib/modules/$KVER" -name "$m.ko*" | head -n1)
  [ -n "$f" ] || die "module $m not found in $KPKG"
  case $f in *.xz) xz -dc "$f";; *.zst) zstd -dcq "$f";; *) cat "$f";; esac > "$R/lib/modules/$m.ko"
done
echo "$MODS" > "$R/lib/modules/order"

cat > "$R/init" <<'EOF'
#!/bin/sh
# Kernel cmdline: guest_ip=A.B.C.D/N guest_peer=IP guest_count=N guest_linger=S
#                 guest_timeout=S guest_cmd=<base64 of a shell command>
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
ip= peer= count=3 linger=0 tmo=50 cmd=
for kv in $(cat /proc/cmdline); do
  case $kv in
    guest_ip=*) ip=${kv#*=};;          guest_peer=*) peer=${kv#*=};;
    guest_count=*) count=${kv#*=};;    guest_linger=*) linger=${kv#*=};;
    guest_timeout=*) tmo=${kv#*=};;    guest_cmd=?*) cmd=$(echo "${kv#*=}" | base64 -d);;
  esac
done
up() { cut -d' ' -f1 /proc/uptime; }
result() { echo "GUEST-RESULT: $* uptime=$(up)"; sleep "$linger"; poweroff -f; }
( sleep "$tmo"; result "fail guest-timeout ${tmo}s" ) &
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || result "fail insmod $m"; done
i=0; while [ ! -e /sys/class/net/eth0 ]; do
  i=$((i+1)); [ $i -gt 100 ] && result "fail no-eth0"; sleep 0.1; done
ip link set lo up; ip link set eth0 up
[ -n "$ip" ] && { ip addr add "$ip" dev eth0 || result "fail bad-ip $ip"; }
i=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ]; do
  i=$((i+1)); [ $i -gt 100 ] && result "fail no-carrier"; sleep 0.1; done
echo "GUEST-INFO: eth0 mac=$(cat /sys/class/net/eth0/address) ip=$ip peer=$peer uptime=$(up)"
if [ -n "$peer" ]; then
  # the peer may still be booting: wait (up to ~20s) until it answers ARP
  i=0; until arping -q -f -c 1 -w 1 -I eth0 "$peer"; do
    i=$((i+1)); [ $i -ge 20 ] && result "fail no-arp-reply-from $peer"; done
  ping -c "$count" -i 0.2 -w 10 "$peer" || result "fail ping $peer rc=$?"
fi
if [ -n "$cmd" ]; then
  echo "GUEST-INFO: running: $cmd"
  sh -c "$cmd"; rc=$?; [ $rc = 0 ] || result "fail cmd rc=$rc"
fi
result "ok mac=$(cat /sys/class/net/eth0/address) ip=$ip peer=$peer"
EOF
chmod 755 "$R/init"

# busybox cpio (newc) so the host needs no cpio package
(cd "$R" && find . | sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/initrd.img.tmp"
cp "$WORK/k/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"; mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
echo "$STAMP" > "$OUT/stamp"
echo "make-guest: built $OUT/vmlinuz ($KVER) and $OUT/initrd.img ($(du -k "$OUT/initrd.img" | cut -f1) KiB)"
