#!/bin/sh
# /init of the lab initramfs (test/lab/initramfs.ts builds it). It stands in for the live image:
# as PID 1 it mounts the API filesystems and hands over to busybox init, whose inittab runs this
# script again as `/init peer`: load modules, start udev, bring up the boot NIC (BOOTIF) with DHCP,
# then do what the live image does for a peer: run packaging/recon-role.sh (copied into the
# initramfs), which fetches post.tgz from the master, unpacks it and runs ./post.sh. If that
# returns and the machine is still on, say so and power off with `poweroff -f` after a delay, so a
# broken run ends instead of hanging (the lab tells this fallback from an IPMI power-off).
#
# Every line meant for the lab starts with "recon-lab: " on the serial console; the lab reads them
# (test/lab/peer.ts). Kernel parameters read here:
#   BOOTIF=01-aa-bb-cc-dd-ee-ff   the NIC iPXE booted from (required)
#   pxeaddr=A.B.C.D               the master; post.tgz comes from http://A.B.C.D/post.tgz
#   recon.master=URL              overrides the base URL
#   recon.lab.fallback=SECONDS    delay before the fallback power-off (default 20)
#   recon.lab.shell=1             drop to a shell on the console instead of powering off

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "recon-lab: $*"; }

if [ "$$" = 1 ] && [ "$1" != peer ]; then
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null
  mkdir -p /dev/pts /dev/shm /run /tmp
  mount -t devpts devpts /dev/pts
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  mount -t tmpfs -o mode=755 tmpfs /run
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  [ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  hostname "$(cat /etc/hostname)"
  cat >/etc/inittab <<'EOF'
::once:/init peer
::shutdown:/bin/echo "recon-lab: os-shutdown (init asked to power off)"
EOF
  say "init $(cat /etc/recon-lab-build | tr '\n' ' ')"
  exec /usr/bin/busybox init
fi

# ---- the peer's boot, as `/init peer` under busybox init ----
exec </dev/console >/dev/console 2>&1
BOOTIF=""
PXEADDR=""
MASTER=""
FALLBACK=20
SHELL_ON_EXIT=""
for word in $(cat /proc/cmdline); do
  case "$word" in
  BOOTIF=*) BOOTIF="${word#BOOTIF=}" ;;
  pxeaddr=*) PXEADDR="${word#pxeaddr=}" ;;
  recon.master=*) MASTER="${word#recon.master=}" ;;
  recon.lab.fallback=*) FALLBACK="${word#recon.lab.fallback=}" ;;
  recon.lab.shell=1) SHELL_ON_EXIT=1 ;;
  esac
done

finish() {
  if [ -n "$SHELL_ON_EXIT" ]; then
    say "shell (recon.lab.shell=1)"
    exec /bin/sh
  fi
  say "fallback-poweroff in ${FALLBACK}s: $* (the machine is still on)"
  sleep "$FALLBACK"
  say "fallback-poweroff now"
  poweroff -f
}

say "modules"
while read -r mod; do
  [ -n "$mod" ] || continue
  out=$(modprobe "$mod" 2>&1) || say "modprobe $mod failed: $out"
done </etc/recon-lab-modules

if [ -x /usr/lib/systemd/systemd-udevd ]; then
  say "udev"
  /usr/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
  udevadm trigger --type=subsystems --action=add
  udevadm trigger --type=devices --action=add
  udevadm settle --timeout=60 || say "udevadm settle timed out"
fi

# The ACPI power button (pressed by a BMC's `chassis power soft`) powers the machine off, as
# systemd-logind would on the live image.
mkdir -p /etc/acpi/PWRF
cat >/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo "recon-lab: acpi-power-button (soft power-off request) -> poweroff" >/dev/console
exec poweroff
EOF
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /run/acpid.log

# The boot NIC: BOOTIF=01-52-54-00-12-34-56 -> 52:54:00:12:34:56
BOOTMAC=$(echo "${BOOTIF#01-}" | tr 'A-F-' 'a-f:')
IFACE=""
tries=0
while [ -z "$IFACE" ] && [ "$tries" -lt 30 ]; do
  for dev in /sys/class/net/*; do
    [ "$(cat "$dev/address" 2>/dev/null)" = "$BOOTMAC" ] && IFACE="${dev##*/}"
  done
  [ -n "$IFACE" ] || { tries=$((tries + 1)); sleep 1; }
done
[ -n "$IFACE" ] || finish "no NIC with the boot MAC '$BOOTMAC' (BOOTIF='$BOOTIF')"

ip link set lo up
for dev in /sys/class/net/*; do
  name="${dev##*/}"
  [ "$name" = lo ] || ip link set "$name" up
done

cat >/run/udhcpc.sh <<'EOF'
#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound | renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  [ -n "$router" ] && for r in $router; do ip route add default via "$r" dev "$interface"; break; done
  : >/etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  echo "recon-lab: dhcp $interface $ip/${mask:-24} server ${serverid:-?}"
  ;;
esac
exit 0
EOF
chmod +x /run/udhcpc.sh
say "net-up $IFACE $BOOTMAC"
udhcpc -i "$IFACE" -s /run/udhcpc.sh -n -q -t 30 -T 2 -x "hostname:recon-peer" || finish "no DHCP lease on $IFACE"

if [ -x /usr/share/recon/recon-role.sh ]; then
  # The live image's own role script (packaging/recon-role.sh): pxeaddr= makes this a peer, so it
  # fetches http://<pxeaddr>/post.tgz, unpacks it and runs ./post.sh (which runs the agent).
  say "post-start recon-role.sh"
  RECON_STATE=/run/recon RECON_FETCH_DELAY=3 /usr/share/recon/recon-role.sh
  rc=$?
  say "post-exit rc=$rc"
  finish "recon-role.sh exited with $rc"
fi

# Without packaging/recon-role.sh (older trees): the same steps by hand.
if [ -n "$MASTER" ]; then
  BASE="${MASTER%/}"
elif [ -n "$PXEADDR" ]; then
  BASE="http://$PXEADDR"
else
  finish "neither pxeaddr= nor recon.master= on the kernel command line"
fi

mkdir -p /run/recon && cd /run/recon || finish "no /run/recon"
say "fetch $BASE/post.tgz"
tries=0
until wget -q -O post.tgz "$BASE/post.tgz" 2>/run/wget.err; do
  tries=$((tries + 1))
  [ $((tries % 10)) = 1 ] && say "fetch failed (attempt $tries): $(cat /run/wget.err)"
  [ "$tries" -lt 60 ] || finish "could not fetch $BASE/post.tgz"
  sleep 2
done
say "fetched post.tgz $(wc -c <post.tgz) bytes"
mkdir -p post && cd post && tar xf ../post.tgz || finish "post.tgz did not unpack"
rm -f ../post.tgz
[ -f ./post.sh ] || finish "post.tgz has no post.sh"
say "post-start post.sh"
HOME=/root sh ./post.sh --cmdline /proc/cmdline
rc=$?
say "post-exit rc=$rc"
finish "post.sh exited with $rc"
