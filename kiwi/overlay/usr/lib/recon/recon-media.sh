#!/bin/sh
# recon-media.sh [layout|iso]: lay out what the master serves from the live
# medium it booted from (dracut mounts it at /run/initramfs/live).
#   layout (recon-media.service, before recon.service): post*.tgz, kernel, initrd,
#          squashfs, the arm64 files
#   iso    (recon-media-iso.service, alongside recon.service): the ISO copy, only for an
#          image.env that names RECON_IMAGE_ISO and no RECON_IMAGE_SQUASHFS (images built
#          before the peers booted the squashfs); the peers' livenet retries the download
#          (100 x 5 s) until it is there
#
#   $RECON_SHARE/post-x86_64.tgz           <- /recon/post-x86_64.tgz on the medium (added by
#   $RECON_SHARE/post-aarch64.tgz          <- /recon/post-aarch64.tgz  kiwi/make-recipe-target,
#   $RECON_SHARE/post.tgz                  <- /recon/post.tgz, else     not in the squashfs)
#                                             /recon/post-x86_64.tgz (older peers fetch it)
#   $RECON_SHARE/install/<name>/linux      <- /boot/<arch>/loader/linux
#   $RECON_SHARE/install/<name>/initrd     <- /boot/<arch>/loader/initrd
#   $RECON_SHARE/$RECON_IMAGE_SQUASHFS     <- /LiveOS/squashfs.img (the peers' root:
#                                             root=live:http://<master>/install/<name>/squashfs.img)
#   $RECON_SHARE/install/<name>/aarch64/{linux,initrd,squashfs.img}
#                                          <- /recon/aarch64/ on the medium, when there
#   $RECON_SHARE/boot/grubaa64.efi         <- /recon/aarch64/grubaa64.efi (arm64 PXE loader)
#   $RECON_SHARE/install/<name>/<image>.iso <- the ISO9660 image of the medium itself
#                                             (iso mode only: copied into RAM, isosize bytes)
#
# $RECON_SHARE/image.env is written into the image at build time (name, version,
# file names). Files are bind-mounted (or copied), never symlinked: the master's
# HTTP server refuses links that leave its directory.
set -u
mode=${1:-layout}

: "${RECON_CMDLINE:=/proc/cmdline}"
: "${RECON_SHARE:=/usr/share/recon}"
: "${RECON_LIVE:=/run/initramfs/live}"
: "${RECON_LIVEDEV:=/run/initramfs/livedev}"
: "${RECON_MEDIA_RUN:=/run/recon-media}"
: "${RECON_MEDIA_MOUNT:=1}" # 0: copy instead of bind mounts, no tmpfs (tests)

log() {
    printf 'recon-media: %s\n' "$*" >&2
}

# place SRC DEST: DEST shows SRC's content (bind mount, else a copy).
place() {
    mkdir -p "$(dirname "$2")" || return 1
    [ -e "$2" ] || : >"$2" || return 1
    if [ "$RECON_MEDIA_MOUNT" = 1 ]; then
        mountpoint -q "$2" && umount "$2"
        mount --bind "$1" "$2" 2>/dev/null && return 0
    fi
    cp "$1" "$2"
}

if [ ! -d "$RECON_LIVE" ]; then
    log "no live medium at $RECON_LIVE: nothing to lay out"
    exit 0
fi

RECON_IMAGE_NAME=recon
RECON_IMAGE_ISO=
RECON_IMAGE_SQUASHFS=
RECON_IMAGE_KERNEL=linux
RECON_IMAGE_INITRD=initrd
if [ -r "$RECON_SHARE/image.env" ]; then
    # shellcheck disable=SC1091 # written by the image build
    . "$RECON_SHARE/image.env"
fi
install=$RECON_SHARE/install/$RECON_IMAGE_NAME

# A PXE-booted peer (pxeaddr=) serves nothing: its /run/initramfs/live is livenet's download.
is_peer() {
    case " $(cat "$RECON_CMDLINE") " in
    *" pxeaddr="*) return 0 ;;
    esac
    return 1
}

