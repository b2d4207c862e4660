#!/bin/sh
# recon-data.sh [start|stop]: where the master keeps the inventories. The live root file system
# lives in RAM, so without this they would be lost when the operator powers the master down.
# recon-data.service runs it on the master only (no pxeaddr=), before recon.service:
#
#   1. a file system labelled RECON-DATA exists (any disk): checked (fsck -p) and mounted at
#      $RECON_DATA (/var/lib/recon, where `recon-agent serve --root` stores the inventories);
#   2. none exists, and the master booted from a USB disk (not a CD) that has at least
#      RECON_DATA_MIN_MIB unpartitioned after the image (the ISO was written to a stick larger
#      than itself): a partition is appended there, formatted ext4 with label RECON-DATA and
#      mounted. The image's own partitions are left as they are; the stick still boots;
#   3. otherwise (a CD, a stick with no room): a warning on the console; inventories stay in RAM.
#
# Kernel command line: recon.data=auto (default: 1, then 2, then 3) | keep (1 or 3: never
# partition a disk) | ram (3: never touch a disk).
# `stop` unmounts it (recon.service, which writes there, is stopped first).
# Environment (tests): RECON_CMDLINE [/proc/cmdline], RECON_DATA [/var/lib/recon],
#   RECON_LIVEDEV [/run/initramfs/livedev], RECON_DATA_LABEL [RECON-DATA],
#   RECON_DATA_MIN_MIB [64], RECON_DATA_DISK_TYPES [disk] (tests add "loop").
set -u
set -f
mode=${1:-start}

: "${RECON_CMDLINE:=/proc/cmdline}"
: "${RECON_DATA:=/var/lib/recon}"
: "${RECON_LIVEDEV:=/run/initramfs/livedev}"
: "${RECON_DATA_LABEL:=RECON-DATA}"
: "${RECON_DATA_MIN_MIB:=64}"
: "${RECON_DATA_DISK_TYPES:=disk}" # lsblk TYPEs that may get the partition

log() {
    printf 'recon-data: %s\n' "$*" >&2
}

in_ram() {
    log "WARNING: $* - the inventories are kept in RAM only: copy $RECON_DATA off the master" \
        "before powering it down (or give it a file system labelled $RECON_DATA_LABEL)"
    exit 0
}

if [ "$mode" = stop ]; then
    if mountpoint -q "$RECON_DATA"; then
        sync
        umount "$RECON_DATA" && log "unmounted $RECON_DATA"
    fi
    exit 0
fi

policy=auto
# shellcheck disable=SC2013 # words, not lines, are wanted
for word in $(cat "$RECON_CMDLINE"); do
    case $word in
    recon.data=*) policy=${word#recon.data=} ;;
    esac
done
case $policy in
auto | keep | ram) ;;
*)
    log "recon.data=$policy is not auto, keep or ram: using auto"
    policy=auto
    ;;
esac
[ "$policy" = ram ] && in_ram "recon.data=ram"

mount_data() {
    mkdir -p "$RECON_DATA" || return 1
    # -p: repair what is safe to repair without asking (a power cut mid-write, say)
    fsck -p "$1" >&2
    rc=$?
    if [ "$rc" -ge 4 ]; then
        log "fsck of $1 failed (exit $rc): not mounting it"
        return 1
    fi
    mount -o noatime "$1" "$RECON_DATA" || return 1
    log "inventories go to $1 ($RECON_DATA_LABEL), mounted at $RECON_DATA"
}

# Devices appear in their own time (a second USB stick, say).
udevadm settle --timeout=30 2>/dev/null || true
dev=$(blkid -c /dev/null -t "LABEL=$RECON_DATA_LABEL" -o device 2>/dev/null | head -n 1)
if [ -n "$dev" ]; then
    mount_data "$dev" || in_ram "cannot mount $dev"
    exit 0
fi
[ "$policy" = keep ] && in_ram "no file system labelled $RECON_DATA_LABEL (recon.data=keep)"

# --- no RECON-DATA: make one on the boot stick, after the image --------------------------------
live=$(readlink -f "$RECON_LIVEDEV" 2>/dev/null || true)
[ -b "$live" ] || in_ram "no file system labelled $RECON_DATA_LABEL and no live boot device"
parent=$(lsblk -ndo PKNAME "$live" 2>/dev/null)
disk=${parent:+/dev/$parent}
disk=${disk:-$live}
# Only a whole disk: a CD is "rom"; a "loop" is an ISO file booted from elsewhere (iso-scan).
case " $RECON_DATA_DISK_TYPES " in
*" $(lsblk -ndo TYPE "$disk" 2>/dev/null) "*) ;;
*) in_ram "no file system labelled $RECON_DATA_LABEL; the boot medium $disk is not a disk" ;;
esac
[ "$(lsblk -ndo RO "$disk" 2>/dev/null | tr -d ' ')" = 0 ] ||
    in_ram "no file system labelled $RECON_DATA_LABEL; the boot medium $disk is read-only"
label=$(sfdisk -q --dump "$disk" 2>/dev/null | sed -n 's/^label: //p')
[ "$label" = dos ] || in_ram "boot medium $disk has a '$label' partition table, not the image's"
sectors=$(blockdev --getsz "$disk") || in_ram "cannot read the size of $disk"
# The end of the last partition, in 512-byte sectors (the image's ISO and EFI partitions).
end=$(sfdisk -q --dump "$disk" | awk -F'[=,]' '
    /start=/ {
        start = 0; size = 0
        for (i = 1; i < NF; i++) {
            key = $i; gsub(/[ \t]/, "", key)
            if (key == "start") start = $(i + 1) + 0
            if (key == "size") size = $(i + 1) + 0
        }
        if (start + size > max) max = start + size
    }
    END { print max + 0 }')
count=$(sfdisk -q --dump "$disk" | grep -c 'start=')
free_mib=$(((sectors - end) / 2048))
if [ "$free_mib" -lt "$((RECON_DATA_MIN_MIB + 1))" ]; then
    in_ram "no file system labelled $RECON_DATA_LABEL; only ${free_mib} MiB free on $disk after the image"
fi
[ "$count" -lt 4 ] || in_ram "no file system labelled $RECON_DATA_LABEL; $disk has no free MBR slot"

log "no file system labelled $RECON_DATA_LABEL: adding a partition to $disk in the ${free_mib} MiB after the image"
# The kernel is told about the new partition alone (partx): the image's partitions are in use.
printf 'type=83\n' | sfdisk -q --append --no-reread --no-tell-kernel "$disk" >&2 ||
    in_ram "sfdisk could not add a partition to $disk"
nr=$((count + 1))
partx --add --nr "$nr" "$disk" >&2 || in_ram "the kernel did not take partition $nr of $disk"
udevadm settle --timeout=30 2>/dev/null || true
part=$(lsblk -lnpo NAME,TYPE "$disk" | awk '$2 == "part" { p = $1 } END { print p }')
[ -b "$part" ] || in_ram "partition $nr of $disk did not appear"
mkfs.ext4 -q -F -L "$RECON_DATA_LABEL" "$part" >&2 || in_ram "mkfs.ext4 $part failed"
mount_data "$part" || in_ram "cannot mount $part"
