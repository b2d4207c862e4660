#!/bin/bash
# boot-iso.sh ISO LOG [TIMEOUT_S] [PATTERN]
#
# Boots the live ISO once under QEMU (TCG) as a CD, with no pxeaddr on the
# kernel command line (so it takes the master role), the serial console
# captured to LOG. Waits for PATTERN (default: the login prompt after
# recon.service ran) or TIMEOUT_S (default 600), then stops QEMU and prints
# the seconds it took. Exit 0 when PATTERN was seen.
#
#   RECON_BOOT_EFI=1   boot with OVMF (apt-get install ovmf) instead of BIOS
#   RECON_BOOT_SECURE=1  OVMF with Secure Boot enforced and Microsoft's keys enrolled:
#                      q35 with SMM, OVMF_CODE_4M.secboot.fd (secure pflash) and a copy of
#                      OVMF_VARS_4M.ms.fd next to LOG; the firmware starts the signed shim
#   RECON_BOOT_USB=1   attach the ISO as a USB disk instead of a CD
#   RECON_BOOT_SMP=N   virtual CPUs (1: one TCG thread, fewer soft lockups on a busy host)
#
# The single NIC sits on a QEMU hub with nothing else on it: no traffic
# leaves the QEMU process. Needs qemu-system-x86 (apt-get install qemu-system-x86).
set -euo pipefail

iso=${1:?usage: boot-iso.sh ISO LOG [TIMEOUT_S] [PATTERN]}
log=${2:?usage: boot-iso.sh ISO LOG [TIMEOUT_S] [PATTERN]}
timeout_s=${3:-600}
pattern=${4:-login:}

args=(-accel tcg -m 2048 -smp "${RECON_BOOT_SMP:-1}" -display none -monitor none -no-reboot
    -serial "file:$log"
    -netdev "hubport,id=n0,hubid=0" -device "virtio-net-pci,netdev=n0")
if [ "${RECON_BOOT_USB:-0}" = 1 ]; then
    args+=(-drive "if=none,id=stick,format=raw,readonly=on,file=$iso"
        -device qemu-xhci -device "usb-storage,drive=stick,bootindex=0")
else
    args+=(-cdrom "$iso" -boot d)
fi
if [ "${RECON_BOOT_SECURE:-0}" = 1 ]; then
    vars=$log.OVMF_VARS.fd
    cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$vars"
    args+=(-machine "q35,smm=on" -global "driver=cfi.pflash01,property=secure,value=on"
        -drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
        -drive "if=pflash,format=raw,unit=1,file=$vars")
elif [ "${RECON_BOOT_EFI:-0}" = 1 ]; then
    args+=(-bios /usr/share/ovmf/OVMF.fd)
fi

: >"$log"
start=$(date +%s)
qemu-system-x86_64 "${args[@]}" &
qemu=$!
trap 'kill "$qemu" 2>/dev/null || true' EXIT

seen=no
while kill -0 "$qemu" 2>/dev/null; do
    if grep -aqE "$pattern" "$log"; then
        seen=yes
        break
    fi
    if [ $(($(date +%s) - start)) -ge "$timeout_s" ]; then
        break
    fi
    sleep 2
done
end=$(date +%s)
sleep 3 # let the last lines reach the log
kill "$qemu" 2>/dev/null || true
wait "$qemu" 2>/dev/null || true
trap - EXIT

echo "boot-iso: pattern '$pattern' seen=$seen after $((end - start)) s; serial log: $log"
[ "$seen" = yes ]