if [ "$mode" = layout ]; then
    for post in post-x86_64.tgz post-aarch64.tgz; do
        [ -f "$RECON_LIVE/recon/$post" ] || continue
        place "$RECON_LIVE/recon/$post" "$RECON_SHARE/$post" && log "$post from the medium"
    done
    if [ -f "$RECON_LIVE/recon/post.tgz" ]; then
        place "$RECON_LIVE/recon/post.tgz" "$RECON_SHARE/post.tgz" && log "post.tgz from the medium"
    elif [ -f "$RECON_LIVE/recon/post-x86_64.tgz" ]; then
        place "$RECON_LIVE/recon/post-x86_64.tgz" "$RECON_SHARE/post.tgz" &&
            log "post.tgz is post-x86_64.tgz (for peers that ask for post.tgz)"
    else
        log "the medium carries no recon/post*.tgz"
    fi
    if [ -n "$RECON_IMAGE_SQUASHFS" ] && ! is_peer; then
        if [ -f "$RECON_LIVE/LiveOS/squashfs.img" ]; then
            place "$RECON_LIVE/LiveOS/squashfs.img" "$RECON_SHARE/$RECON_IMAGE_SQUASHFS" &&
                log "serving LiveOS/squashfs.img as $RECON_IMAGE_SQUASHFS"
        else
            log "warning: the medium has no LiveOS/squashfs.img: peers have no root to boot"
        fi
    fi
    arm=$RECON_LIVE/recon/aarch64
    for f in linux initrd squashfs.img; do
        [ -f "$arm/$f" ] || continue
        place "$arm/$f" "$install/aarch64/$f" && log "arm64 $f from the medium"
    done
    if [ -f "$arm/grubaa64.efi" ]; then
        place "$arm/grubaa64.efi" "$RECON_SHARE/boot/grubaa64.efi" && log "arm64 grubaa64.efi from the medium"
    fi
fi

for loader in "$RECON_LIVE"/boot/*/loader; do
    [ "$mode" = layout ] || break
    [ -f "$loader/linux" ] || continue
    place "$loader/linux" "$install/$RECON_IMAGE_KERNEL" &&
        place "$loader/initrd" "$install/$RECON_IMAGE_INITRD" &&
        log "kernel and initrd from ${loader#"$RECON_LIVE"/}"
    break
done

[ "$mode" = iso ] || exit 0

# The ISO itself, for the peers' livenet: only the master (no pxeaddr=) serves it.
is_peer && exit 0
[ -n "$RECON_IMAGE_ISO" ] || exit 0
if [ -n "$RECON_IMAGE_SQUASHFS" ]; then
    log "peers boot $RECON_IMAGE_SQUASHFS: the ISO is not copied"
    exit 0
fi
dev=$(readlink -f "$RECON_LIVEDEV" 2>/dev/null || true)
if [ ! -b "$dev" ] && [ ! -f "$dev" ]; then
    log "live device $RECON_LIVEDEV is not a block device: no ISO to serve"
    exit 0
fi
# A USB stick is larger than the image: take the ISO9660 volume only.
bytes=$(isosize "$dev" 2>/dev/null || true)
case $bytes in
"" | *[!0-9]*)
    log "no ISO9660 volume on $dev: no ISO to serve"
    exit 0
    ;;
esac
mkdir -p "$RECON_MEDIA_RUN"
if [ "$RECON_MEDIA_MOUNT" = 1 ] && ! mountpoint -q "$RECON_MEDIA_RUN"; then
    mount -t tmpfs -o "mode=0755,size=$((bytes / 1048576 + 16))m" recon-media "$RECON_MEDIA_RUN" ||
        log "warning: no tmpfs for the ISO copy; using $RECON_MEDIA_RUN as it is"
fi
iso=$RECON_MEDIA_RUN/${RECON_IMAGE_ISO##*/}
log "copying the ISO9660 volume of $dev ($bytes bytes) for the peers"
if head -c "$bytes" "$dev" >"$iso.part" && mv "$iso.part" "$iso"; then
    place "$iso" "$RECON_SHARE/$RECON_IMAGE_ISO" && log "serving $RECON_IMAGE_ISO"
else
    rm -f "$iso.part"
    log "error: could not copy the ISO from $dev"
    exit 1
fi
